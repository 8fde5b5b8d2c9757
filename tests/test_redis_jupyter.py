"""The jupyter_server extension shares rooms through Redis with standalone relays (``RelayExtension.redis_url``)."""

from __future__ import annotations

import pytest
from pycrdt import Text

from jupyter_helpers import server_config

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def jp_server_config(redis_server):
    config = server_config()
    config["RelayExtension"]["redis_url"] = redis_server.url
    return config


async def test_a_jupyter_room_and_a_standalone_relay_share_a_room(
    collab, jp_serverapp, redis_server, relay_process, connect
):
    core = jp_serverapp.web_app.settings["rtc_relay"]
    await core.ensure_started()
    ok, body = core.health()
    assert ok and body["redis"] == "connected"
    relay = await relay_process("--redis-url", redis_server.url)
    in_jupyter = await collab.join("chat")
    outside = await connect(relay.url + "chat")
    await in_jupyter.wait_synced()
    await outside.wait_synced()
    in_jupyter.doc.get("t", type=Text).insert(0, "from jupyter;")
    outside.doc.get("t", type=Text).insert(0, "from the relay;")
    for client in (in_jupyter, outside):
        await client.wait_for(lambda c=client: len(str(c.doc.get("t", type=Text))) == 28)
    assert str(in_jupyter.doc.get("t", type=Text)) == str(outside.doc.get("t", type=Text))
