"""Scale-out: several relay processes share rooms through one real Redis.

Every test runs real ``python -m rtc_relay --redis-url`` processes against a real ``redis-server``
started on a free port, with real pycrdt clients. The content checks count every inserted token:
an update replayed is harmless, an edit re-inserted as a new operation would show twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest
from pycrdt import Map, Text

from helpers import eventually, http_get
from redis_helpers import RedisServer, free_port

pytestmark = pytest.mark.timeout(60)

DEADLINE = 15.0  # seconds, for any convergence


def text_of(client) -> str:
    return str(client.doc.get("t", type=Text))


def assert_each_once(text: str, tokens: list[str]) -> None:
    missing = [t for t in tokens if t not in text]
    twice = [t for t in tokens if text.count(t) > 1]
    assert not missing and not twice, f"missing {missing[:5]}, duplicated {twice[:5]} in {text[:300]!r}"
    assert len(text) == sum(map(len, tokens)), "the text holds something no client inserted"


async def converged(clients, tokens: list[str], timeout: float = DEADLINE) -> str:
    """Wait until every client holds every token once and all texts are equal; return the text."""

    def done() -> bool:
        texts = {text_of(c) for c in clients}
        return len(texts) == 1 and all(t in next(iter(texts)) for t in tokens)

    try:
        await eventually(done, timeout, "every client to converge")
    except AssertionError:
        for c in clients:
            print(c.url, text_of(c)[:300], file=sys.stderr)
        raise
    text = text_of(clients[0])
    assert_each_once(text, tokens)
    return text


def write(client, label: str, count: int, start: int = 0) -> list[str]:
    """Insert ``count`` tokens into the client's text, alternately at the start and at the end."""
    text = client.doc.get("t", type=Text)
    tokens = [f"<{label}:{i}>" for i in range(start, start + count)]
    for i, token in enumerate(tokens):
        text.insert(0 if i % 2 else len(text), token)
    return tokens


async def start_relays(relay_process, redis: RedisServer, count: int, *args: str):
    return await asyncio.gather(*(relay_process("--redis-url", redis.url, *args) for _ in range(count)))


async def two_clients_each(relays, connect, room: str) -> list:
    """Two synced clients of ``room`` on every relay, in relay order."""
    clients = [await connect(r.url + room) for r in relays for _ in range(2)]
    await asyncio.gather(*(c.wait_synced() for c in clients))
    return clients


async def health(relay) -> tuple[int, dict]:
    status, body = await http_get(relay.url.replace("ws://", "http://") + "health")
    return status, json.loads(body)


async def test_three_relays_converge_without_duplicates_and_a_new_relay_loads_the_room(
    redis_server, relay_process, connect
):
    relays = await start_relays(relay_process, redis_server, 3)
    clients = await two_clients_each(relays, connect, "shared")
    # Every client edits before it has received anything from the others: all edits are concurrent.
    tokens = [tok for i, c in enumerate(clients) for tok in write(c, f"c{i}", 25)]
    for i, c in enumerate(clients):
        c.doc.get("m", type=Map)[f"k{i}"] = i
    text = await converged(clients, tokens)
    await eventually(lambda: all(len(c.doc.get("m", type=Map)) == 6 for c in clients), DEADLINE, "map keys")

    # Presence crosses relays too.
    clients[0].awareness.set_local_state({"user": "c0"})
    await clients[5].wait_for(lambda: clients[0].awareness.client_id in clients[5].awareness.states, DEADLINE)

    late_relay = await relay_process("--redis-url", redis_server.url)
    late = await connect(late_relay.url + "shared")
    await late.wait_synced()
    assert text_of(late) == text
    assert dict(late.doc.get("m", type=Map)) == {f"k{i}": float(i) for i in range(6)}
    status, body = await health(late_relay)
    assert status == 200 and body["redis"] == "connected" and body["status"] == "ok"


