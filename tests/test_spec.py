"""spec.json is generated from the code and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from rtc_relay.openapi import render

SPEC = Path(__file__).resolve().parents[1] / "spec.json"


def test_spec_json_matches_the_code():
    assert SPEC.read_text() == render(), "spec.json is stale: run `python -m rtc_relay.openapi > spec.json`"


async def test_every_documented_path_is_served(relay):
    from helpers import http_get

    base = f"http://127.0.0.1:{relay.port}"
    assert (await http_get(base + "/health"))[0] == 200
    assert (await http_get(base + "/metrics"))[0] == 200
    # Room paths answer plain HTTP with 426 (they want a websocket upgrade).
    assert (await http_get(base + "/some-room"))[0] == 426
    assert (await http_get(base + "/api/collaboration/room/json:notebook:x"))[0] == 426
