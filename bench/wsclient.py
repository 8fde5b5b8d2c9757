"""One loadgen websocket connection on the raw asyncio Protocol API.

On open it sends a y-websocket SyncStep1 for an empty document. Incoming y-protocol update messages
are handed to ``sink(client, message, now)``; every other message is ignored except as a readiness
signal. Pings are answered (a relay may ping idle clients); a close is echoed.

Readiness (``ready`` future, ``ready_at`` = perf_counter seconds when the deciding bytes arrived):
- ``"step2"``: the relay answered the SyncStep1 with a sync step2 message (the real relay);
- ``"open"``:  the websocket upgrade succeeded (the baseline, which never answers SyncStep1);
- ``"pong"``:  a ping sent right after opening came back (baseline join time: a full round trip
  through the server's frame handling, the closest it has to "answering").

Client frames carry the mask bit with an all-zero key, so payloads are written unchanged.

Hocuspocus framing (``address`` set): every message, both ways, starts with ``varString(document)``;
on open the client sends an Auth message (empty token) before its SyncStep1, as @hocuspocus/provider
does, and messages for other documents are ignored. ``address`` is the document's name.
"""

from __future__ import annotations

import asyncio
from time import perf_counter
from collections.abc import Callable

from pycrdt import write_var_uint

from wsframe import OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, FrameReader, ProtocolError, encode_frame, new_client_key
from wshandshake import HandshakeError, build_request, check_response, split_head
from yproto import SYNC_STEP1_EMPTY, is_step2

_UPDATE_PREFIX = b"\x00\x02"
_STEP1_FRAME = encode_frame(OP_BINARY, SYNC_STEP1_EMPTY, mask=True)
_PING_FRAME = encode_frame(OP_PING, b"bench", mask=True)

Sink = Callable[["WsClient", bytes, float], None]
_AUTH_EMPTY_TOKEN = bytes([2, 0, 0])  # Auth message, token type, varString("")


def address_prefix(document: str) -> bytes:
    """The ``varString(document)`` Hocuspocus puts in front of every message."""
    name = document.encode()
    return write_var_uint(len(name)) + name


class WsClient(asyncio.Protocol):
    def __init__(
        self, host: str, port: int, path: str, ready_on: str, sink: Sink | None = None, address: str | None = None
    ) -> None:
        assert ready_on in ("step2", "open", "pong")
        self.prefix = address_prefix(address) if address is not None else b""
        self.host, self.port, self.path = host, port, path
        self.ready_on = ready_on
        self.sink = sink
        self.key = new_client_key()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.ready_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.reader: FrameReader | None = None  # None until the upgrade answer arrived
        self.head = b""
        self.closing = False
        self.unexpected_close = False
        self.error: str | None = None
        # Per-client receive bookkeeping owned by the traffic module (last seq seen per writer, ...).
        self.writer_index: int | None = None
        self.room_index = 0
        self.last_seq: dict[int, int] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(build_request(self.host, self.port, self.path, self.key))  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = perf_counter()
        if self.reader is None:
            self.head += data
            try:
                split = split_head(self.head)
                if split is None:
                    return
                head, data = split
                check_response(head, self.key)
            except HandshakeError as exc:
                self._fail(f"handshake: {exc}")
                return
            self.head = b""
            self.reader = FrameReader()
            if self.prefix:
                step1 = encode_frame(OP_BINARY, self.prefix + _AUTH_EMPTY_TOKEN, mask=True) + encode_frame(
                    OP_BINARY, self.prefix + SYNC_STEP1_EMPTY, mask=True
                )
            else:
                step1 = _STEP1_FRAME
            self.transport.write(step1 + _PING_FRAME if self.ready_on == "pong" else step1)
            if self.ready_on == "open":
                self._set_ready(now)
            if not data:
                return
        try:
            messages = self.reader.feed(data)
        except ProtocolError as exc:
            self._fail(f"framing: {exc}")
            return
        for opcode, message in messages:
            if opcode == OP_BINARY:
                if self.prefix:
                    if not message.startswith(self.prefix):
                        continue
                    message = message[len(self.prefix) :]
                if message[:2] == _UPDATE_PREFIX:
                    if self.sink is not None:
                        self.sink(self, message, now)
                elif self.ready_on == "step2" and is_step2(message):
                    self._set_ready(now)
            elif opcode == OP_PING:
                self.transport.write(encode_frame(OP_PONG, message, mask=True))
            elif opcode == OP_PONG:
                if self.ready_on == "pong":
                    self._set_ready(now)
            elif opcode == OP_CLOSE:
                if not self.closing:
                    self.unexpected_close = True
                    self.error = self.error or f"server closed the websocket: code {int.from_bytes(message[:2], 'big')} {message[2:120]!r}"
                    self.closing = True
                    self.transport.write(encode_frame(OP_CLOSE, message[:2], mask=True))
                self.transport.close()
                return

    def _set_ready(self, now: float) -> None:
        if not self.ready.done():
            self.ready_at = now
            self.ready.set_result(None)

    def _fail(self, reason: str) -> None:
        self.error = reason
        self.unexpected_close = True
        self.closing = True
        self._fail_ready(reason)
        self.transport.abort()

    def _fail_ready(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(reason))
            self.ready.exception()  # mark retrieved: the waiter may already have given up

    def close(self) -> None:
        """Start a clean close; the caller does not wait for the server's answer."""
        if self.closing or self.transport is None:
            return
        self.closing = True
        if self.reader is not None:
            self.transport.write(encode_frame(OP_CLOSE, b"\x03\xe8", mask=True))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closing:
            self.unexpected_close = True
            self.error = self.error or f"connection lost: {exc or 'EOF'}"
        self._fail_ready(self.error or "connection lost before ready")


async def connect(
    host: str, port: int, path: str, ready_on: str, sink: Sink | None, timeout: float, address: str | None = None
) -> WsClient:
    """Open one client and wait until it is ready (see module docstring).

    ``timeout`` (seconds) bounds TCP connect + upgrade + readiness together. Raises
    ``ConnectionError`` (refused, closed, bad handshake) or ``TimeoutError``; a half-open client is
    closed before raising.
    """
    loop = asyncio.get_running_loop()
    opened: list[WsClient] = []

    async def open_and_wait() -> WsClient:
        _, client = await loop.create_connection(lambda: WsClient(host, port, path, ready_on, sink, address), host, port)
        opened.append(client)
        await client.ready
        return client

    try:
        return await asyncio.wait_for(open_and_wait(), timeout)
    except BaseException:
        if opened:
            opened[0].close()
        raise
