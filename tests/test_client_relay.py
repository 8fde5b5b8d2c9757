"""The Python client against a real standalone relay: rooms, errors, text positions, reconnection."""

from __future__ import annotations

import asyncio
import socket

import pytest
from pycrdt import Text

from rtc_client import ConnectionFailed, RelayClient, Unauthorized
from rtc_client.text import index_to_utf8, index_to_utf16, minimal_edit, utf16_length, utf16_to_index


def test_positions_convert_between_code_points_utf8_and_utf16():
    text = "aé😀中b"
    assert [index_to_utf8(text, i) for i in range(6)] == [0, 1, 3, 7, 10, 11]
    assert [index_to_utf16(text, i) for i in range(6)] == [0, 1, 2, 4, 5, 6]
    assert utf16_length(text) == 6
    assert [utf16_to_index(text, u) for u in (0, 1, 2, 4, 5, 6)] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="inside the character"):
        utf16_to_index(text, 3)  # between the two halves of the emoji
    with pytest.raises(ValueError, match="past the end"):
        utf16_to_index(text, 7)
    with pytest.raises(IndexError):
        index_to_utf8(text, 6)
    assert minimal_edit("héllo wörld", "héllo, wörld!") == (5, 11, ", wörld!")
    start, end, inserted = minimal_edit("ab😀cd", "ab😀Xcd")
    assert (start, end, inserted) == (3, 3, "X")


async def test_rooms_are_joined_listed_and_converge(relay):
    async with RelayClient(relay.url) as client:
        assert (await client.health())["status"] == "ok"
        a = await client.join("client-room")
        b = await client.join("client-room")
        try:
            a.doc.get("t", type=Text).insert(0, "héllo 😀 中文")
            tb = b.doc.get("t", type=Text)
            await b.wait_for(lambda: str(tb) == "héllo 😀 中文")
            rooms = await client.rooms()
            assert rooms == [{"name": "client-room", "clients": 2, "loaded": True, "users": []}]
        finally:
            await a.close()
            await b.close()


async def test_errors_name_what_went_wrong(start_relay):
    relay = await start_relay(token=["secret"], read_token=["reader"])
    async with RelayClient(relay.url) as anonymous:
        with pytest.raises(Unauthorized, match="a valid token is required") as refused:
            await anonymous.rooms()
        assert refused.value.status == 401
        with pytest.raises(Unauthorized, match="a valid token is required") as closed:
            await anonymous.join("r")
        assert closed.value.close_code == 4401
    async with RelayClient(relay.url, token="reader") as reader:
        room = await reader.join("r")
        try:
            await room.wait_for(lambda: room.access == "read")
            assert await reader.rooms() == [{"name": "r", "clients": 1, "loaded": True, "users": []}]
        finally:
            await room.close()

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with RelayClient(f"ws://127.0.0.1:{port}/") as nowhere:
        with pytest.raises(ConnectionFailed, match="cannot connect"):
            await nowhere.join("r")
        with pytest.raises(ConnectionFailed, match="cannot reach"):
            await nowhere.rooms()


async def test_a_client_reconnects_after_the_relay_restarts_and_converges_once(start_relay, tmp_path):
    """Both clients edit while the relay is down; after it is back each edit is there exactly once."""
    store = str(tmp_path / "relay.sqlite")
    relay = await start_relay(store=store)
    port = relay.port
    async with RelayClient(relay.url) as client:
        a = await client.join("again")
        b = await client.join("again")
        try:
            ta, tb = a.doc.get("t", type=Text), b.doc.get("t", type=Text)
            ta += "start 😀|"
            await b.wait_for(lambda: str(tb) == "start 😀|")

            await relay.stop()
            await a.wait_for(lambda: not a.connected.is_set())
            await b.wait_for(lambda: not b.connected.is_set())
            ta += "offline-a é|"  # edits while disconnected: kept locally, sent on reconnect
            tb.insert(0, "offline-b 中|")

            await start_relay(store=store, port=port)
            expected = {"start 😀|", "offline-a é|", "offline-b 中|"}
            for text in (ta, tb):
                room = a if text is ta else b
                await room.wait_for(lambda t=text: all(s in str(t) for s in expected), timeout=15)
            await a.wait_for(lambda: str(ta) == str(tb))
            assert len(str(ta)) == sum(len(s) for s in expected)  # nothing duplicated
            assert a.reconnects >= 1 and b.reconnects >= 1

            c = await client.join("again")  # a newcomer sees the same single copy, from the store
            try:
                tc = c.doc.get("t", type=Text)
                await c.wait_for(lambda: str(tc) == str(ta))
            finally:
                await c.close()
        finally:
            await a.close()
            await b.close()


async def test_presence_is_followed(relay):
    from rtc_client.presence import Presence

    async with RelayClient(relay.url) as client:
        a = await client.join("presence")
        b = await client.join("presence")
        try:
            pa, pb = Presence(a), Presence(b)
            follow = pb.follow()
            first = await asyncio.wait_for(follow.__anext__(), 5)
            assert pa.client_id not in first
            pa.set({"user": {"name": "Zoë 😀"}})

            async def until(predicate):
                async for states in follow:
                    if predicate(states):
                        return states

            seen = await asyncio.wait_for(until(lambda s: pa.client_id in s), 5)
            assert seen[pa.client_id] == {"user": {"name": "Zoë 😀"}}
            assert pb.others == {pa.client_id: {"user": {"name": "Zoë 😀"}}}
            await a.close()
            await asyncio.wait_for(until(lambda s: pa.client_id not in s), 5)
            await follow.aclose()
        finally:
            await a.close()
            await b.close()


async def test_a_refusal_after_reconnecting_is_final_and_named(start_relay):
    relay = await start_relay()
    port = relay.port
    async with RelayClient(relay.url) as client:
        room = await client.join("locked-later")
        try:
            await relay.stop()
            await start_relay(port=port, token=["now-needed"])  # the relay comes back requiring a token
            with pytest.raises(Unauthorized, match="a valid token is required"):
                await room.wait_for(lambda: False, timeout=15)
            assert room.closed.is_set() and room.close_code == 4401 and room.reconnects == 1
        finally:
            await room.close()
