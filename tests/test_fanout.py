"""Merged fan-out: the updates a room applies in one event-loop turn go out as one merged update.

Real clients: a raw websocket writing a burst of updates in one TCP write, the node y-websocket 1.x,
3.x and 4.0-candidate providers and a pycrdt client reading; y-websocket 4 still confirms its own
edits (sync-status green) when they come back merged; without echo a sender gets none of its own.
"""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Text

from helpers import masked_frame, raw_tcp_upgrade, read_frame
from test_limits import update_messages

pytestmark = pytest.mark.timeout(60)

UPDATE = (0, 2)
DEADLINE = 10.0
CONFIRMED = {"localUpdatesSynced": True, "status": "green"}
BURST = 200


async def test_a_burst_reaches_every_client_merged(relay, connect, node_client):
    room = "burst"
    nodes = {v: await node_client(relay.url, room, version=v) for v in ("1", "3", "4")}
    py = await connect(relay.url + room)
    await asyncio.gather(py.wait_synced(), *(n.wait_synced(DEADLINE) for n in nodes.values()))
    before = py.received.count(UPDATE)
    reader, writer = await raw_tcp_upgrade("127.0.0.1", relay.port, "/" + room)
    writer.write(b"".join(masked_frame(m) for m in update_messages(BURST)))  # one write: one loop turn
    await writer.drain()
    await py.wait_for(lambda: len(str(py.doc.get("t", type=Text))) == BURST, timeout=DEADLINE)
    await asyncio.gather(*(n.wait_text("t", "x" * BURST, DEADLINE) for n in nodes.values()))
    messages = py.received.count(UPDATE) - before
    assert messages < BURST / 4, f"{messages} update messages for {BURST} updates written at once"
    assert relay.metrics.updates_out >= BURST * 5 > relay.metrics.messages_out
    writer.close()

    # y-websocket 4: its edits of one tick come back merged (with others' or not), and it counts them confirmed.
    await nodes["4"].request({"cmd": "insert_many", "name": "t", "index": 0, "text": "4", "count": 50})
    await nodes["4"].request({"cmd": "wait_sync_status", "equals": CONFIRMED, "timeout": DEADLINE}, DEADLINE + 1)
    final = "4" * 50 + "x" * BURST
    await py.wait_for(lambda: str(py.doc.get("t", type=Text)) == final, timeout=DEADLINE)
    await asyncio.gather(*(n.wait_text("t", final, DEADLINE) for n in nodes.values()))


async def test_without_echo_a_burst_does_not_come_back_to_its_sender(start_relay, connect):
    relay = await start_relay(echo=False)
    other = await connect(relay.url + "quiet")
    await other.wait_synced()
    reader, writer = await raw_tcp_upgrade("127.0.0.1", relay.port, "/quiet")
    writer.write(masked_frame(b"\x00\x00\x01\x00"))  # SyncStep1: it receives live updates from now on
    writer.write(b"".join(masked_frame(m) for m in update_messages(BURST, "from-a ")))
    await writer.drain()
    await other.wait_for(lambda: len(str(other.doc.get("t", type=Text))) == 7 * BURST, timeout=DEADLINE)
    other.doc.get("t", type=Text).insert(0, "from-b")
    while True:  # the first update it gets is b's alone: an echo of its own would have come first
        opcode, payload = await asyncio.wait_for(read_frame(reader), DEADLINE)
        if opcode == 2 and payload[:2] == b"\x00\x02":
            break
    assert b"from-b" in payload and b"from-a" not in payload
    writer.close()
