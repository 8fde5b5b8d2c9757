"""Webhooks (``--webhook``, :mod:`rtc_relay.webhooks`): signed events of rooms, clients and changes POSTed to
real HTTP receivers on loopback, by a real relay with real pycrdt and node y-websocket clients; delivery
retried in order, bounded for dead receivers, timed out for slow ones."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from pycrdt import Text

from helpers import eventually, http_get
from rtc_relay import RelayConfig
from rtc_relay.tokens import mint
from rtc_relay.webhooks import SignatureError, sign, verify_signature
from webhook_helpers import WebhookReceiver, dead_url

pytestmark = pytest.mark.timeout(60)

HOOK_SECRET = "webhook-secret-of-32-characters0"
TOKEN_SECRET = "a-secret-of-32-characters-000000"
SCHEMA = Draft202012Validator(
    json.loads((Path(__file__).resolve().parents[1] / "schema" / "webhook-event.json").read_text())
)


@pytest.fixture
def receiver(jp_asyncio_loop):
    """Factory: ``r = await receiver()`` starts a :class:`WebhookReceiver`, stopped at teardown (ask for it
    before ``start_relay``: the relays stop first, and their last events are delivered)."""
    started: list[WebhookReceiver] = []

    async def start() -> WebhookReceiver:
        r = await WebhookReceiver().start()
        started.append(r)
        return r

    yield start
    for r in started:
        jp_asyncio_loop.run_until_complete(r.stop())


def _hooks(*urls: str, **options: object) -> dict[str, object]:
    return {"webhook": list(urls), "webhook_secret": HOOK_SECRET, **options}


def _check(receiver: WebhookReceiver, authorization: str | None = None) -> None:
    """Every request is signed with the secret, recent, and its body matches the schema."""
    for headers, body in receiver.requests:
        assert headers.get("authorization") == authorization
        assert headers["request-line"] == "POST /hooks?key=k HTTP/1.1"
        assert headers["content-type"] == "application/json"
        verify_signature(HOOK_SECRET, headers["x-rtc-signature"], body)
        errors = list(SCHEMA.iter_errors(json.loads(body)))
        assert not errors, (errors[0].message, body)


async def _metrics(relay) -> dict[str, float]:
    status, text = await http_get(f"http://127.0.0.1:{relay.port}/metrics")
    assert status == 200
    out = {}
    for line in text.splitlines():
        if line.startswith("rtc_relay_webhook"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_a_signature_checks_out_only_with_the_secret_the_body_and_a_recent_time():
    body = b'{"id":"x"}'
    header = sign(HOOK_SECRET, body)
    assert abs(verify_signature(HOOK_SECRET, header, body) - time.time()) < 5
    for secret, head, data, now, reason in (
        ("another-secret-of-32-characters0", header, body, None, "bad signature"),
        (HOOK_SECRET, header, body + b" ", None, "bad signature"),
        (HOOK_SECRET, "v1=abc", body, None, "malformed signature header"),
        (HOOK_SECRET, header, body, time.time() + 301, "signature timestamp too old or in the future"),
    ):
        with pytest.raises(SignatureError, match=reason):
            verify_signature(secret, head, data, now=now)


def test_webhook_settings_are_checked():
    with pytest.raises(ValueError, match="--webhook-secret"):
        RelayConfig(webhook=["http://127.0.0.1:9/x"]).check()
    with pytest.raises(ValueError, match="http:// or https://"):
        RelayConfig(webhook=["ftp://user:pw@host/x"], webhook_secret=HOOK_SECRET).check()
    with pytest.raises(ValueError, match="webhook_queue"):
        RelayConfig(webhook=["http://h/x"], webhook_secret=HOOK_SECRET, webhook_queue=0).check()
    env = {"RTC_RELAY_WEBHOOK": "http://a/x,https://b/y", "RTC_RELAY_WEBHOOK_SECRET": HOOK_SECRET}
    assert RelayConfig.from_env(env).webhook == ["http://a/x", "https://b/y"]


async def test_a_rooms_life_is_reported_signed_with_the_users_of_the_tokens(
    receiver, start_relay, connect, node_client
):
    r = await receiver()
    with_credentials = r.url.replace("http://", "http://app:p%40ss@")  # sent as basic authentication
    relay = await start_relay(token_secret=[TOKEN_SECRET], **_hooks(with_credentials, webhook_debounce=0.2))
    room = "team/doc-1"
    alice = await connect(relay.url + room, token=mint(TOKEN_SECRET, room=room, user="alice"))
    await alice.wait_synced()
    nina = await node_client(relay.url, room, mint(TOKEN_SECRET, prefix="team/", user="nina"))
    await nina.wait_synced()
    await r.wait_for(lambda: len(r.of("client.joined")) == 2)
    assert [e["type"] for e in r.events] == ["room.loaded", "client.joined", "client.joined"]
    assert [(e["client"]["user"], e["clients"]) for e in r.of("client.joined")] == [("alice", 1), ("nina", 2)]

    alice.doc.get("t", type=Text).insert(0, "hello")
    await nina.wait_text("t", "hello")
    await r.wait_for(lambda: r.of("document.changed"))
    await nina.request({"cmd": "insert", "name": "t", "index": 5, "text": " from node"})
    await r.wait_for(lambda: len(r.of("document.changed")) == 2)

    await nina.close()
    await alice.close()
    await r.wait_for(lambda: r.of("room.freed"), what="room.freed")
    assert [e["type"] for e in r.events][-3:] == ["client.left", "client.left", "room.freed"]
    assert sorted((e["client"]["user"], e["clients"]) for e in r.of("client.left")) == [("alice", 0), ("nina", 1)]
    assert {e["room"] for e in r.events} == {room}
    assert len({e["id"] for e in r.events}) == len(r.events)
    assert len({e["relay"] for e in r.events}) == 1
    _check(r, "Basic " + base64.b64encode(b"app:p@ss").decode())
    assert (await _metrics(relay))[f'rtc_relay_webhook_events_delivered_total{{endpoint="{r.url.split("?")[0]}"}}'] == 8


async def test_changes_are_debounced_and_sent_at_the_latest_after_the_max_wait(receiver, start_relay, connect):
    r = await receiver()
    relay = await start_relay(**_hooks(r.url, webhook_debounce=0.4, webhook_max_wait=1.0))
    client = await connect(relay.url + "busy")
    await client.wait_synced()
    text = client.doc.get("t", type=Text)

    # One edit: reported once the document stayed unchanged for the debounce, not before.
    edited = time.monotonic()
    text.insert(0, "a")
    await r.wait_for(lambda: r.of("document.changed"))
    waited = time.monotonic() - edited
    assert 0.35 < waited < 1.5, waited
    assert r.of("document.changed")[0]["changes"] == 1

    # Edits every 0.1 s for 2.6 s never leave it unchanged for 0.4 s: the max wait (1 s) reports them.
    start = time.monotonic()
    count = 0
    while time.monotonic() - start < 2.6:
        text.insert(0, "b")
        count += 1
        await asyncio.sleep(0.1)  # the client's pace (what is tested is the relay's timing)
    during = len(r.of("document.changed")) - 1
    assert 2 <= during <= 3, during
    await r.wait_for(lambda: sum(e["changes"] for e in r.of("document.changed")) == count + 1, what="every change")
    times = [e["time"] for e in r.of("document.changed")[1:]]
    assert all(0.8 < b - a < 1.4 for a, b in zip(times[:-2], times[1:-1], strict=True)), times  # the last: debounced
    _check(r)


async def test_a_receiver_that_fails_then_recovers_gets_every_event_in_order(receiver, start_relay, connect):
    r = await receiver()
    r.status = 500
    relay = await start_relay(**_hooks(r.url, webhook_max_backoff=0.2))
    for name in ("a", "b"):
        client = await connect(relay.url + name)
        await client.wait_synced()
        await client.close()
    await eventually(lambda: len(r.requests) >= 5, what="retries")  # the first event, tried again and again
    assert {json.loads(body)["id"] for _, body in r.requests} == {json.loads(r.requests[0][1])["id"]}
    r.status = 200
    await r.wait_for(lambda: len(r.of("room.freed")) == 2)
    for name in ("a", "b"):
        kinds = [e["type"] for e in r.events if e["room"] == name]
        assert kinds == ["room.loaded", "client.joined", "client.left", "room.freed"], (name, kinds)
    assert [e["time"] for e in r.events] == sorted(e["time"] for e in r.events)
    metrics = await _metrics(relay)
    label = f'endpoint="{r.url.split("?")[0]}"'
    assert metrics[f"rtc_relay_webhook_failed_attempts_total{{{label}}}"] >= 4
    assert metrics[f'rtc_relay_webhook_events_dropped_total{{{label},reason="overflow"}}'] == 0
    assert metrics[f"rtc_relay_webhook_queue{{{label}}}"] == 0
    _check(r)


async def test_a_dead_receiver_keeps_a_bounded_queue_drops_the_oldest_and_costs_rooms_nothing(
    receiver, start_relay, connect
):
    r = await receiver()
    dead = dead_url()
    relay = await start_relay(**_hooks(dead, r.url, webhook_queue=5, webhook_max_backoff=5.0, webhook_timeout=1.0))
    first = await connect(relay.url + "room")
    await first.wait_synced()
    for i in range(20):  # 40 events (joined, left) beside the room's own
        c = await connect(relay.url + "room")
        await c.wait_synced()
        first.doc.get("t", type=Text).insert(0, str(i % 10))
        await c.wait_for(lambda c=c, i=i: str(c.doc.get("t", type=Text)).startswith(str(i % 10)), timeout=2)
        await c.close()
    await r.wait_for(lambda: len(r.of("client.left")) == 20)  # the live receiver is not held up by the dead one
    metrics = await _metrics(relay)
    label = f'endpoint="{dead}"'
    assert metrics[f"rtc_relay_webhook_queue{{{label}}}"] <= 6  # the queue, and the one in flight
    dropped = metrics[f'rtc_relay_webhook_events_dropped_total{{{label},reason="overflow"}}']
    assert dropped >= len(r.events) - 6, (dropped, len(r.events))
    assert metrics[f"rtc_relay_webhook_failed_attempts_total{{{label}}}"] >= 1
    ok, health = relay.health()
    assert ok, health
    await first.close()
    started = time.monotonic()
    await relay.stop()  # waits for the dead endpoint no longer than one webhook timeout
    assert time.monotonic() - started < 2.5
    assert r.of("room.freed")  # while the live one got the last events


async def test_a_slow_receiver_times_out_and_its_event_is_delivered_again(receiver, start_relay, connect):
    r = await receiver()
    r.delay = 3.0  # longer than the relay's timeout
    relay = await start_relay(**_hooks(r.url, webhook_timeout=0.3, webhook_max_backoff=0.2))
    started = time.monotonic()
    client = await connect(relay.url + "slow")
    await client.wait_synced()
    assert time.monotonic() - started < 2  # the room does not wait for its webhook
    await eventually(lambda: len(r.requests) >= 3, what="attempts cut at the timeout")
    assert time.monotonic() - started < 3  # three attempts within one slow answer: each was cut after 0.3 s
    r.delay = 0
    await r.wait_for(lambda: r.of("client.joined"))
    assert r.events[0]["type"] == "room.loaded"
    label = f'endpoint="{r.url.split("?")[0]}"'
    assert (await _metrics(relay))[f"rtc_relay_webhook_failed_attempts_total{{{label}}}"] >= 2


async def test_relays_sharing_rooms_through_redis_each_report_what_they_hold(
    receiver, redis_server, start_relay, connect
):
    r = await receiver()
    hooks = _hooks(r.url, webhook_debounce=0.2)
    a = await start_relay(redis_url=redis_server.url, store="", **hooks)
    b = await start_relay(redis_url=redis_server.url, store="", **hooks)
    on_a = await connect(a.url + "shared")
    on_b = await connect(b.url + "shared")
    await on_a.wait_synced()
    await on_b.wait_synced()
    on_a.doc.get("t", type=Text).insert(0, "from a")
    await on_b.wait_for(lambda: str(on_b.doc.get("t", type=Text)) == "from a")
    await r.wait_for(lambda: len(r.of("document.changed")) == 2)
    relays = {e["relay"] for e in r.of("document.changed")}
    assert len(relays) == 2  # the relay that took the edit, and the one that got it through Redis
    assert {e["relay"] for e in r.of("client.joined")} == relays
    _check(r)


async def test_an_event_the_receiver_refuses_is_dropped_and_counted_not_retried(receiver, start_relay, connect):
    r = await receiver()
    r.status = 422
    relay = await start_relay(**_hooks(r.url))
    client = await connect(relay.url + "refused")
    await client.wait_synced()
    await eventually(lambda: len(r.requests) == 2, what="room.loaded and client.joined, each tried once")
    r.status = 200
    await client.close()
    await r.wait_for(lambda: r.of("room.freed"))
    assert [e["type"] for e in r.events] == ["client.left", "room.freed"]
    assert len(r.requests) == 4
    label = f'endpoint="{r.url.split("?")[0]}"'
    metrics = await _metrics(relay)
    assert metrics[f'rtc_relay_webhook_events_dropped_total{{{label},reason="rejected"}}'] == 2
    assert metrics[f"rtc_relay_webhook_failed_attempts_total{{{label}}}"] == 0
