"""Under a real JupyterHub: names and colours from the hub, sharing with write access, read-only shares.

One hub for the module (``hub_helpers.running_hub``): alice owns a server with our extensions; bob
is given access with write (JupyterHub's sharing, ``custom:jupyter_rtc:write``), carol access only,
dave nothing. Everything goes through the proxy, as a browser's requests do: REST with each user's
own hub token, and the room websockets of ``rtc_client``.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest
from jupyter_ydoc import YNotebook
from rtc_client import JupyterClient
from rtc_client.errors import Forbidden

from browser.lab import rest_call, wait_until
from hub_helpers import running_hub
from jupyter_helpers import disk_sources, write_notebook
from supernode.hub_identity import PALETTE, color_for, presence_identity

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """alice's server, shared with bob (may write) and carol (read-only); dave has no access."""
    with running_hub(tmp_path_factory.mktemp("hub"), "alice", {"bob": True, "carol": False}) as (server, users):
        loop = asyncio.new_event_loop()
        try:
            users["dave"] = loop.run_until_complete(server.login("dave"))
        finally:
            loop.close()
        yield server, users


@pytest.fixture
def people(hub):
    return hub[1]


def _notebook(hub, name: str, sources: list[str]) -> str:
    server, _ = hub
    return write_notebook(server.base_dir / "users" / "alice", name, sources)


async def _open_as(hub, people, who: str, path: str):
    """``who`` opens alice's notebook ``path`` through the hub and shows their identity in its presence."""
    server, _ = hub
    client = JupyterClient(server.server_url("alice"), token=people[who].token)
    await client.__aenter__()
    try:
        me = await client.identity()
        nb = await client.open_notebook(path)
    except BaseException:
        await client.__aexit__(None, None, None)
        raise
    nb.presence.set({"user": me})  # what JupyterLab publishes
    return client, nb, me


def _names_seen(nb) -> set[str]:
    return {state.get("user", {}).get("name") for state in nb.presence.others.values()}


async def test_identity_comes_from_the_hub(hub, people):
    server, _ = hub
    for name in ("alice", "bob", "carol"):
        status, me = await rest_call(server.server_url("alice") + "api/me", people[name].token)
        assert status == 200, me
        identity = me["identity"]
        assert identity["username"] == name and identity["name"] == name and identity["display_name"] == name
        assert identity["color"] == color_for(name)  # presence_identity at login, kept by the hub
    status, _ = await rest_call(server.server_url("alice") + "api/me", people["dave"].token)
    assert status == 403  # not shared with dave

    asked = urllib.parse.quote(json.dumps({"contents": ["read", "write"], "kernels": ["execute"]}))
    for name, allowed in (("alice", ["read", "write"]), ("bob", ["read", "write"]), ("carol", ["read"])):
        status, me = await rest_call(server.server_url("alice") + f"api/me?permissions={asked}", people[name].token)
        assert status == 200 and me["permissions"]["contents"] == allowed, (name, me)
        assert me["permissions"]["kernels"] == (["execute"] if "write" in allowed else []), (name, me)


async def test_a_shared_user_collaborates_under_their_own_name(hub, people):
    path = _notebook(hub, "shared.ipynb", ["a = 1"])
    alice_client, alice_nb, alice_me = await _open_as(hub, people, "alice", path)
    bob_client, bob_nb, bob_me = await _open_as(hub, people, "bob", path)
    try:
        await alice_nb.room.wait_for(lambda: "bob" in _names_seen(alice_nb))
        await bob_nb.room.wait_for(lambda: "alice" in _names_seen(bob_nb))
        bob_state = next(s for s in alice_nb.presence.others.values() if s.get("user", {}).get("name") == "bob")
        assert bob_state["user"]["color"] == color_for("bob") and not bob_state["user"]["name"].startswith("Anonymous")
        assert bob_nb.room.access == "write"

        cell = bob_nb.append_cell("b = 2")
        await alice_nb.wait_for(lambda: cell.id in alice_nb.cell_ids)
        alice_nb.cells[0].set_source("a = 10")
        await bob_nb.wait_for(lambda: bob_nb.cells[0].source == "a = 10")

        status, rooms = await rest_call(hub[0].server_url("alice") + "api/rtc/rooms", people["bob"].token)
        assert status == 200
        room = next(r for r in rooms["rooms"] if r["name"] == alice_nb.room.url.split("/room/")[1].split("?")[0])
        assert room["clients"] >= 2
    finally:
        for nb, client in ((bob_nb, bob_client), (alice_nb, alice_client)):
            await nb.close()
            await client.__aexit__(None, None, None)


