"""The SQLite store fails under a real relay process: clients are told within a bounded time, nothing is lost.

Faults are real: another program holding the database's write lock (writes fail with
"database is locked"), and the store file made unreadable to the relay, which runs as an
unprivileged user (``setpriv``: root would ignore the permissions).
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import re
import shutil
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from helpers import close_code_of, eventually, http_get, raw_ws
from rtc_client import RelayClient
from rtc_relay import Relay, RelayConfig
from rtc_relay.sqlite_store import SQLiteStore


async def _health(url: str) -> tuple[int, dict]:
    status, body = await http_get(url.replace("ws://", "http://") + "health")
    return status, json.loads(body)


async def _metric(url: str, name: str) -> float:
    _, text = await http_get(url.replace("ws://", "http://") + "metrics")
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def _answer_to_save(room, request_id: int, timeout: float) -> tuple[str, float]:
    started = time.monotonic()
    room.save(request_id)
    deadline = started + timeout
    while time.monotonic() < deadline:
        for notice in room.notices:
            if notice.get("type") == "save" and notice.get("responseTo") == request_id:
                return notice["status"], time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError(f"save request {request_id} not answered within {timeout}s")


async def test_writes_failing_lose_nothing_and_every_client_is_answered(relay_process, tmp_path: Path):
    store = tmp_path / "rooms.sqlite"
    proc = await relay_process("--store", str(store))
    async with RelayClient(proc.url) as client:
        a = await client.join("held")
        b = await client.join("held")
        ta, tb = a.doc.get("t", type=Text), b.doc.get("t", type=Text)
        ta.insert(0, "before;")
        await b.wait_for(lambda: str(tb) == "before;")
        assert (await _answer_to_save(a, 1, 5))[0] == "success"

        # Another program takes the write lock and keeps it: every write of the relay fails.
        holder = sqlite3.connect(store, isolation_level=None, timeout=5)
        holder.execute("BEGIN IMMEDIATE")
        try:
            for i in range(600):  # many small updates: kept in memory, merged per room
                (ta if i % 2 else tb).insert(len(ta) if i % 2 else len(tb), f"{i};")
                if i % 50 == 0:
                    await asyncio.sleep(0.01)
            # Both documents (a's wait_for sees only a's changes: the last to converge may be b's).
            await eventually(lambda: str(ta) == str(tb) and "599;" in str(ta), 10, "both clients converged")

            async def degraded() -> bool:
                status, body = await _health(proc.url)
                return status == 503 and body["status"] == "degraded" and "locked" in body.get("store_error", "")

            deadline = time.monotonic() + 5
            while not await degraded():
                assert time.monotonic() < deadline, "the failing store never showed on /health"
                await asyncio.sleep(0.1)

            status, took = await _answer_to_save(b, 2, 10)
            assert status == "failed" and took < 4.0, (status, took)

            # Clients of the relay still see each other while the store fails.
            ta.insert(len(ta), "during;")
            await b.wait_for(lambda: str(tb).endswith("during;"))
            backlog = await _metric(proc.url, "rtc_relay_store_backlog_bytes")
            doc_size = len(a.doc.get_update())
            assert backlog < 4 * doc_size + 4096, (backlog, doc_size)  # merged, not one entry per update
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        recovered = time.monotonic()

        async def healthy() -> bool:
            return (await _health(proc.url))[0] == 200

        while not await healthy():
            assert time.monotonic() - recovered < 3.5, "writes did not resume within about 2 s"
            await asyncio.sleep(0.05)
        expected = str(ta)
        assert (await _answer_to_save(a, 3, 5))[0] == "success"
    await asyncio.sleep(3 - (time.monotonic() - recovered))  # the fault's scenario: a crash 3 s after recovery
    proc.proc.send_signal(signal.SIGKILL)
    await asyncio.wait_for(asyncio.to_thread(proc.proc.wait), 10)
    assert "writes fail" in proc.stderr and "succeed again" in proc.stderr

    again = await relay_process("--store", str(store))
    async with RelayClient(again.url) as client:
        c = await client.join("held")
        tc = c.doc.get("t", type=Text)
        await c.wait_for(lambda: str(tc) == expected, timeout=10)


@pytest.fixture
def unprivileged_dir():
    """A directory owned by ``nobody`` (the relay runs as that user), removed afterwards."""
    nobody = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="rtc-store-"))
    folder.chmod(0o755)
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    yield folder, nobody
    shutil.rmtree(folder, ignore_errors=True)


async def test_a_room_that_cannot_be_read_closes_its_joiner_with_4500_in_bounded_time(relay_process, unprivileged_dir):
    folder, nobody = unprivileged_dir
    store = folder / "rooms.sqlite"
    proc = await relay_process(
        "--store",
        str(store),
        "--cleanup-delay",
        "0.1",
        prefix=["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"],
    )
    async with RelayClient(proc.url) as client:
        room = await client.join("written")
        room.doc.get("t", type=Text).insert(0, "kept")
        assert (await _answer_to_save(room, 1, 5))[0] == "success"
        await room.close()

    # The relay's user can no longer reach the file (a descriptor SQLite keeps for reuse would hide a
    # change of the file's own permissions); its open writer is unaffected.
    folder.chmod(0)
    try:
        started = time.monotonic()
        ws = await raw_ws(proc.url + "never-loaded")
        assert await close_code_of(ws, timeout=10) == 4500
        assert time.monotonic() - started < 7.0
        assert "never-loaded" in proc.stderr and "retry (4500)" in proc.stderr
    finally:
        folder.chmod(0o755)

    async with RelayClient(proc.url) as client:  # readable again: the join succeeds, nothing was lost
        room = await client.join("written")
        text = room.doc.get("t", type=Text)
        await room.wait_for(lambda: str(text) == "kept")
        again = await client.join("never-loaded")
        await again.wait_synced()


async def test_a_store_writer_that_stops_is_reported_and_fails_its_waiters(start_relay, tmp_path: Path, caplog):
    relay = await start_relay(store=str(tmp_path / "rooms.sqlite"))
    async with RelayClient(relay.url) as client:
        room = await client.join("r")
        room.doc.get("t", type=Text).insert(0, "saved")
        assert (await _answer_to_save(room, 1, 5))[0] == "success"

        (writer,) = [t for t in asyncio.all_tasks() if t.get_name().startswith("sqlite writer")]
        writer.cancel()  # whatever ends the loop, it is not a shutdown
        await eventually(lambda: relay.store.tasks.failed, what="the writer's death to be recorded")
        ok, body = relay.health()
        assert not ok and body["status"] == "degraded" and "sqlite writer" in next(iter(body["stopped"]))
        assert "the writer stopped" in body["store_error"]
        assert any("background loop" in r.getMessage() and "stopped" in r.getMessage() for r in caplog.records)

        room.doc.get("t", type=Text).insert(5, " and more")
        status, took = await _answer_to_save(room, 2, 5)
        assert status == "failed" and took < 1.0, (status, took)


async def test_a_redis_loop_that_stops_is_reported_and_fails_its_waiters(start_relay, redis_server):
    relay = await start_relay(store="", redis_url=redis_server.url)
    async with RelayClient(relay.url) as client:
        room = await client.join("r")
        room.doc.get("t", type=Text).insert(0, "saved")
        assert (await _answer_to_save(room, 1, 5))[0] == "success"

        (writer,) = [t for t in asyncio.all_tasks() if t.get_name() == "redis writer"]
        writer.cancel()
        await eventually(lambda: relay.store.tasks.failed, what="the writer's death to be recorded")
        ok, body = relay.health()
        assert not ok and body["status"] == "degraded" and "redis writer" in body["stopped"]
        assert body["redis"] == "connected"  # Redis itself is fine: the loop is what stopped
        room.doc.get("t", type=Text).insert(5, " and more")
        status, took = await _answer_to_save(room, 2, 5)
        assert status == "failed" and took < 1.0, (status, took)


class _CompactionFails(SQLiteStore):
    """A real SQLite store whose compaction raises for room ``poison`` (the fault under test)."""

    def compact(self, room: str, snapshot: bytes) -> None:
        if room == "poison":
            raise RuntimeError("injected: compaction of poison fails")
        super().compact(room, snapshot)


async def test_a_room_that_fails_to_compact_costs_no_other_room_its_updates(tmp_path: Path, caplog):
    path = tmp_path / "rooms.sqlite"
    relay = Relay(RelayConfig(port=0, cleanup_delay=0.1), store=_CompactionFails(path))
    await relay.__aenter__()
    try:
        async with RelayClient(relay.url) as client:
            poison, good = await client.join("poison"), await client.join("good")
            poison.doc.get("t", type=Text).insert(0, "poisoned but kept")
            good.doc.get("t", type=Text).insert(0, "good")
            await poison.flush()
            await good.flush()
            await poison.close()  # freed after 0.1 s: its compaction fails, it is forgotten all the same
            await eventually(lambda: "poison" not in relay.rooms.rooms, what="the room freed")
            assert "compacting it as it is freed failed" in caplog.text
            again = await client.join("poison")
            text = again.doc.get("t", type=Text)
            await again.wait_for(lambda: str(text) == "poisoned but kept")
            good.doc.get("t", type=Text).insert(4, " and last")
            await good.flush()
    finally:
        await relay.stop()  # shutdown compacts every room: poison fails again, good's last update is written

    async with SQLiteStore(path) as store:
        for room, expected in (("good", "good and last"), ("poison", "poisoned but kept")):
            doc = Doc()
            for update in await store.load(room):
                doc.apply_update(update)
            assert str(doc.get("t", type=Text)) == expected
