"""Two or more real clients syncing through a real relay."""

from __future__ import annotations

import asyncio

from pycrdt import Text

from rtc_client import RoomClient

UPDATE = (0, 2)


async def test_two_clients_converge_both_ways_without_echo(start_relay, connect):
    relay = await start_relay(echo=False)  # with echo (the default): tests/test_echo.py
    a = await connect(relay.url + "room")
    b = await connect(relay.url + "room")
    await a.wait_synced()
    await b.wait_synced()
    ta = a.doc.get("t", type=Text)
    tb = b.doc.get("t", type=Text)

    ta += "hello from a"
    await b.wait_for(lambda: str(tb) == "hello from a")
    tb += " / b"
    await a.wait_for(lambda: str(ta) == "hello from a / b")
    await b.wait_for(lambda: str(tb) == "hello from a / b")

    # Each client received exactly the other's one update, never its own back.
    assert a.received.count(UPDATE) == 1
    assert b.received.count(UPDATE) == 1


async def test_late_joiner_gets_full_state_before_live_updates(relay, connect):
    a = await connect(relay.url + "late")
    await a.wait_synced()
    ta = a.doc.get("t", type=Text)
    for i in range(200):
        ta += f"{i},"
    stop = asyncio.Event()

    async def keep_typing() -> None:
        n = 0
        while not stop.is_set():
            ta.insert(0, "x")
            n += 1
            await asyncio.sleep(0)

    typer = asyncio.create_task(keep_typing())
    try:
        c = await connect(relay.url + "late")
        await c.wait_synced()
        tc = c.doc.get("t", type=Text)
        await c.wait_for(lambda: "199," in str(tc))
    finally:
        stop.set()
        await typer
    await c.wait_for(lambda: str(tc) == str(ta))
    sync_messages = [m for m in c.received if m[0] == 0]
    # The relay's own SyncStep1 may come first; the first message with content is the full state.
    content = [m for m in sync_messages if m[1] != 0]
    assert content[0] == (0, 1), sync_messages[:5]


async def test_concurrent_first_join_of_a_new_room_serves_every_client(relay):
    """Clients opening a room that does not exist yet, at the same instant, all sync (repeated)."""
    for attempt in range(40):
        name = f"race-{attempt}"
        clients = [RoomClient(relay.url + name) for _ in range(5)]
        await asyncio.gather(*(c.__aenter__() for c in clients))
        try:
            await asyncio.gather(*(c.wait_synced(timeout=5) for c in clients))
            texts = [c.doc.get("t", type=Text) for c in clients]
            for i, t in enumerate(texts):
                t += f"[{i}]"
            for c, t in zip(clients, texts, strict=True):
                await c.wait_for(lambda t=t: all(f"[{i}]" in str(t) for i in range(5)), timeout=5)
        finally:
            await asyncio.gather(*(c.close() for c in clients))


async def test_rooms_are_independent(relay, connect):
    a1 = await connect(relay.url + "one")
    b1 = await connect(relay.url + "one")
    a2 = await connect(relay.url + "two")
    for c in (a1, b1, a2):
        await c.wait_synced()
    a1.doc.get("t", type=Text).insert(0, "only in one")
    a2.doc.get("t", type=Text).insert(0, "only in two")
    await b1.wait_for(lambda: str(b1.doc.get("t", type=Text)) == "only in one")
    assert str(a2.doc.get("t", type=Text)) == "only in two"


async def test_jupyter_path_joins_the_same_room(relay, connect):
    base = relay.url.rstrip("/")
    a = await connect(f"{base}/json:notebook:abc-123")
    b = await connect(f"{base}/api/collaboration/room/json:notebook:abc-123")
    await a.wait_synced()
    await b.wait_synced()
    a.doc.get("t", type=Text).insert(0, "same room")
    await b.wait_for(lambda: str(b.doc.get("t", type=Text)) == "same room")


async def test_updates_sent_before_the_handshake_ends_are_kept(relay, connect):
    a = await connect(relay.url + "early")
    t = a.doc.get("t", type=Text)
    t += "typed before sync"  # queued right behind SyncStep1, before the relay answered
    await a.wait_synced()
    b = await connect(relay.url + "early")
    await b.wait_synced()
    await b.wait_for(lambda: str(b.doc.get("t", type=Text)) == "typed before sync")


async def test_save_request_is_answered_once_stored(relay, connect):
    a = await connect(relay.url + "save")
    await a.wait_synced()
    a.doc.get("t", type=Text).insert(0, "keep me")
    a.save(7)
    await a.wait_for(lambda: any(n.get("type") == "save" for n in a.notices))
    assert {"type": "save", "responseTo": 7, "status": "success"} in a.notices