async def test_a_read_only_share_sees_and_shows_but_cannot_change(hub, people):
    server, _ = hub
    path = _notebook(hub, "readonly.ipynb", ["x = 1"])
    alice_client, alice_nb, _ = await _open_as(hub, people, "alice", path)
    carol_client, carol_nb, _ = await _open_as(hub, people, "carol", path)
    try:
        await carol_nb.room.wait_for(lambda: carol_nb.room.access == "read")
        assert [c.source for c in carol_nb.cells] == ["x = 1"]
        await alice_nb.room.wait_for(lambda: "carol" in _names_seen(alice_nb))  # her presence still shows

        source = YNotebook(carol_nb.room.doc).ycells[0]["source"]
        source += " + 1"  # past the client's own check: the relay drops it
        carol_nb.room.save(7)
        await carol_nb.room.wait_for(lambda: any(n.get("responseTo") == 7 for n in carol_nb.room.notices))
        assert {"type": "save", "responseTo": 7, "status": "skipped"} in carol_nb.room.notices
        # the relay answered the save after her update: whoever joins now sees the room without it
        late_client, late_nb, _ = await _open_as(hub, people, "bob", path)
        try:
            assert [c.source for c in late_nb.cells] == ["x = 1"]
        finally:
            await late_nb.close()
            await late_client.__aexit__(None, None, None)
        await alice_nb.flush()
        assert alice_nb.cells[0].source == "x = 1"

        base = server.server_url("alice")
        body = {"type": "file", "format": "text", "content": "mine"}
        status, _ = await rest_call(base + "api/contents/carol.txt", people["carol"].token, "PUT", body)
        assert status == 403
        status, _ = await rest_call(base + "api/contents/bob.txt", people["bob"].token, "PUT", body)
        assert status in (200, 201)
        with pytest.raises(Forbidden):
            await carol_client.execute(path, [carol_nb.cell_ids[0]])
        for action in ("api/kernels", "api/terminals"):
            status, _ = await rest_call(base + action, people["carol"].token, "POST", {})
            assert status == 403, action
    finally:
        for nb, client in ((carol_nb, carol_client), (alice_nb, alice_client)):
            await nb.close()
            await client.__aexit__(None, None, None)


async def test_a_share_grants_writing_to_a_token_with_access_only(hub, people):
    """A browser's OAuth token for alice's server carries the access scope, not the share's write scope:
    the server reads its shares from the hub. bob's write share counts, carol's read-only one does not."""
    server, _ = hub
    base = server.server_url("alice")
    access_only = ["access:servers!server=alice/", "read:users:name!user", "read:users:groups!user"]
    body = {"type": "file", "format": "text", "content": "by share"}
    for name, allowed in (("bob", True), ("carol", False)):
        token = await asyncio.to_thread(people[name].new_token, access_only)
        status, me = await rest_call(base + "api/me", token)
        assert status == 200 and me["identity"]["username"] == name
        status, answer = await rest_call(base + f"api/contents/{name}-by-share.txt", token, "PUT", body)
        assert status in ((200, 201) if allowed else (403,)), (name, status, answer)


def test_presence_identity_fills_in_only_what_the_authenticator_left_out():
    given = presence_identity(None, None, {"name": "erin", "user_info": {"color": "#123456"}})
    assert given["user_info"] == {"color": "#123456", "display_name": "erin"}
    filled = presence_identity(None, None, {"name": "frank", "user_info": None})
    assert filled["user_info"] == {"display_name": "frank", "color": color_for("frank")}
    assert color_for("frank") in PALETTE and color_for("frank") == color_for("frank")
    assert len({color_for(f"user{i}") for i in range(50)}) == len(PALETTE)  # spread over the palette


async def test_the_hub_stopping_a_server_saves_its_last_edit(hub, people):
    """JupyterHub stops a user's server with SIGINT: the server stops cleanly (as on SIGTERM), so an edit
    still inside the save debounce reaches the file."""
    server, _ = hub
    bob = people["bob"]
    url = await bob.start_server()
    home = server.base_dir / "users" / "bob"
    path = write_notebook(home, "last.ipynb", ["x = 1"])
    async with JupyterClient(url, token=bob.token) as client:
        nb = await client.open_notebook(path)
        try:
            nb.cells[0].set_source("x = 'typed just before the stop'")
            await nb.flush()
            status, _ = await bob.api("DELETE", "users/bob/server")
            assert status in (202, 204)

            async def stopped() -> bool:
                _, model = await bob.api("GET", "users/bob")
                return not model["servers"]

            await wait_until(stopped, 30, "bob's server to stop")
        finally:
            await nb.close()
    assert disk_sources(home, path) == ["x = 'typed just before the stop'"]
