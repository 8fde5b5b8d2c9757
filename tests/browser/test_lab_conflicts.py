"""Conflicts in the stock JupyterLab UI (headless Chromium): the Edit Conflict dialog and its choices.

A stale tab: Alice's notebook loses its connection (Playwright routes the room websocket and cuts it),
she types offline, the room is freed and the file changed on disk; when she is back, the server keeps
what she typed beside the file and JupyterLab shows its Edit Conflict dialog, whose Save As, Show Diff
and Revert are each checked. And a cell another program changes on disk while she typed in it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from .lab import JupyterLabServer, LabPage, wait_until
from .test_lab_collaboration import write_notebook

# Rooms freed 3 s after their last client left (short, yet longer than a page takes between its session
# request and its websocket), and saves held back for 30 s (so text typed in the browser is still unsaved
# when another program writes the file).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(180),
    pytest.mark.server_args(
        "--RelayExtension.cleanup_delay=3",
        "--SupernodeExtension.save_delay=30",
        "--SupernodeExtension.save_max_wait=60",
        "--SupernodeExtension.file_poll_interval=0.5",
    ),
]

ROOM_SOCKET = re.compile(r".*/api/collaboration/room/json:notebook:.*")
OFFLINE_TEXT = "  # typed offline"


class Network:
    """Alice's room websockets through Playwright: proxied to the server while online; while offline,
    open towards the page and connected to nothing (what she sends goes nowhere, she receives nothing)."""

    def __init__(self) -> None:
        self.online = True
        self.routes: list[tuple[Any, Any]] = []  # (page side, server side or None)

    async def install(self, page: Any) -> None:
        await page.route_web_socket(ROOM_SOCKET, self._route)

    def _route(self, ws: Any) -> None:
        self.routes.append((ws, ws.connect_to_server() if self.online else None))

    async def _cut(self) -> None:
        routes, self.routes = self.routes, []
        for page_side, server_side in routes:
            if server_side is not None:
                await server_side.close()
            await page_side.close(code=4408, reason="offline")  # the frontend just reconnects

    async def go_offline(self) -> None:
        self.online = False
        await self._cut()

    async def go_online(self) -> None:
        self.online = True
        await self._cut()


async def rooms(server: JupyterLabServer) -> list[dict]:
    status, body = await server.request("GET", "/api/rtc/rooms")
    assert status == 200, (status, body)
    return body["rooms"]


async def dialog(alice: LabPage, title: str, timeout: float = 30) -> dict:
    """Wait for the dialog titled ``title``; return it (title, body, buttons)."""

    async def shown() -> dict | None:
        return next((d for d in await alice._open_dialogs() if d["title"] == title), None)

    return await wait_until(shown, timeout, f"the {title!r} dialog")


async def click(alice: LabPage, title: str, button: str) -> None:
    box = alice.page.locator(".jp-Dialog", has_text=title)
    await box.locator(".jp-Dialog-button", has_text=button).first.click(timeout=10_000)
    await box.wait_for(state="detached", timeout=10_000)


async def edit_conflict(lab_server: JupyterLabServer, new_user) -> tuple[LabPage, dict]:
    """Alice's stale tab, back online, showing the Edit Conflict dialog; the dialog is returned."""
    write_notebook(lab_server.root / "stale.ipynb")
    alice = await new_user("alice")
    network = Network()
    await network.install(alice.page)
    await alice.open_notebook("stale.ipynb", min_cells=3)
    await network.go_offline()
    await alice.type_in_cell(0, OFFLINE_TEXT)

    async def freed() -> bool:
        return not [r for r in await rooms(lab_server) if r["name"].startswith("json:notebook:")]

    await wait_until(freed, 30, "the room to be freed")
    nb = json.loads((lab_server.root / "stale.ipynb").read_text())
    nb["cells"][1]["source"] = "# changed on disk while alice was away"
    (lab_server.root / "stale.ipynb").write_text(json.dumps(nb))
    await network.go_online()
    shown = await dialog(alice, "Edit Conflict")
    await alice.screenshot("edit-conflict")
    return alice, shown


def conflict_copies(root: Path, stem: str) -> list[Path]:
    return sorted(root.glob(f"{stem}.conflict-*.ipynb"))


def sources(path: Path) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells]