async def test_sigkill_of_a_relay_mid_edit_its_clients_reconnect_elsewhere_and_nothing_is_lost(
    redis_server, relay_process, connect
):
    relays = await start_relays(relay_process, redis_server, 3)
    clients = await two_clients_each(relays, connect, "crash")
    tokens = [tok for i, c in enumerate(clients) for tok in write(c, f"c{i}", 10)]
    await converged(clients, tokens)

    # Edits in flight everywhere, then relay 1 dies without a word.
    tokens += [tok for i, c in enumerate(clients) for tok in write(c, f"c{i}", 10, start=10)]
    relays[1].proc.send_signal(signal.SIGKILL)
    orphans = clients[2:4]
    for orphan in orphans:
        await orphan.wait_closed(DEADLINE)
    # Edits meanwhile: on the living relays, and in the orphans' documents (offline).
    tokens += [tok for i, c in enumerate(clients) for tok in write(c, f"c{i}", 5, start=20)]

    # The orphans reconnect to relay 0 with the documents they hold (acknowledged or not).
    survivors = [clients[0], clients[1], clients[4], clients[5]]
    for orphan in orphans:
        await orphan.close()
        if orphan._sender is not None and orphan._sender.done() and not orphan._sender.cancelled():
            orphan._sender.exception()  # the relay died while it was sending: expected, and seen here
        survivors.append(await connect(relays[0].url + "crash", doc=orphan.doc))
    await asyncio.gather(*(c.wait_synced() for c in survivors))
    tokens += [tok for i, c in enumerate(survivors) for tok in write(c, f"s{i}", 5)]
    text = await converged(survivors, tokens)

    fresh = await connect(relays[2].url + "crash")
    await fresh.wait_synced()
    assert text_of(fresh) == text


async def test_relays_keep_serving_through_a_redis_outage_and_resynchronise(redis_server, relay_process, connect):
    relays = await start_relays(relay_process, redis_server, 2)
    a, a2 = await connect(relays[0].url + "outage"), await connect(relays[0].url + "outage")
    b = await connect(relays[1].url + "outage")
    clients = [a, a2, b]
    await asyncio.gather(*(c.wait_synced() for c in clients))
    tokens = write(a, "a", 5) + write(b, "b", 5)
    await converged(clients, tokens)

    await redis_server.kill()
    killed_at = asyncio.get_running_loop().time()
    tokens += write(a, "a", 5, start=5) + write(b, "b", 5, start=5)
    for relay in relays:

        async def unreachable(relay=relay) -> bool:
            status, body = await health(relay)
            return status == 503 and body["redis"] == "unreachable" and body["status"] == "degraded"

        deadline = asyncio.get_running_loop().time() + DEADLINE
        while not await unreachable():
            assert asyncio.get_running_loop().time() < deadline, "/health never said Redis is unreachable"
            await asyncio.sleep(0.05)
    # Clients of one relay still see each other's edits; edits go on on both sides for a few seconds
    # (the relays retry meanwhile).
    await a2.wait_for(lambda: "<a:9>" in text_of(a2), DEADLINE)
    round_ = 0
    while asyncio.get_running_loop().time() - killed_at < 3.0:
        tokens += write(a2, "a2", 2, start=2 * round_) + write(b, "b", 2, start=10 + 2 * round_)
        await a.wait_for(lambda r=round_: f"<a2:{2 * r + 1}>" in text_of(a), DEADLINE)
        round_ += 1
        await asyncio.sleep(0.1)  # pace the edits: a poll until the outage has lasted 3 s

    await redis_server.start()  # empty: it lost the log, the relays write their rooms again
    await converged(clients, tokens)
    for relay in relays:
        await eventually(lambda r=relay: r.stderr.count("reachable again") == 1, DEADLINE, "recovery logged")
        assert relay.stderr.count("unreachable (") == 1, relay.stderr
        status, body = await health(relay)
        assert status == 200 and body["redis"] == "connected"

    late_relay = await relay_process("--redis-url", redis_server.url)
    late = await connect(late_relay.url + "outage")
    await late.wait_synced()
    assert_each_once(text_of(late), tokens)


async def redis_reported(relay, status: int, redis: str, deadline: float) -> float:
    """Poll ``/health`` until it answers ``status`` with ``redis`` as the Redis state; return the loop
    time it did (fail at loop time ``deadline``)."""
    loop = asyncio.get_running_loop()
    while True:
        code, body = await health(relay)
        if code == status and body["redis"] == redis:
            assert body["status"] == ("ok" if status == 200 else "degraded"), body
            return loop.time()
        assert loop.time() < deadline, f"/health still says {code} {body} (wanted {status}, redis {redis})"
        await asyncio.sleep(0.02)  # polling /health, bounded by the deadline above


