"""Document rooms and their direct connection in a real jupyter_server: when a room may be freed."""

from __future__ import annotations

import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Map

from helpers import eventually
from jupyter_helpers import disk_sources, server_config, write_notebook


@pytest.fixture
def jp_server_config():
    return server_config(save_delay=30.0, save_max_wait=60.0)  # no autosave within the test: only freeing saves


async def test_an_idle_room_is_freed_only_once_its_file_holds_every_edit(collab, jp_root_dir, jp_serverapp):
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    path = write_notebook(jp_root_dir, "kept.ipynb", ["a = 1"])
    alice, session = await collab.open(path)
    saves: list[bool] = []  # for each save: was the room still in memory?
    jp_serverapp.contents_manager.register_post_save_hook(
        lambda model, os_path, contents_manager, **kw: saves.append(session.room in relay.rooms.rooms)
    )
    source = YNotebook(alice.doc).ycells[0]["source"]
    source += "  # typed, then the tab closed"
    await alice.flush()
    await alice.wait_for(lambda: alice.doc.get("state", type=Map)["dirty"] is True)
    await alice.close()

    await eventually(lambda: session.room not in relay.rooms.rooms, timeout=10, what="the room freed")
    assert disk_sources(jp_root_dir, path) == ["a = 1  # typed, then the tab closed"]
    assert saves == [True]  # saved while the room was kept, not after it was gone

    again, reopened = await collab.open(path)  # a new load, at once: nothing of the old one to wait for
    assert reopened.session_id != session.session_id
    assert [c["source"] for c in YNotebook(again.doc).get()["cells"]] == ["a = 1  # typed, then the tab closed"]


async def test_an_execution_holds_the_room_through_its_direct_connection(collab, jp_root_dir, jp_serverapp):
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    supernode = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    path = write_notebook(jp_root_dir, "held.ipynb", ["a = 1"])
    live = await supernode.documents.document_for_path(path)
    connection = relay.rooms.rooms[f"json:notebook:{live.key.file_id}"].direct
    live.hold(True)
    assert connection.holds == {"execution queued or running": 1}
    live.hold(False)
    assert connection.holds == {}
