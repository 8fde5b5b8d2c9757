"""Bad input closes only the offending connection, with a catalogued code and a log line."""

from __future__ import annotations

import logging

import pytest
from pycrdt import Text

from helpers import close_code_of, eventually, masked_frame, raw_tcp_upgrade, raw_ws, read_server_frames_until_close
from rtc_relay import CloseCode

GOOD_STEP1 = bytes((0, 0, 1, 0))


@pytest.mark.parametrize(
    ("message", "code", "logged"),
    [
        (bytes((9,)), CloseCode.BAD_MESSAGE, "unknown message type 9"),
        (bytes((0, 2, 50, 1)), CloseCode.BAD_MESSAGE, "truncated byte array"),
        (bytes((0, 2, 3, 0xFF, 0xFF, 0xFF)), CloseCode.BAD_MESSAGE, "update does not decode"),
        (bytes((0, 7, 0)), CloseCode.BAD_MESSAGE, "unknown sync message type 7"),
        (bytes((0, 0, 1, 0, 42)), CloseCode.BAD_MESSAGE, "trailing bytes"),
        (bytes((1, 5, 1, 2)), CloseCode.BAD_MESSAGE, "truncated"),
        (b"", CloseCode.BAD_MESSAGE, "truncated message"),
        ("a text frame", CloseCode.UNSUPPORTED_DATA, "text frames are not supported"),
    ],
)
async def test_a_bad_message_closes_only_its_connection(relay, connect, caplog, message, code, logged):
    caplog.set_level(logging.INFO, logger="rtc_relay")
    good = await connect(relay.url + "room")
    await good.wait_synced()
    bad = await raw_ws(relay.url + "room")
    await bad.send(GOOD_STEP1)
    await bad.send(message)
    assert await close_code_of(bad) == code
    assert any(logged in r.getMessage() and "room 'room'" in r.getMessage() for r in caplog.records), caplog.text

    # Nobody else is affected: the room still syncs, new clients join.
    other = await connect(relay.url + "room")
    await other.wait_synced()
    good.doc.get("t", type=Text).insert(0, "still fine")
    await other.wait_for(lambda: str(other.doc.get("t", type=Text)) == "still fine")


async def test_an_oversized_message_is_refused_before_it_is_buffered(start_relay, connect, caplog):
    relay = await start_relay(max_message_size=4096)
    bad = await raw_ws(relay.url + "room")
    await bad.send(bytes((0, 2)) + b"\x00" * 10_000)
    assert await close_code_of(bad) == CloseCode.MESSAGE_TOO_BIG
    assert "message_too_big" in caplog.text
    ok = await connect(relay.url + "room")
    await ok.wait_synced()


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (bytes((0x82, 0x01)) + b"\x00", "not masked"),
        (bytes((0xC2, 0x81)) + b"\x00\x00\x00\x00\x00", "reserved bits"),
        (bytes((0x83, 0x81)) + b"\x00\x00\x00\x00\x00", "unknown opcode"),
        (bytes((0x09, 0x80)) + b"\x00\x00\x00\x00", "fragmented or oversized control frame"),
        (bytes((0x80, 0x81)) + b"\x00\x00\x00\x00\x00", "continuation frame without a message"),
    ],
)
async def test_a_framing_violation_closes_with_protocol_error(relay, caplog, frame, why):
    reader, writer = await raw_tcp_upgrade("127.0.0.1", relay.port, "/room")
    writer.write(frame)
    assert await read_server_frames_until_close(reader) == CloseCode.PROTOCOL_ERROR
    assert why in caplog.text
    writer.close()


async def test_fragmented_messages_are_reassembled(relay, connect):
    watcher = await connect(relay.url + "room")
    await watcher.wait_synced()
    from pycrdt import Doc

    source = Doc()
    updates: list[bytes] = []
    source.observe(lambda e: updates.append(e.update))
    source.get("t", type=Text).insert(0, "sent in three fragments")
    from rtc_client.wire import var_uint8array

    message = bytes((0, 2)) + var_uint8array(updates[0])
    reader, writer = await raw_tcp_upgrade("127.0.0.1", relay.port, "/room")
    thirds = [message[:5], message[5:12], message[12:]]
    first = masked_frame(thirds[0], opcode=2, mask=b"\x01\x02\x03\x04")
    writer.write(bytes((first[0] & 0x7F,)) + first[1:])  # FIN cleared
    mid = masked_frame(thirds[1], opcode=0, mask=b"\x05\x06\x07\x08")
    writer.write(bytes((mid[0] & 0x7F,)) + mid[1:])
    writer.write(masked_frame(b"", opcode=9))  # a ping between fragments is allowed
    writer.write(masked_frame(thirds[2], opcode=0, mask=b"\x09\x0a\x0b\x0c"))
    await writer.drain()
    await watcher.wait_for(lambda: str(watcher.doc.get("t", type=Text)) == "sent in three fragments")
    writer.close()


async def test_an_invalid_room_name_is_refused(relay):
    ws = await raw_ws(relay.url + "bad%00room")
    assert await close_code_of(ws) == CloseCode.BAD_MESSAGE
    assert ws.protocol.close_rcvd.reason == "invalid room name: control character U+0000"


async def test_a_client_that_stops_reading_is_dropped_and_others_lose_nothing(start_relay, connect, caplog):
    relay = await start_relay(max_outbox=256 * 1024)
    writer = await connect(relay.url + "room")
    reader = await connect(relay.url + "room")
    await writer.wait_synced()
    await reader.wait_synced()
    # A client that joins, syncs, then never reads again.
    r, w = await raw_tcp_upgrade("127.0.0.1", relay.port, "/room")
    w.write(masked_frame(GOOD_STEP1))
    await w.drain()
    await eventually(lambda: len(relay.rooms.rooms["room"].subscribers) == 3, what="stuck client subscribed")

    text = writer.doc.get("t", type=Text)
    chunk = "y" * 20_000
    for i in range(400):  # 8 MB, far more than socket buffers plus the 256 KiB outbox
        text += chunk
        if i % 20 == 0:
            await writer.wait_for(lambda: not writer._outgoing, timeout=30)
    await eventually(lambda: relay.metrics.closed["slow_consumer"] == 1, timeout=30, what="slow consumer dropped")
    assert "slow_consumer" in caplog.text
    await reader.wait_for(lambda: len(str(reader.doc.get("t", type=Text))) == 400 * 20_000, timeout=60)
    w.close()


async def test_a_room_that_fails_to_load_does_not_affect_other_rooms(start_relay, connect, tmp_path):
    import sqlite3

    db = tmp_path / "relay.sqlite"
    relay = await start_relay(store=str(db))
    fine = await connect(relay.url + "fine")
    await fine.wait_synced()
    # Corrupt the stored history of room "broken" behind the relay's back.
    con = sqlite3.connect(db)
    con.execute("INSERT INTO updates (room, data) VALUES ('broken', x'ffffffff')")
    con.commit()
    con.close()

    victim = await connect(relay.url + "broken")
    assert await victim.wait_closed() == CloseCode.ROOM_ERROR
    assert "broken" not in relay.rooms.rooms  # the next join tries again
    again = await connect(relay.url + "broken")
    assert await again.wait_closed() == CloseCode.ROOM_ERROR

    other = await connect(relay.url + "fine")
    await other.wait_synced()
    fine.doc.get("t", type=Text).insert(0, "unaffected")
    await other.wait_for(lambda: str(other.doc.get("t", type=Text)) == "unaffected")
    ok, body = relay.health()
    assert ok, body
