"""One client connection: HTTP upgrade, websocket framing, and the hand-off to a room.

A :class:`Connection` is an ``asyncio.Protocol``: it runs on the transport's
callbacks with no task of its own. It reads the request head, answers ``/health``,
``/metrics`` and ``/api/rtc/rooms`` and refuses a websocket it will not upgrade (both in
:mod:`rtc_relay.http_answers`), hands a document API request (``/api/rtc/rooms/{room}/update`` or
``/json``) to a :class:`~rtc_relay.document_http.DocumentRequest`, or upgrades to a websocket and joins
a room. Frames are decoded as they arrive and each message is handed to the room synchronously; outgoing
frames are queued in ``outbox`` and written once per loop turn by the flusher.

Error handling: bad input from the client raises :class:`RelayError` inside the
connection, which closes this connection alone with the catalogued code and logs
one line naming the client, the room and the reason. An unexpected exception
closes it with ``INTERNAL_ERROR`` and logs the traceback. Nothing propagates to
the room's other connections.

Resource handling: the outbox is bounded by ``max_outbox`` (the bytes the kernel
would not take yet, beyond the largest message still on its way, which may be one
message bigger than the limit); past it the client is dropped as a slow consumer: what is
still queued for it is discarded, it leaves its room, and a close frame 4429 is
written behind what it has not read yet. The connection is kept
``SLOW_CONSUMER_GRACE`` seconds for the client to read up to that frame, then
dropped. Reading is paused while the room loads, so unread input stays in the
kernel's buffers.

Rate limits (:mod:`rtc_relay.limits`): a websocket upgrade from an address past
``connections_per_minute`` is answered with HTTP 429 and ``Retry-After`` (:mod:`rtc_relay.http_answers`);
a message past the connection's ``messages_per_second`` or ``bytes_per_second`` (beyond their burst)
closes it with ``RATE_LIMITED`` (4430) before the message is handled, and nothing more is read from it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sys
import time
from typing import TYPE_CHECKING

from .catalogue import CloseCode, RelayError
from .document_http import DocumentRequest, is_document_request
from .http import MAX_HEAD_BYTES, Request, parse_head, response
from .http_answers import answered
from .limits import AttemptRefusal, ConnectionThrottle
from .names import room_name_from_path
from .outbox import SLOW_CONSUMER_GRACE, coalesce
from .websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameParser,
    accept_key,
    close_frame,
    frame,
    parse_close,
)

if TYPE_CHECKING:
    from .room import Room
    from .server import Relay

__all__ = ["Connection"]

log = logging.getLogger("rtc_relay.connection")

_HANDSHAKE, _OPEN, _CLOSING, _CLOSED = range(4)
_DOCUMENT = 4  # a request of the document API, which its DocumentRequest answers
_CLOSE_GRACE = 2.0  # seconds to wait for the client's close frame before dropping the TCP connection
_ids = itertools.count(1)


class Connection(asyncio.Protocol):
    """A client of the relay, from TCP accept to close."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.id = next(_ids)
        self.label = f"#{self.id}"
        self.can_write = False
        self.remote = True
        self.keeps_room = True
        self.params: dict[str, str] = {}
        self.outbox: list[bytes] = []
        self.queued = False
        self._largest_unsent = 0  # bytes of the largest write since the transport's buffer was last empty
        self.last_seen = 0.0
        self.room: Room | None = None
        self.room_name: str | None = None
        self._state = _HANDSHAKE
        self._head: bytearray | None = bytearray()
        self._parser: FrameParser | None = None
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._admitted = False
        self.user: str | None = None  # from a signed token: shown in the room list, never from awareness
        self._expiry: asyncio.TimerHandle | None = None  # closes the connection when its token expires
        self._early: list[bytes] = []  # messages that arrived while the room was loading
        self._document: DocumentRequest | None = None
        self._throttle: ConnectionThrottle | None = None  # its rate limits, once upgraded (None: unlimited)
        self._refusal: AttemptRefusal | None = None  # a refused websocket attempt waiting for its 429

    def __repr__(self) -> str:
        return f"<Connection {self.label} room={self.room.name if self.room else None!r}>"

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.label = f"#{self.id} {peer[0]}:{peer[1]}"
        loop = asyncio.get_running_loop()
        self.last_seen = loop.time()
        self._timer = loop.call_later(self.relay.config.handshake_timeout, self._handshake_timeout)
        self.relay.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self._state == _OPEN or self._state == _CLOSING:
            self._frames(data)
        elif self._state == _HANDSHAKE:
            self._handshake(data)
        elif self._state == _DOCUMENT:
            self._document.feed(data)  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state != _CLOSED:
            self._state = _CLOSED
            if self._parser is not None:
                self.relay.metrics.closed["disconnected"] += 1
                log.info("%s room %r: disconnected%s", self.label, self.room_name, f" ({exc})" if exc else "")
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._refusal is not None:  # a refused attempt gone before its 429
            self._refusal = None
            self.relay.attempts.answered()
        self._finish()

    # -- handshake -----------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        head = self._head
        assert head is not None
        head += data
        end = head.find(b"\r\n\r\n")
        if end < 0 or end > MAX_HEAD_BYTES:  # (a head too large may arrive whole, in one read)
            if len(head) > MAX_HEAD_BYTES:
                self._reply(431, b"request head too large\n")
            return
        rest = bytes(head[end + 4 :])
        self._head = None
        try:
            request = parse_head(bytes(head[:end]))
        except ValueError as exc:
            log.info("%s: bad HTTP request: %s", self.label, exc)
            self._reply(400, b"bad request\n")
            return
        relay = self.relay
        if is_document_request(request):  # GET or POST /api/rtc/rooms/{room}/update, GET …/json
            self._state = _DOCUMENT
            if self._timer is not None:  # the request's body has its own timeout
                self._timer.cancel()
                self._timer = None
            assert self._transport is not None
            self._document = DocumentRequest(relay, request, self._transport, self.label)
            self._document.begin(rest)
        elif not answered(self, request):  # plain HTTP answers, refused websockets (rtc_relay.http_answers)
            self._upgrade(request)
            if rest and self._state == _OPEN:
                self._frames(rest)

    def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8", **headers: str) -> None:
        assert self._transport is not None
        self._transport.write(response(status, body, content_type, **headers))
        self._transport.close()
        self._state = _CLOSED

    def _upgrade(self, request: Request) -> None:
        assert self._transport is not None
        relay = self.relay
        self._transport.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(request.header('sec-websocket-key'))}\r\n\r\n"
            ).encode()
        )
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._state = _OPEN
        self._parser = FrameParser(relay.config.max_message_size)
        self._throttle = ConnectionThrottle.for_config(relay.config, relay.loop.time())
        relay.metrics.connections_total += 1
        try:
            name = self.room_name = room_name_from_path(request.raw_path)
        except RelayError as exc:
            self.close(exc.code, exc.reason, detail=f"path {request.raw_path[:200]!r}")
            return
        try:
            grant = relay.access(request, name)
        except RelayError as exc:
            self.close(exc.code, exc.reason)
            return
        self.can_write = grant.access == "write"
        if grant.user:
            self.user = grant.user
            self.label = f"{self.label} {grant.user}"
        if grant.expires is not None:  # the token ends the connection when it expires
            self._expiry = relay.loop.call_later(max(0.0, grant.expires - time.time()), self._token_expired)
        self.params = {key: values[0] for key, values in request.query.items()}
        self._transport.pause_reading()  # until the room admits us
        self.room = relay.rooms.join(name, self)
        log.debug("%s joined room %r (%s)", self.label, name, grant.access)

    def _token_expired(self) -> None:
        self._expiry = None
        self.close(CloseCode.UNAUTHORIZED, "token expired")

    def _handshake_timeout(self) -> None:
        self._timer = None
        if self._state == _HANDSHAKE and self._transport is not None:
            log.info("%s: no complete HTTP request within %ss", self.label, self.relay.config.handshake_timeout)
            self._transport.abort()

    # -- frames ---------------------------------------------------------------------

    def _frames(self, data: bytes) -> None:
        relay = self.relay
        relay.metrics.bytes_in += len(data)
        now = self.last_seen = relay.loop.time()
        throttle = self._throttle
        try:
            frames = self._parser.feed(data, throttle.allowance(now) if throttle is not None else sys.maxsize)  # type: ignore[union-attr]
            for opcode, payload in frames:
                if self._state != _OPEN:
                    if opcode == OP_CLOSE and self._transport is not None:
                        self._transport.close()  # the client answered our close
                    continue
                if throttle is not None and opcode != OP_CLOSE:
                    over = throttle.over(len(payload), now)
                    if over is not None:
                        self.close(CloseCode.RATE_LIMITED, over, linger=False)
                        return
                if opcode == OP_BINARY:
                    if self._admitted:
                        self.room.receive(self, payload)  # type: ignore[union-attr]
                    else:
                        self._early.append(payload)
                elif opcode == OP_PING:
                    self.send(frame(payload, OP_PONG))
                elif opcode == OP_CLOSE:
                    self._closed_by_client(payload)
                elif opcode == OP_TEXT:
                    raise RelayError(CloseCode.UNSUPPORTED_DATA, "text frames are not supported")
        except RelayError as exc:
            self.close(exc.code, exc.reason)
        except Exception:
            self._internal_error()

    def _internal_error(self) -> None:
        """Our code raised while handling the client's message: the client is not to blame."""
        log.exception(
            "%s room %r: internal error (a bug in the server, not in the client's message) while handling a message",
            self.label,
            self.room_name,
        )
        self.close(CloseCode.INTERNAL_ERROR, "internal error")

    def _closed_by_client(self, payload: bytes) -> None:
        code, reason = parse_close(payload)
        self.relay.metrics.closed["client"] += 1
        log.debug("%s room %r: client closed (%d %s)", self.label, self.room_name, code, reason)
        self._state = _CLOSED
        self.flush_outbox()
        assert self._transport is not None
        self._transport.write(close_frame(code) if code != 1005 else frame(b"", OP_CLOSE))
        self._transport.close()
        self._finish()

    # -- the room's side (Peer) -----------------------------------------------------------

    def attached(self) -> None:
        """Called by the room once it admitted us: replay what came early, resume reading."""
        self._admitted = True
        early, self._early = self._early, []
        try:
            for payload in early:
                if self._state != _OPEN:
                    return
                self.room.receive(self, payload)  # type: ignore[union-attr]
        except RelayError as exc:
            self.close(exc.code, exc.reason)
            return
        except Exception:
            self._internal_error()
            return
        if self._state == _OPEN and self._transport is not None:
            self._transport.resume_reading()

    def send(self, data: bytes) -> None:
        """Queue one framed message; it is written at the end of this loop turn."""
        self.relay.flusher.queue(self, data)

    def flush_outbox(self) -> None:
        """Write the outbox in one go, or drop the client if it stopped reading."""
        outbox = self.outbox
        if not outbox:
            return
        transport = self._transport
        if self._state != _OPEN or transport is None:
            outbox.clear()
            return
        backlog = transport.get_write_buffer_size()
        if backlog == 0:
            self._largest_unsent = 0
        limit = self.relay.config.max_outbox
        # The largest message still on its way is not held against the client: one message bigger than
        # the limit (a large room's first sync) takes as long as it takes; what queues up behind it counts.
        if backlog - self._largest_unsent > limit:
            outbox.clear()  # what was not sent yet reaches the client when it syncs again
            self.close(
                CloseCode.SLOW_CONSUMER,
                f"more than {limit} bytes unread",
                detail=f"{backlog} bytes unread",
                grace=SLOW_CONSUMER_GRACE,
            )
            return
        chunks = coalesce(outbox)
        outbox.clear()
        for chunk in chunks:
            transport.write(chunk)
            self._largest_unsent = max(self._largest_unsent, len(chunk))
            self.relay.metrics.bytes_out += len(chunk)

    def close(
        self, code: CloseCode, reason: str, *, detail: str = "", grace: float = _CLOSE_GRACE, linger: bool = True
    ) -> None:
        """Close with a catalogued ``code``; ``reason`` goes to the client, ``detail`` only to the log.

        The close frame goes behind everything already written; the TCP connection is dropped if the
        client has not answered it within ``grace`` seconds. ``linger=False`` (a client over its rate
        limits): nothing more is read from the client, and the TCP connection is closed once the close
        frame is written.
        """
        if self._state != _OPEN:
            return
        level = logging.INFO if code in (CloseCode.NORMAL, CloseCode.GOING_AWAY) else logging.WARNING
        log.log(
            level,
            "%s room %r: closing with %d %s: %s%s",
            self.label,
            self.room_name,
            int(code),
            code.name.lower(),
            reason,
            f" ({detail})" if detail else "",
        )
        self.relay.metrics.closed[code.name.lower()] += 1
        self.flush_outbox()
        self._state = _CLOSING
        assert self._transport is not None
        self._transport.write(close_frame(code, reason))
        if linger:
            self._transport.resume_reading()  # to see the client's close frame
        else:
            self._transport.pause_reading()
            self._transport.close()  # once the close frame is written
        self._timer = self.relay.loop.call_later(grace, self._transport.abort)
        self._leave_room()

    def shutdown(self) -> None:
        """The relay is stopping: close with GOING_AWAY, or drop a connection still in its handshake."""
        if self._state == _OPEN:
            self.close(CloseCode.GOING_AWAY, "the relay is shutting down")
        elif self._state == _HANDSHAKE:
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection now."""
        if self._transport is not None:
            self._transport.abort()

    def _leave_room(self) -> None:
        room, self.room = self.room, None
        if room is not None:
            self.relay.rooms.leave(room, self)

    def _finish(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
        self._leave_room()
        self.outbox.clear()
        self.relay.forget(self)