async def test_a_stale_tab_gets_the_edit_conflict_dialog_and_save_as_keeps_its_version(
    lab_server: JupyterLabServer, new_user
) -> None:
    alice, shown = await edit_conflict(lab_server, new_user)
    assert shown["buttons"] == ["Dismiss", "Revert", "Show Diff", "Save As"], shown
    assert "Your edits were not saved to the shared document" in shown["body"], shown
    # The server kept her version beside the file before telling her.
    (copy,) = conflict_copies(lab_server.root, "stale")
    assert sources(copy)[0] == "# A writes here" + OFFLINE_TEXT
    await click(alice, "Edit Conflict", "Save As")
    await dialog(alice, "Save File As…")
    name_input = alice.page.locator(".jp-Dialog input").first
    await name_input.fill("mine.ipynb")
    await click(alice, "Save File As…", "Save")
    mine = lab_server.root / "mine.ipynb"
    await wait_until(lambda: mine.exists() and sources(mine), 20, "mine.ipynb to be written")
    assert sources(mine)[0] == "# A writes here" + OFFLINE_TEXT
    assert sources(mine)[1] == "# B writes here"  # her version, not the disk's
    # JupyterLab closes the stale tab (it asks first: her version is in mine.ipynb now) and opens the new
    # file, a fresh, live document.
    await dialog(alice, "Save your work")
    await click(alice, "Save your work", "Discard")
    alice.path = "mine.ipynb"
    await alice.wait_notebook_ready(min_cells=3, kernel=False)
    assert "changed on disk" not in (lab_server.root / "mine.ipynb").read_text()
    assert "changed on disk" in (lab_server.root / "stale.ipynb").read_text()


async def test_show_diff_shows_the_stale_tabs_version_against_the_file(lab_server: JupyterLabServer, new_user) -> None:
    alice, _ = await edit_conflict(lab_server, new_user)
    await click(alice, "Edit Conflict", "Show Diff")
    tab = alice.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Conflict diff: stale.ipynb")
    await tab.first.wait_for(timeout=20_000)
    header = alice.page.locator(".jp-conflict-diff-header")
    await header.first.wait_for(timeout=20_000)
    assert "Local version" in await header.first.inner_text()
    diff = alice.page.locator(".jp-MainAreaWidget", has=header.first)

    async def both_versions() -> bool:
        text = await diff.first.inner_text()
        return "typed offline" in text and "changed on disk while alice was away" in text

    await wait_until(both_versions, 20, "the diff to show her text and the disk's")
    await alice.screenshot("conflict-diff")


async def test_revert_brings_the_reload_dialog_and_the_shared_version(lab_server: JupyterLabServer, new_user) -> None:
    alice, _ = await edit_conflict(lab_server, new_user)
    await click(alice, "Edit Conflict", "Revert")
    # Revert reloads the file ("Reload Notebook from Disk" asks first when the tab was dirty): the server
    # sees her page read the file, closes her fenced tab, and the frontend's reload dialog appears.
    deadline = time.monotonic() + 20
    while True:
        titles = [d["title"] for d in await alice._open_dialogs()]
        if any(t.startswith("Session expired") for t in titles):
            break
        confirm = next((t for t in titles if t.startswith("Reload ")), None)
        if confirm:
            await click(alice, confirm, "Reload")
        assert time.monotonic() < deadline, f"no reload dialog after Revert (dialogs: {titles})"
        await asyncio.sleep(0.2)
    reload_dialog = await dialog(alice, "Session expired")
    assert reload_dialog["buttons"] == ["Continue", "Reload"], reload_dialog
    await alice.page.locator(".jp-Dialog .jp-Dialog-button", has_text="Reload").first.click()
    # The page reloads: the shared version, live.
    await alice.wait_notebook_ready(min_cells=3, timeout=60)
    await alice.wait_for_cell_source(1, equals="# changed on disk while alice was away")
    assert OFFLINE_TEXT not in await alice.cell_source(0)
    await alice.type_in_cell(2, "live_again = True")
    await alice.save()

    def saved() -> bool:
        return sources(lab_server.root / "stale.ipynb")[2] == "live_again = True"

    await wait_until(saved, 20, "her new edit on disk")
    kept = conflict_copies(lab_server.root, "stale")  # her offline text is still kept, once
    assert len(kept) == 1 and OFFLINE_TEXT in sources(kept[0])[0], kept


async def test_text_typed_in_a_cell_another_program_changes_is_kept_and_she_is_told(
    lab_server: JupyterLabServer, new_user
) -> None:
    write_notebook(lab_server.root / "busy.ipynb")
    alice = await new_user("alice")
    await alice.open_notebook("busy.ipynb", min_cells=3)
    await alice.type_in_cell(0, "\nprint('typed in the browser')")
    await alice.type_in_cell(2, "kept = 1")
    nb = json.loads((lab_server.root / "busy.ipynb").read_text())
    nb["cells"][0]["source"] = "# rewritten by another program"
    (lab_server.root / "busy.ipynb").write_text(json.dumps(nb))
    shown = await dialog(alice, "Edit Conflict")
    await alice.screenshot("disk-conflict")
    assert "Dismiss" in shown["buttons"]
    await click(alice, "Edit Conflict", "Dismiss")
    await alice.wait_for_cell_source(0, equals="# rewritten by another program")
    await alice.wait_for_cell_source(2, equals="kept = 1")  # her edit elsewhere merges as before
    (copy,) = conflict_copies(lab_server.root, "busy")
    assert sources(copy)[0] == "# A writes here\nprint('typed in the browser')"
    log = lab_server.log_path.read_text()
    assert log.count("changed on disk and in the room") == 1, log[-3000:]
