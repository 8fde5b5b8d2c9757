"""Tokens, read-only connections, origins, and refusing to expose an open relay."""

from __future__ import annotations

import pytest
from pycrdt import Text

from helpers import close_code_of, raw_ws
from rtc_relay import CloseCode, Relay, RelayConfig


async def test_without_the_write_token_a_client_is_refused(start_relay, connect):
    relay = await start_relay(token=["s3cret"])
    for url in (relay.url + "room", relay.url + "room?token=wrong"):
        client = await connect(url)
        assert await client.wait_closed() == CloseCode.UNAUTHORIZED
        assert not client.synced
    ok = await connect(relay.url + "room?token=s3cret")
    await ok.wait_synced()
    by_header = await connect(relay.url + "room", token="s3cret")
    await by_header.wait_synced()
    assert relay.metrics.closed["unauthorized"] == 2


async def test_a_read_only_client_reads_and_shows_presence_but_cannot_write(start_relay, connect):
    relay = await start_relay(token=["w"], read_token=["r"])
    writer = await connect(relay.url + "doc?token=w")
    await writer.wait_synced()
    writer.doc.get("t", type=Text).insert(0, "by the writer")

    reader = await connect(relay.url + "doc?token=r")
    await reader.wait_synced()
    rt = reader.doc.get("t", type=Text)
    await reader.wait_for(lambda: str(rt) == "by the writer")
    assert {"type": "access", "access": "read", "room": "doc"} in reader.notices

    rt.insert(0, "reader was here: ")  # sent, and dropped by the relay
    reader.awareness.set_local_state({"user": {"name": "Reader"}})
    await writer.wait_for(
        lambda: writer.awareness.states.get(reader.awareness.client_id, {}).get("user") == {"name": "Reader"}
    )
    writer.doc.get("t", type=Text).insert(0, ">")
    await reader.wait_for(lambda: str(rt).startswith("reader was here: >") or str(rt).startswith(">"))
    assert str(writer.doc.get("t", type=Text)) == ">by the writer"
    assert relay.metrics.updates_dropped_readonly >= 1

    late = await connect(relay.url + "doc?token=w")
    await late.wait_synced()
    assert str(late.doc.get("t", type=Text)) == ">by the writer"
    stored = await relay.store.load("doc")
    from pycrdt import Doc

    check = Doc()
    for update in stored:
        check.apply_update(update)
    assert str(check.get("t", type=Text)) == ">by the writer"
    assert not any(n.get("access") == "read" for n in writer.notices)


async def test_no_token_on_a_public_address_is_refused_unless_explicit():
    with pytest.raises(ValueError, match="no token"):
        Relay(RelayConfig(host="0.0.0.0", port=0, store="memory"))
    RelayConfig(host="0.0.0.0", port=0, store="memory", allow_unauthenticated=True).check()
    RelayConfig(host="0.0.0.0", port=0, store="memory", token=["t"]).check()
    RelayConfig(host="::1", port=0, store="memory").check()


async def test_browser_origins_are_checked(start_relay):
    relay = await start_relay()
    from websockets.exceptions import InvalidStatus

    with pytest.raises(InvalidStatus) as refused:
        await raw_ws(relay.url + "room", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    ws = await raw_ws(relay.url + "room", origin="http://localhost:8888")
    await ws.close()

    open_relay = await start_relay(allow_origin=["https://lab.example"])
    ws = await raw_ws(open_relay.url + "room", origin="https://lab.example")
    await ws.close()
    with pytest.raises(InvalidStatus):
        await raw_ws(open_relay.url + "room", origin="http://localhost:8888")


async def test_with_a_token_any_browser_origin_may_connect_unless_allow_origin_limits_them(start_relay, connect):
    """The token is the guard: a page of another origin cannot know it. ``--allow-origin`` still limits
    origins when given; a client without a valid token is told 4401 whatever its origin."""
    from websockets.exceptions import InvalidStatus

    relay = await start_relay(token=["t"])
    foreign = {"Origin": "http://evil.example"}
    with_token = await connect(relay.url + "room?token=t", headers=foreign)
    await with_token.wait_synced()
    without = await connect(relay.url + "room", headers=foreign)
    assert await without.wait_closed() == CloseCode.UNAUTHORIZED
    reader = await start_relay(read_token=["r"])  # a read token alone counts as a token too
    ws = await raw_ws(reader.url + "room?token=r", origin="http://evil.example")
    await ws.close()

    limited = await start_relay(token=["t"], allow_origin=["https://lab.example"])
    ws = await raw_ws(limited.url + "room?token=t", origin="https://lab.example")
    await ws.close()
    for origin in ("http://evil.example", "http://localhost:8888"):
        with pytest.raises(InvalidStatus) as refused:
            await raw_ws(limited.url + "room?token=t", origin=origin)
        assert refused.value.response.status_code == 403
    scripted = await connect(limited.url + "room?token=t")  # no Origin: a script, not a browser
    await scripted.wait_synced()


async def test_a_refused_client_is_told_with_the_documented_close_code(start_relay):
    relay = await start_relay(token=["t"])
    ws = await raw_ws(relay.url + "room")
    assert await close_code_of(ws) == CloseCode.UNAUTHORIZED
    assert ws.protocol.close_rcvd.reason == "a valid token is required"
