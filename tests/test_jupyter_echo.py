"""``RelayExtension.echo = False``: in Jupyter too, a client's updates then go to the others only
(the default, echo on, is tested in tests/test_jupyter_websocket.py with y-websocket 4)."""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Text

from jupyter_helpers import server_config

UPDATE = (0, 2)


@pytest.fixture
def jp_server_config():
    config = server_config()
    config["RelayExtension"].update(echo=False, store="memory")
    return config


async def test_without_echo_a_sender_gets_only_the_others_updates(collab, jp_serverapp, node_client):
    assert jp_serverapp.web_app.settings["rtc_relay"].config.echo is False
    a, b = await collab.join("team/no-echo"), await collab.join("team/no-echo")
    await asyncio.gather(a.wait_synced(), b.wait_synced())
    a.doc.get("t", type=Text).insert(0, "a")
    await b.wait_for(lambda: str(b.doc.get("t", type=Text)) == "a")
    b.doc.get("t", type=Text).insert(1, "b")
    await a.wait_for(lambda: str(a.doc.get("t", type=Text)) == "ab")
    # b's update was relayed after a's: had a's come back, a would have it before b's.
    assert a.received.count(UPDATE) == 1

    v4 = await node_client(collab.url("").rstrip("/"), "team/no-echo", jp_serverapp.identity_provider.token, "4")
    await v4.wait_synced(10)
    await v4.request({"cmd": "insert", "name": "t", "index": 0, "text": "4"})
    await a.wait_for(lambda: str(a.doc.get("t", type=Text)) == "4ab")
    a.doc.get("t", type=Text).insert(3, "!")
    await v4.wait_text("t", "4ab!", 10)
    state = await v4.request({"cmd": "get", "text": ["t"]})
    assert state["sync_status"]["localUpdatesSynced"] is False
