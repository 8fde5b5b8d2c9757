"""Rate limits inside jupyter_server (``RelayExtension`` traits): a client over its message rate is closed
with 4430; past ``connections_per_minute`` an address's room websocket attempts get HTTP 429."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from helpers import close_code_of, raw_ws
from jupyter_helpers import server_config
from rtc_relay.catalogue import CloseCode
from test_limits import update_messages

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def jp_server_config():
    config = server_config()
    config["RelayExtension"].update(store="memory", messages_per_second=20, rate_burst=1.0, connections_per_minute=3)
    return config


async def test_jupyter_closes_a_client_over_its_rate_and_refuses_attempts_past_the_limit(collab, jp_serverapp):
    core = jp_serverapp.web_app.settings["rtc_relay"]
    assert (core.config.messages_per_second, core.config.connections_per_minute) == (20, 3)
    url = collab.url("team/limits")
    flooder = await raw_ws(url, additional_headers=collab.auth_header)
    for message in update_messages(100):
        await flooder.send(message)
    assert await close_code_of(flooder) == CloseCode.RATE_LIMITED
    assert flooder.protocol.close_rcvd.reason == "more than 20 messages a second"
    assert core.metrics.closed["rate_limited"] == 1

    others = [await raw_ws(url, additional_headers=collab.auth_header) for _ in range(2)]  # 3 attempts in all
    with pytest.raises(InvalidStatus) as refused:
        await raw_ws(url, additional_headers=collab.auth_header)
    assert refused.value.response.status_code == 429
    assert int(refused.value.response.headers["Retry-After"]) >= 1
    assert core.metrics.refused["rate_limited"] == 1
    for ws in others:
        await ws.close()
