"""Signed, expiring, room-scoped tokens (``--token-secret``, :mod:`rtc_relay.tokens`): minted in Python
and by the CLI, checked by the relay for real pycrdt and node clients."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
from pycrdt import Text

from helpers import close_code_of, http_get, raw_ws
from rtc_relay import CloseCode, RelayConfig
from rtc_relay.tokens import TokenError, mint, verify

pytestmark = pytest.mark.timeout(40)

SECRET = "a-secret-of-32-characters-000000"
OTHER = "another-secret-of-32-characters0"


def test_mint_and_verify_round_trip_and_every_refusal():
    now = 1_000_000.0
    token = mint(SECRET, room="team/doc-1", user="alice", expires_in=60, now=now)
    grant = verify([SECRET], token, "team/doc-1", now=now + 59)
    assert (grant.access, grant.user, grant.room, grant.expires) == ("write", "alice", "team/doc-1", now + 60)
    assert verify([OTHER, SECRET], token, "team/doc-1", now=now).user == "alice"  # rotation
    read = verify([SECRET], mint(SECRET, prefix="team/", access="read", now=now), "team/doc-9", now=now)
    assert read.access == "read" and read.user is None

    def reason(*args, **kw) -> str:
        with pytest.raises(TokenError) as info:
            verify(*args, **kw)
        return info.value.reason

    assert reason([SECRET], token, "team/doc-1", now=now + 60) == "token expired"
    assert reason([SECRET], token, "other/doc-1", now=now) == "token not for this room"
    assert reason([SECRET], token, "team/doc-10", now=now) == "token not for this room"  # a room, not a prefix
    assert reason([OTHER], token, "team/doc-1", now=now) == "bad signature"
    body, _, signature = token.rpartition(".")
    tampered = mint(SECRET, prefix="", now=now).rpartition(".")[0] + "." + signature
    assert reason([SECRET], tampered, "team/doc-1", now=now) == "bad signature"
    for garbage in ("rtc1.", "rtc1.x.y.z", "rtc1." + "A" * 5000, "nope"):
        assert reason([SECRET], garbage, "team/doc-1", now=now) == "malformed token"
    with pytest.raises(ValueError):
        mint(SECRET, room="a", prefix="b")
    with pytest.raises(ValueError):
        mint(SECRET, room="a", access="admin")


async def test_signed_tokens_open_their_room_or_prefix_and_nothing_else(start_relay, connect):
    relay = await start_relay(token_secret=[SECRET])
    base = relay.url
    alice = await connect(base + "team/doc-1", token=mint(SECRET, room="team/doc-1", user="alice"))
    bob = await connect(base + "team/doc-1", token=mint(SECRET, prefix="team/", user="bob", access="read"))
    await asyncio.gather(alice.wait_synced(), bob.wait_synced())
    alice.doc.get("t", type=Text).insert(0, "by alice")
    await bob.wait_for(lambda: str(bob.doc.get("t", type=Text)) == "by alice")
    assert {"type": "access", "access": "read", "room": "team/doc-1"} in bob.notices

    refusals = {
        "other/doc-1": (mint(SECRET, room="team/doc-1"), "token not for this room"),
        "team/doc-2": (mint(SECRET, room="team/doc-1"), "token not for this room"),
        "team/doc-3": (mint(SECRET, room="team/doc-3", expires_in=-1), "token expired"),
        "team/doc-4": (mint(OTHER, room="team/doc-4"), "bad signature"),
        "team/doc-5": ("rtc1.garbage", "malformed token"),
    }
    for room, (token, reason) in refusals.items():
        ws = await raw_ws(f"{base}{room}?token={token}")
        assert await close_code_of(ws) == CloseCode.UNAUTHORIZED
        assert ws.protocol.close_rcvd.reason == reason, room
    assert relay.metrics.closed["unauthorized"] == len(refusals)

    # The room list shows the users the tokens name, and only the rooms the caller's token covers.
    carol = await connect(base + "other/x", token=mint(SECRET, room="other/x", user="carol"))
    await carol.wait_synced()
    http = f"http://127.0.0.1:{relay.port}/api/rtc/rooms?token="
    status, body = await http_get(http + mint(SECRET, prefix="team/"))
    assert status == 200
    assert json.loads(body)["rooms"] == [
        {"name": "team/doc-1", "clients": 2, "loaded": True, "users": ["alice", "bob"]}
    ]
    status, body = await http_get(http + mint(SECRET, prefix=""))
    assert [room["users"] for room in json.loads(body)["rooms"]] == [["carol"], ["alice", "bob"]]
    status, body = await http_get(http + mint(SECRET, prefix="", expires_in=-1))
    assert status == 401 and json.loads(body)["message"] == "token expired"


async def test_a_connection_is_closed_when_its_token_expires(start_relay, connect):
    relay = await start_relay(token_secret=[SECRET])
    short = await connect(relay.url + "r", token=mint(SECRET, room="r", user="brief", expires_in=0.6))
    steady = await connect(relay.url + "r", token=mint(SECRET, room="r", user="steady"))
    await asyncio.gather(short.wait_synced(), steady.wait_synced())
    started = time.monotonic()
    assert await short.wait_closed(timeout=5) == CloseCode.UNAUTHORIZED
    assert short.close_reason == "token expired"
    assert 0.3 < time.monotonic() - started < 3
    steady.doc.get("t", type=Text).insert(0, "still here")  # the other connection is not affected
    steady.save(1)
    await steady.wait_for(lambda: any(n.get("type") == "save" for n in steady.notices))
    assert not steady.closed.is_set()


async def test_static_tokens_still_work_beside_signed_ones(start_relay, connect):
    relay = await start_relay(token_secret=[SECRET], token=["static-write-token"])
    static = await connect(relay.url + "any/room", token="static-write-token")
    signed = await connect(relay.url + "any/room", token=mint(SECRET, prefix="any/"))
    await asyncio.gather(static.wait_synced(), signed.wait_synced())
    bad = await connect(relay.url + "any/room", token="wrong")
    assert await bad.wait_closed() == CloseCode.UNAUTHORIZED


async def test_a_node_y_websocket_client_joins_with_a_signed_token(start_relay, node_client):
    relay = await start_relay(token_secret=[SECRET])
    ok = await node_client(relay.url, "team/doc-1", mint(SECRET, room="team/doc-1", user="nina"))
    await ok.wait_synced(10)
    refused = await node_client(relay.url, "team/doc-2", mint(SECRET, room="team/doc-1"))
    closed = await refused.wait_event(lambda e: e["event"] == "closed", 10)
    assert (closed["code"], closed["reason"]) == (4401, "token not for this room")


def test_the_cli_mints_a_token_the_relay_accepts():
    out = subprocess.run(
        [sys.executable, "-m", "rtc_relay", "mint-token", "--room", "team/doc-1", "--user", "ci", "--read"],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "RTC_RELAY_TOKEN_SECRET": SECRET},
        check=True,
    )
    grant = verify([SECRET], out.stdout.strip(), "team/doc-1")
    assert (grant.access, grant.user) == ("read", "ci") and grant.expires > time.time() + 3000


def test_a_short_secret_is_refused_and_a_secret_guards_a_public_address():
    with pytest.raises(ValueError, match="16 characters"):
        RelayConfig(token_secret=["short"]).check()
    RelayConfig(host="0.0.0.0", token_secret=[SECRET]).check()  # no --allow-unauthenticated needed
