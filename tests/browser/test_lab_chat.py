"""Two users chat in a ``.chat`` file of jupyterlab-chat in the stock JupyterLab UI (headless Chromium).

jupyterlab-chat's ``chat`` document type is registered with jupyter_ydoc; our server holds it in a
room like a notebook: both users see each other's messages as they are sent, and the file on disk
holds them, with each user's name.

Backend: the Jupyter server of ``$RTC_BROWSER_PYTHON`` (default: this interpreter's environment, which
needs jupyterlab-chat installed: the ``test`` extra brings it).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from .lab import JupyterLabServer, LabError, LabPage, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SCENARIO_DEADLINE = 95  # seconds; below pytest-timeout so that teardown (screenshots, server stop) runs

_INPUT = ".jp-chat-widget .jp-chat-input-container textarea:not([aria-hidden='true'])"

_JS_MESSAGES = r"""
() => {
  const widget = document.querySelector('.lm-DockPanel .jp-chat-widget');
  if (!widget) return null;
  return Array.from(widget.querySelectorAll('.jp-chat-messages-container .jp-chat-rendered-message'))
    .map(m => m.textContent.trim());
}
"""


class ChatUser:
    """One user's JupyterLab page with a chat open in the main area; every wait has a deadline."""

    def __init__(self, lab: LabPage, timeout: float = 20.0) -> None:
        self.lab = lab
        self.timeout = timeout

    async def open(self, path: str) -> None:
        """Open ``path`` by its URL (``/lab/tree/PATH``) and wait until its chat input is shown."""
        page = self.lab.page
        await page.goto(
            self.lab.server.lab_url(path, workspace=self.lab.workspace),
            wait_until="domcontentloaded",
            timeout=self.timeout * 1000,
        )
        await self._until(
            lambda: page.locator(_INPUT).first.is_visible(), f"the chat input of {path} in {self.lab.name}'s page"
        )

    async def messages(self) -> list[str]:
        """The texts of the messages the chat shows, in order."""
        return await self.lab.page.evaluate(_JS_MESSAGES) or []

    async def send(self, text: str) -> None:
        """Type ``text`` into the chat input and press Enter."""
        page = self.lab.page
        await self.lab.handle_dialogs()
        field = page.locator(_INPUT).first
        await field.click()
        await page.keyboard.type(text)
        await page.keyboard.press("Enter")
        await self._until(lambda: field.input_value(), "the input to be emptied by the send", negate=True)

    async def wait_for_messages(self, expected: list[str]) -> None:
        async def shown() -> bool:
            return await self.messages() == expected

        await self._until(shown, f"{self.lab.name}'s chat to show {expected}")

    async def _until(self, check: Any, what: str, negate: bool = False) -> Any:
        async def probe() -> Any:
            await self.lab.handle_dialogs()  # any dialog but JupyterLab's own prompts fails the wait at once
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            return (not result) if negate else result

        try:
            return await wait_until(probe, self.timeout, what)
        except LabError as exc:
            shot = await self.lab.screenshot(f"failed-{self.lab.name}")
            raise LabError(f"{exc}; screenshot: {shot}; console: {self.lab.console[-5:]}") from exc


async def _at_least(count: Any, minimum: int) -> bool:
    return await count >= minimum


def chat_on_disk(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # being written
        return None


async def test_two_users_exchange_messages_in_a_chat_file(lab_server: JupyterLabServer, new_user) -> None:
    chat_path = lab_server.root / "team.chat"
    chat_path.write_text("")  # as jupyterlab-chat's "New chat" creates it
    await asyncio.wait_for(scenario(lab_server, new_user, chat_path), SCENARIO_DEADLINE)


async def scenario(server: JupyterLabServer, new_user, chat_path: Path) -> None:
    started = time.monotonic()
    alice_page, bob_page = await new_user("alice"), await new_user("bob")
    alice, bob = ChatUser(alice_page), ChatUser(bob_page)
    await alice.open(chat_path.name)
    await bob.open(chat_path.name)
    me_a, me_b = await alice_page.identity(), await bob_page.identity()
    assert me_a["username"] != me_b["username"], "each browser context should be its own (anonymous) user"
    # both are in the chat's collaboration room (not in jupyterlab-chat's own websocket, its fallback)
    status, ids = await server.request(
        "PUT", f"/api/collaboration/session/{chat_path.name}", {"format": "text", "type": "chat"}
    )
    assert status in (200, 201), (status, ids)
    room = f"text:chat:{ids['fileId']}"

    async def in_room() -> int:
        _, listing = await server.request("GET", "/api/rtc/rooms")
        return next((r["clients"] for r in listing["rooms"] if r["name"] == room), 0)

    await wait_until(lambda: _at_least(in_room(), 2), 10, f"both users in room {room}")

    await alice.send("hello from alice")
    await bob.wait_for_messages(["hello from alice"])
    await bob.send("hi alice, bob here")
    await alice.wait_for_messages(["hello from alice", "hi alice, bob here"])
    await bob.wait_for_messages(["hello from alice", "hi alice, bob here"])

    # the file on disk holds both messages, each with its sender, and both users
    def saved() -> dict | None:
        chat = chat_on_disk(chat_path)
        if not chat or [m.get("body") for m in chat.get("messages", [])] != ["hello from alice", "hi alice, bob here"]:
            return None
        return chat

    try:
        chat = await wait_until(saved, 15, f"{chat_path.name} on disk to hold both messages")
    except LabError as exc:
        raise LabError(f"{exc}; on disk: {chat_path.read_text()!r}") from exc
    assert [m["sender"] for m in chat["messages"]] == [me_a["username"], me_b["username"]]
    assert {u["display_name"] for u in chat["users"].values()} == {me_a["display_name"], me_b["display_name"]}

    # a user who comes back later reads the conversation from the server
    await alice_page.close()
    await bob_page.page.reload(wait_until="domcontentloaded")
    await bob._until(lambda: bob_page.page.locator(_INPUT).first.is_visible(), "bob's chat input after a reload")
    await bob.wait_for_messages(["hello from alice", "hi alice, bob here"])
    print(f"scenario took {time.monotonic() - started:.1f}s")