async def test_a_redis_that_stops_answering_is_reported_within_the_timeout_and_nothing_is_lost(
    redis_server, relay_process, connect
):
    timeout = 1.5
    relays = [  # the timeout as a flag, and from the environment
        await relay_process("--redis-url", redis_server.url, "--redis-timeout", str(timeout)),
        await relay_process("--redis-url", redis_server.url, env={"RTC_RELAY_REDIS_TIMEOUT": str(timeout)}),
    ]
    clients = await two_clients_each(relays, connect, "stall")
    tokens = [tok for i, c in enumerate(clients) for tok in write(c, f"c{i}", 5)]
    await converged(clients, tokens)
    for relay in relays:
        assert (await health(relay))[0] == 200

    loop = asyncio.get_running_loop()
    os.kill(redis_server.proc.pid, signal.SIGSTOP)
    stopped_at = loop.time()
    try:
        # Nobody writes: the hang must be seen anyway, like a refused connection, within the timeout + 1 s.
        seen = await asyncio.gather(
            *(redis_reported(r, 503, "unreachable", stopped_at + timeout + 1.0) for r in relays)
        )
        assert max(seen) - stopped_at < timeout + 1.0
        # Clients edit on both relays during the stall; those of one relay still see each other.
        tokens += [tok for i, c in enumerate(clients) for tok in write(c, f"c{i}", 5, start=5)]
        await clients[1].wait_for(lambda: "<c0:9>" in text_of(clients[1]), DEADLINE)
        await clients[3].wait_for(lambda: "<c2:9>" in text_of(clients[3]), DEADLINE)
        # Hold the stall past the longest blocked read (XREAD blocks 5 s, its socket waits the timeout
        # more): every loop must have given up on its call, not wait on it forever.
        while loop.time() - stopped_at < 5.0 + timeout + 0.5:
            tokens += write(clients[0], "s0", 1, start=len(tokens)) + write(clients[2], "s2", 1, start=len(tokens))
            await asyncio.sleep(0.5)  # pacing the edits during the stall, bounded by the loop condition
    finally:
        os.kill(redis_server.proc.pid, signal.SIGCONT)

    await converged(clients, tokens)
    for relay in relays:
        await redis_reported(relay, 200, "connected", loop.time() + DEADLINE)
        assert relay.stderr.count("unreachable (") == 1, relay.stderr
        assert relay.stderr.count("reachable again") == 1, relay.stderr
    # Presence crosses the relays again.
    clients[0].awareness.set_local_state({"user": "after the stall"})
    await clients[3].wait_for(
        lambda: clients[3].awareness.states.get(clients[0].awareness.client_id, {}).get("user") == "after the stall",
        DEADLINE,
    )

    late_relay = await relay_process("--redis-url", redis_server.url)
    late = await connect(late_relay.url + "stall")
    await late.wait_synced()
    assert_each_once(text_of(late), tokens)


