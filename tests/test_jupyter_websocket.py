"""The room websocket inside Jupyter: the server's keep-alive settings, whole room paths."""

from __future__ import annotations

import asyncio
import time

import pytest
from pycrdt import Doc

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
    _, session = await collab.open(path)
    for prefix in ("a/", "b/"):
        url = collab.url(prefix + session.room, session.session_id)
        ws = await raw_ws(url, additional_headers=collab.auth_header)
        assert await close_code_of(ws, timeout=10) == 4400  # not the notebook's room under another name
    await asyncio.sleep(0)
