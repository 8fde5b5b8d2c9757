"""The relay's clocks and limits on a connection: ``--idle-timeout``, ``--handshake-timeout``, and the
size of a request head. Each test runs a real relay on port 0 and talks to it over raw sockets."""

from __future__ import annotations

import asyncio

import pytest

from helpers import masked_frame, raw_tcp_upgrade, read_frame, read_server_frames_until_close
from rtc_relay import CloseCode

pytestmark = pytest.mark.timeout(30)

OP_PING, OP_PONG, OP_CLOSE = 0x9, 0xA, 0x8


async def dropped(reader: asyncio.StreamReader, deadline: float) -> float:
    """Wait (at most ``deadline`` s) until the relay ends the connection without a word; return the
    loop time it did. Anything the relay sends first fails the test."""
    try:
        data = await asyncio.wait_for(reader.read(1), deadline)
    except ConnectionResetError:
        data = b""
    assert data == b"", f"the relay answered {data!r} instead of dropping the connection"
    return asyncio.get_running_loop().time()


async def test_a_silent_client_is_closed_with_4408_and_one_that_answers_pings_stays(start_relay):
    idle, ping = 0.6, 0.1
    relay = await start_relay(idle_timeout=idle, ping_interval=ping)
    loop = asyncio.get_running_loop()
    started = loop.time()
    silent, silent_writer = await raw_tcp_upgrade("127.0.0.1", relay.port, "/quiet")
    lively, lively_writer = await raw_tcp_upgrade("127.0.0.1", relay.port, "/quiet")

    async def answer_pings() -> int:
        """Pong every ping for three idle timeouts; return how many pings came."""
        pings = 0
        while loop.time() - started < 3 * idle:
            opcode, payload = await read_frame(lively)
            assert opcode != OP_CLOSE, f"a client answering pings was closed: {payload!r}"
            if opcode == OP_PING:
                pings += 1
                lively_writer.write(masked_frame(payload, opcode=OP_PONG))
        return pings

    answering = asyncio.ensure_future(asyncio.wait_for(answer_pings(), 10))
    try:
        assert await read_server_frames_until_close(silent, 10) == CloseCode.TIMEOUT
        closed_after = loop.time() - started
        assert idle <= closed_after < idle + ping + 1.0, closed_after
        assert await answering >= 3 * idle / ping / 2  # pings kept coming, the answering client stayed
    finally:
        answering.cancel()
        silent_writer.close()
        lively_writer.close()
    assert relay.metrics.closed["timeout"] == 1


async def test_a_client_that_never_completes_the_upgrade_is_dropped_within_the_handshake_timeout(start_relay):
    timeout = 0.5
    relay = await start_relay(handshake_timeout=timeout)
    loop = asyncio.get_running_loop()
    opened = loop.time()  # (before the relay's clocks start)
    mute = await asyncio.open_connection("127.0.0.1", relay.port)  # sends nothing at all
    slow = await asyncio.open_connection("127.0.0.1", relay.port)  # sends a head that never ends
    slow[1].write(b"GET /room HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    async def trickle() -> None:
        while True:  # a header byte every 0.1 s: data must not restart the clock
            await asyncio.sleep(0.1)
            slow[1].write(b"X")

    trickling = asyncio.ensure_future(trickle())
    try:
        ends = await asyncio.gather(dropped(mute[0], timeout + 5), dropped(slow[0], timeout + 5))
    finally:
        trickling.cancel()
        for _, writer in (mute, slow):
            writer.close()
    for end in ends:
        assert timeout <= end - opened < timeout + 1.0, end - opened
    assert not relay.connections


@pytest.mark.parametrize("in_one_piece", [False, True], ids=["trickled", "in-one-piece"])
async def test_a_request_head_over_16_kib_is_answered_431(relay, in_one_piece):
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    head = b"GET /room HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * (17 * 1024)
    if in_one_piece:
        writer.write(head + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    else:
        for i in range(0, len(head), 4096):
            writer.write(head[i : i + 4096])
            await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert answer.endswith(b"request head too large\n")
