"""The room websocket inside Jupyter: the server's keep-alive settings, whole room paths."""

from __future__ import annotations

import asyncio
import time

import pytest
from pycrdt import Doc, Text

from helpers import close_code_of, raw_ws
from jupyter_helpers import server_config, write_notebook
from rtc_relay.lib0 import var_uint8array


@pytest.fixture
def jp_server_config():
    config = server_config()
    config["ServerApp"].update(websocket_ping_interval=1, websocket_ping_timeout=2)
    return config


async def test_a_client_that_stops_answering_is_dropped_within_the_servers_ping_settings(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "alive.ipynb", ["x"])
    alice, session = await collab.open(path)
    # A client that joins, shows its presence, then goes silent (a browser gone offline): no pong, ever.
    ghost = await raw_ws(collab.url(session.room, session.session_id), additional_headers=collab.auth_header)
    ghost_doc = Doc()
    from pycrdt import Awareness

    presence = Awareness(ghost_doc)
    presence.set_local_state({"user": {"name": "ghost"}})
    await ghost.send(bytes((1,)) + var_uint8array(presence.encode_awareness_update([ghost_doc.client_id])))
    await alice.wait_for(lambda: ghost_doc.client_id in alice.awareness.states, timeout=10)
    ghost.transport.pause_reading()  # reads nothing more: pings go unanswered
    started = time.monotonic()
    await alice.wait_for(lambda: ghost_doc.client_id not in alice.awareness.states, timeout=10)
    took = time.monotonic() - started
    assert took < 1 + 2 + 1.5, took  # one interval + the timeout (+ scheduling), not Jupyter's 90 s
    ghost.transport.resume_reading()
    await ghost.close()


async def test_a_room_is_its_whole_path(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "whole.ipynb", ["x"])
    notebook, session = await collab.open(path)
    # a/ROOM and b/ROOM are plain rooms of their own, not the notebook's room under other names.
    a1, a2, b = [await collab.join(prefix + session.room) for prefix in ("a/", "a/", "b/")]
    for client in (a1, a2, b):
        await client.wait_synced(timeout=10)
    a1.doc.get("t", type=Text).insert(0, "in a/")
    await a2.wait_for(lambda: str(a2.doc.get("t", type=Text)) == "in a/")
    assert "cells" not in a2.doc.keys() and "t" not in b.doc.keys() and "t" not in notebook.doc.keys()
    ws = await raw_ws(collab.url("a/%01" + session.room), additional_headers=collab.auth_header)
    assert await close_code_of(ws, timeout=10) == 4400
    assert ws.protocol.close_rcvd.reason == "invalid room name: control character U+0001"
    ws = await raw_ws(collab.url("team/%FF"), additional_headers=collab.auth_header)
    assert await close_code_of(ws, timeout=10) == 4400
    assert ws.protocol.close_rcvd.reason == "invalid room name: not UTF-8 once percent-decoded"


async def test_node_y_websocket_clients_share_a_room_with_slashes(collab, yjs_client):
    a = await yjs_client("team/doc-1")
    b = await yjs_client("team/doc-1")
    c = await yjs_client("other/doc-1")
    await a.request({"cmd": "insert", "name": "t", "index": 0, "text": "team"})
    await b.wait_text("t", "team")
    await c.request({"cmd": "insert", "name": "t", "index": 0, "text": "other"})
    await a.wait_text("t", "team")
    assert await c.text("t") == "other"


async def test_y_websocket_4_reports_its_edits_confirmed_in_jupyter(collab, jp_serverapp, node_client):
    """The extension echoes updates to their sender too (``RelayExtension.echo``, on by default)."""
    url = collab.url("").rstrip("/")
    token = jp_serverapp.identity_provider.token
    v4 = await node_client(url, "team/doc-4", token, version="4")
    v1 = await node_client(url, "team/doc-4", token, version="1")
    await asyncio.gather(v4.wait_synced(10), v1.wait_synced(10))
    await v4.request({"cmd": "insert", "name": "t", "index": 0, "text": "from 4"})
    await v1.wait_text("t", "from 4", 10)
    confirmed = {"localUpdatesSynced": True, "status": "green"}
    await v4.request({"cmd": "wait_sync_status", "equals": confirmed, "timeout": 10}, 11)
