"""The jupyter_server extension shares rooms through Redis with standalone relays (``RelayExtension.redis_url``)."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from pycrdt import Text

from jupyter_helpers import server_config

pytestmark = pytest.mark.timeout(60)

REDIS_TIMEOUT = 1.5  # seconds


@pytest.fixture
def jp_server_config(redis_server):
    config = server_config()
    config["RelayExtension"]["redis_url"] = redis_server.url
    config["RelayExtension"]["redis_timeout"] = REDIS_TIMEOUT
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


async def test_a_redis_that_stops_answering_is_reported_within_redis_timeout(jp_serverapp, redis_server):
    core = jp_serverapp.web_app.settings["rtc_relay"]
    await core.ensure_started()
    assert core.health()[0]
    loop = asyncio.get_running_loop()
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    stopped_at = loop.time()
    try:
        while core.health()[0]:
            assert loop.time() - stopped_at < REDIS_TIMEOUT + 1.0, "the stopped Redis was not noticed in time"
            await asyncio.sleep(0.02)  # polling health, bounded by the assertion above
        assert core.health()[1]["redis"] == "unreachable"
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)
    deadline = loop.time() + 10.0
    while not core.health()[0]:
        assert loop.time() < deadline, "Redis answering again was not noticed"
        await asyncio.sleep(0.02)  # polling health, bounded by the assertion above
