"""Rooms are freed when idle, survive restarts, and their stored history stays small."""

from __future__ import annotations

import signal
import sqlite3

import pytest
from pycrdt import Text

from helpers import eventually


def stored_rows(db, room: str) -> tuple[int, int]:
    """(row count, bytes) stored for ``room``, read with a connection closed right after."""
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT count(*), sum(length(data)) FROM updates WHERE room = ?", (room,)).fetchone()
    finally:
        con.close()


async def test_empty_room_is_freed_after_the_cleanup_delay(start_relay, connect):
    relay = await start_relay(cleanup_delay=0.3)
    a = await connect(relay.url + "idle")
    await a.wait_synced()
    a.doc.get("t", type=Text).insert(0, "x")
    await a.close()
    assert "idle" in relay.rooms.rooms
    await eventually(lambda: "idle" not in relay.rooms.rooms, timeout=5, what="room freed")
    assert relay.metrics.rooms_freed == 1
    # Its content is still there for the next client (memory store keeps it).
    b = await connect(relay.url + "idle")
    await b.wait_for(lambda: str(b.doc.get("t", type=Text)) == "x")


async def test_rejoining_within_the_cleanup_delay_keeps_the_room(start_relay, connect):
    relay = await start_relay(cleanup_delay=1.0)
    a = await connect(relay.url + "back")
    await a.wait_synced()
    room = relay.rooms.rooms["back"]
    await a.close()
    await eventually(lambda: room.cleanup is not None, what="cleanup scheduled")
    b = await connect(relay.url + "back")
    await b.wait_synced()
    assert room.cleanup is None and relay.rooms.rooms["back"] is room
    assert relay.metrics.rooms_opened == 1 and relay.metrics.rooms_freed == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_content_survives_a_relay_restart(relay_process, connect, tmp_path, sig):
    db = tmp_path / "relay.sqlite"
    first = await relay_process("--store", str(db))
    a = await connect(first.url + "doc")
    await a.wait_synced()
    text = a.doc.get("t", type=Text)
    for i in range(50):
        text += f"line {i}\n"
    b = await connect(first.url + "doc")
    await b.wait_for(lambda: "line 49" in str(b.doc.get("t", type=Text)))
    assert await first.stop(sig) == 0
    assert "relay stopped; store flushed" in first.stderr

    second = await relay_process("--store", str(db))
    c = await connect(second.url + "doc")
    await c.wait_synced()
    assert str(c.doc.get("t", type=Text)) == str(text)


async def test_store_stays_proportional_to_content_not_history(start_relay, connect, tmp_path):
    """100,000 edits of a 1,000-character text: the stored room is about the size of its content."""
    db = tmp_path / "relay.sqlite"
    relay = await start_relay(store=str(db), messages_per_second=0)  # 100,000 edits as fast as a script goes
    a = await connect(relay.url + "busy")
    await a.wait_synced()
    text = a.doc.get("t", type=Text)
    text += "0123456789" * 100
    edits = 100_000
    for i in range(edits // 2):
        text += "x"  # type at the end...
        del text[0]  # ...and delete at the start: the content keeps its size
        if i % 5000 == 0:
            await a.wait_for(lambda: not a._outgoing, timeout=30)
    b = await connect(relay.url + "busy")
    await b.wait_for(lambda: str(b.doc.get("t", type=Text)) == str(text), timeout=60)
    await relay.store.flush()
    rows, stored = stored_rows(db, "busy")
    history = edits * 20  # what 100,000 updates of ~20 bytes would take uncompacted
    assert stored < history / 5, (rows, stored)  # bounded by the compaction threshold
    await a.close()
    await b.close()
    await relay.stop()  # frees the room: one snapshot left
    rows, stored = stored_rows(db, "busy")
    assert rows == 1
    assert stored < 2 * 1000, stored  # ~1 KB of text
    assert db.stat().st_size < 64 * 1024, db.stat().st_size


async def test_compaction_keeps_updates_whose_dependencies_are_missing(start_relay, connect, tmp_path):
    """An update that cannot be integrated yet survives compaction and completes later."""
    from pycrdt import Doc

    source = Doc()
    st = source.get("t", type=Text)
    updates: list[bytes] = []
    sub = source.observe(lambda e: updates.append(e.update))
    st += "first "
    st += "second"
    source.unobserve(sub)
    first, second = updates

    db = tmp_path / "relay.sqlite"
    relay = await start_relay(store=str(db))
    a = await connect(relay.url + "gap")
    await a.wait_synced()
    from rtc_client.wire import var_uint8array

    a.send_raw(bytes((0, 2)) + var_uint8array(second))  # depends on `first`, not sent yet
    a.send_raw(bytes((0, 2)) + var_uint8array(b"\x00\x00"))
    a.save(1)
    await a.wait_for(lambda: a.notices)
    await relay.stop()  # compacts the room

    relay2 = await start_relay(store=str(db))
    observer = await connect(relay2.url + "gap")
    await observer.wait_synced()
    b = await connect(relay2.url + "gap")
    await b.wait_synced()
    b.send_raw(bytes((0, 2)) + var_uint8array(first))
    await observer.wait_for(lambda: str(observer.doc.get("t", type=Text)) == "first second")
