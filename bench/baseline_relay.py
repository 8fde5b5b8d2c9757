"""Baseline for the relay benchmark: the cheapest websocket broadcast a Python relay could be.

asyncio ``Protocol`` API, hand-rolled RFC 6455 framing, no CRDT. A client opens ``GET /ROOMNAME``
(the room is the URL path without the query string); every binary message it sends is framed once as
an unmasked server frame and written, one ``transport.write`` per peer, to every OTHER open peer of
the same room. The payload is never parsed, so the baseline answers no y-websocket SyncStep1 and
keeps no history. Ping gets a pong; close gets a close echo and the connection ends. Text messages
are dropped (y-websocket uses binary only). No backpressure: closed-loop load keeps buffers bounded.

CLI: ``python bench/baseline_relay.py [--host 127.0.0.1] --port P`` prints
``listening on ws://HOST:P/`` once it accepts connections; exits 0 on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct

from wsframe import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, FrameReader, ProtocolError, encode_frame
from wshandshake import HandshakeError, build_reject, build_response, parse_request, split_head


class Peer(asyncio.Protocol):
    """One client connection: handshake first, then websocket frames. Owned by its ``rooms`` map."""

    def __init__(self, rooms: dict[str, set[Peer]], live: set[Peer]) -> None:
        self.rooms = rooms
        self.live = live  # every open connection, upgraded or not, so shutdown can end them all
        self.transport: asyncio.Transport | None = None
        self.room: set[Peer] | None = None
        self.room_name = ""
        self.head = b""
        self.reader: FrameReader | None = None  # None until the upgrade is done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.live.add(self)

    def data_received(self, data: bytes) -> None:
        if self.reader is None:
            data = self._handshake(data)
            if not data:
                return
        try:
            messages = self.reader.feed(data)  # type: ignore[union-attr]
        except ProtocolError:
            self._close(1002)
            return
        for opcode, payload in messages:
            if opcode == OP_BINARY:
                self._broadcast(payload)
            elif opcode == OP_PING:
                self.transport.write(encode_frame(OP_PONG, payload, mask=False))
            elif opcode == OP_CLOSE:
                self._close(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1000)
                return

    def _handshake(self, data: bytes) -> bytes:
        """Consume upgrade bytes; returns the bytes after the head once upgraded, else b""."""
        self.head += data
        try:
            split = split_head(self.head)
            if split is None:
                return b""
            head, rest = split
            path, headers = parse_request(head)
        except HandshakeError:
            self.transport.write(build_reject("400 Bad Request"))
            self.transport.close()
            return b""
        self.head = b""
        self.transport.write(build_response(headers["sec-websocket-key"]))
        self.reader = FrameReader()
        self.room_name = path.split("?", 1)[0].lstrip("/")
        self.room = self.rooms.setdefault(self.room_name, set())
        self.room.add(self)
        return rest

    def _broadcast(self, payload: bytes) -> None:
        frame = encode_frame(OP_BINARY, payload, mask=False)  # framed once for all peers
        for peer in self.room:  # type: ignore[union-attr]
            if peer is not self:
                peer.transport.write(frame)

    def _close(self, code: int) -> None:
        self._leave()
        self.transport.write(encode_frame(OP_CLOSE, struct.pack("!H", code), mask=False))
        self.transport.close()

    def _leave(self) -> None:
        if self.room is not None:
            self.room.discard(self)
            if not self.room:
                self.rooms.pop(self.room_name, None)
            self.room = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._leave()
        self.live.discard(self)


async def serve(host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT, then close the listener and every connection."""
    loop = asyncio.get_running_loop()
    rooms: dict[str, set[Peer]] = {}
    live: set[Peer] = set()
    # Large backlog: the idle scenario opens 1,000 connections in bursts.
    server = await loop.create_server(lambda: Peer(rooms, live), host, port, backlog=2048)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on ws://{host}:{port}/", flush=True)
    await stop.wait()
    server.close()
    for peer in list(live):
        peer.transport.abort()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
