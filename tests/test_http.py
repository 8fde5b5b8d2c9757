"""GET /health and GET /metrics, and what the relay says to plain HTTP."""

from __future__ import annotations

import json

from pycrdt import Text

from helpers import http_get, raw_ws, close_code_of
from rtc_relay import CloseCode


def base(relay) -> str:
    return f"http://127.0.0.1:{relay.port}"


async def test_health_answers_while_serving(relay):
    status, body = await http_get(base(relay) + "/health")
    assert status == 200
    assert json.loads(body)["status"] == "ok"


async def test_metrics_count_rooms_clients_updates_bytes_store_and_closes(start_relay, connect, tmp_path):
    relay = await start_relay(store=str(tmp_path / "r.sqlite"))
    a = await connect(relay.url + "m")
    b = await connect(relay.url + "m")
    await a.wait_synced()
    await b.wait_synced()
    a.doc.get("t", type=Text).insert(0, "12345")
    await b.wait_for(lambda: str(b.doc.get("t", type=Text)) == "12345")
    bad = await raw_ws(relay.url + "m")
    await bad.send(bytes((9,)))
    assert await close_code_of(bad) == CloseCode.BAD_MESSAGE
    await relay.store.flush()

    status, text = await http_get(base(relay) + "/metrics")
    assert status == 200
    values = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")
    }
    assert values["rtc_relay_rooms"] == 1
    assert values["rtc_relay_clients"] == 2
    assert values["rtc_relay_updates_in_total"] == 1
    assert values["rtc_relay_updates_out_total"] == 2  # to b, and back to a (echo)
    assert values["rtc_relay_bytes_in_total"] > 0 and values["rtc_relay_bytes_out_total"] > 0
    assert values["rtc_relay_store_bytes"] > 0
    assert values['rtc_relay_connections_closed_total{reason="bad_message"}'] == 1
    assert "# TYPE rtc_relay_updates_in_total counter" in text


async def test_plain_http_is_told_what_this_is(relay):
    status, body = await http_get(base(relay) + "/some-room")
    assert status == 426 and "websocket" in body
    status, body = await http_get(base(relay) + "/a/b")
    assert status == 426