async def test_the_log_stays_compacted_and_a_relay_that_missed_trimmed_entries_reads_the_snapshot(
    redis_server, relay_process, connect
):
    from redis.asyncio import Redis

    from rtc_relay.redis_log import parse_id

    relays = await start_relays(relay_process, redis_server, 2, "--compact-after-bytes", "4000")
    a, b = await connect(relays[0].url + "long"), await connect(relays[1].url + "long")
    await asyncio.gather(a.wait_synced(), b.wait_synced())
    tokens = write(a, "a", 20) + write(b, "b", 20)
    await converged([a, b], tokens)

    redis = Redis.from_url(redis_server.url)
    try:
        # Relay 1 stops reading (SIGSTOP) while relay 0 goes on and compacts the log until entries
        # written after the stop are trimmed (compaction keeps the last 2 s): when relay 1 resumes,
        # it must take what it missed from the snapshot. Its last read may still bring the first
        # entries added after the stop (Redis answers a blocked XREAD at once, with what one turn of
        # its loop appended), so the test waits until the third distinct newest entry seen after the
        # stop is gone. "After the stop" is after the newest entry at the stop: on a loaded machine
        # relay 0 may append the writes made before it later, and the first entry seen would be one
        # relay 1 had read.
        at_stop = await redis.xrevrange("rtc:{long}:log", count=1)
        floor = parse_id(at_stop[0][0]) if at_stop else (0, 0)
        relays[1].proc.send_signal(signal.SIGSTOP)
        try:
            seen: list[tuple[int, int]] = []  # distinct ids of the newest entry, after the stop
            deadline = asyncio.get_running_loop().time() + 2 * DEADLINE
            round_ = 1
            while True:
                tokens += write(a, "a", 10, start=10 * round_ + 10)
                round_ += 1
                await a.wait_for(lambda: not a._outgoing, DEADLINE)
                newest = await redis.xrevrange("rtc:{long}:log", count=1)
                if newest and parse_id(newest[0][0]) > max([floor, *seen]):
                    seen.append(parse_id(newest[0][0]))
                first = await redis.xrange("rtc:{long}:log", count=1)
                if len(seen) >= 3 and first and parse_id(first[0][0]) > seen[2]:
                    break
                assert asyncio.get_running_loop().time() < deadline, "the entries written meanwhile were never trimmed"
                await asyncio.sleep(0.05)  # pace the writer: polling a condition, with the deadline above
        finally:
            relays[1].proc.send_signal(signal.SIGCONT)
        await converged([a, b], tokens)
        await eventually(lambda: "applying the snapshot" in relays[1].stderr, DEADLINE, "the snapshot applied")

        for round_ in range(10):
            tokens += write(b, "b", 20, start=20 * round_ + 20)
            await converged([a, b], tokens)
        length = await redis.xlen("rtc:{long}:log")
        assert length < 100, f"{length} log entries left for {len(tokens)} edits"
    finally:
        await redis.aclose()

    late_relay = await relay_process("--redis-url", redis_server.url)
    late = await connect(late_relay.url + "long")
    await late.wait_synced()
    assert_each_once(text_of(late), tokens)


async def test_a_relay_that_cannot_reach_redis_refuses_to_start():
    url = f"redis://127.0.0.1:{free_port()}/0"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtc_relay",
        "--port",
        "0",
        "--redis-url",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    assert proc.returncode == 1
    assert b"listening" not in out
    message = err.decode()
    assert f"cannot reach Redis at {url}" in message and "not starting" in message, message


def test_redis_url_and_store_exclude_each_other_and_need_a_redis_scheme(capsys):
    from rtc_relay.cli import main

    assert main(["--redis-url", "redis://127.0.0.1:1/0", "--store", "memory"]) == 2
    assert "--store and --redis-url exclude each other" in capsys.readouterr().err
    assert main(["--redis-url", "http://127.0.0.1:1/0"]) == 2
    assert "must start with redis://" in capsys.readouterr().err
    assert main(["--redis-url", "redis://127.0.0.1:1/0", "--redis-timeout", "0"]) == 2
    assert "redis_timeout must be positive" in capsys.readouterr().err


async def test_rooms_with_slashes_and_braces_stay_distinct_across_relays_and_y_websocket_4_is_confirmed(
    redis_server, relay_process, connect, node_client
):
    """Room names become Redis keys (``rtc:{ROOM}:log``, a hash tag): any path must map to its own keys."""
    relays = await start_relays(relay_process, redis_server, 2)
    rooms = ["team/doc-1", "other/doc-1", "a}b", "a{b}:log", "é/✓ x"]
    clients = {room: await two_clients_each(relays, connect, room.replace(" ", "%20")) for room in rooms}
    tokens = {room: write(cs[0], room, 3) + write(cs[3], room + "'", 3) for room, cs in clients.items()}
    for room, cs in clients.items():
        await converged(cs, tokens[room])
    v4 = await node_client(relays[0].url, "team/doc-1", version="4")
    await v4.wait_synced(DEADLINE)
    await v4.request({"cmd": "insert", "name": "t", "index": 0, "text": "<v4>"})
    await clients["team/doc-1"][3].wait_for(lambda: "<v4>" in text_of(clients["team/doc-1"][3]), DEADLINE)
    confirmed = {"localUpdatesSynced": True, "status": "green"}
    await v4.request({"cmd": "wait_sync_status", "equals": confirmed, "timeout": DEADLINE}, DEADLINE + 1)
    # A relay that starts now loads each room from its own keys.
    late = await relay_process("--redis-url", redis_server.url)
    for room in rooms:
        reader = await connect(late.url + room.replace(" ", "%20"))
        await reader.wait_synced()
        assert_each_once(text_of(reader).replace("<v4>", ""), tokens[room])
