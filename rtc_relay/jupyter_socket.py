"""The room websocket of rtc_relay inside jupyter_server (``/api/collaboration/room/{room}``): one
:class:`RoomWebsocketHandler` per client, the relay's peer for it; :class:`OpenSockets`, those open, closed
with 1001 when the extension stops. See :mod:`rtc_relay.jupyter` for identity, permissions, flow control and
rate limits.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from rtc_common.browsers import browser_key
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketHandler

from .catalogue import CloseCode, RelayError
from .core import RelayCore
from .limits import ConnectionThrottle
from .names import check_room_name
from .outbox import coalesce
from .room import Room

__all__ = ["AWARENESS_EVENTS", "OpenSockets", "RoomWebsocketHandler", "conflicting_extension"]

log = logging.getLogger("rtc_relay.jupyter")
_ids = itertools.count(1)

SETTINGS_KEY = "rtc_relay"
AWARENESS_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/awareness/v1"
SOCKETS_KEY = "rtc_relay_sockets"
_STOP_GRACE = 2.0  # seconds clients get to answer the close frame (1001) when the server stops


class OpenSockets:
    """The room websockets currently open, so that stopping the server can close them (1001)."""

    def __init__(self) -> None:
        self._open: set[RoomWebsocketHandler] = set()
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, handler: RoomWebsocketHandler) -> None:
        self._open.add(handler)
        self._empty.clear()

    def discard(self, handler: RoomWebsocketHandler) -> None:
        self._open.discard(handler)
        if not self._open:
            self._empty.set()

    async def close_all(self, grace: float) -> None:
        """Close every socket with 1001 and wait up to ``grace`` seconds for the clients to answer."""
        for handler in list(self._open):
            handler.close(CloseCode.GOING_AWAY, "the server is shutting down")
        try:
            await asyncio.wait_for(self._empty.wait(), grace)
        except asyncio.TimeoutError:
            log.info("%d room websocket(s) did not answer the close frame within %ss", len(self._open), grace)


def conflicting_extension(serverapp) -> str | None:
    """The name of an enabled extension that serves the same endpoints, if any."""
    enabled = getattr(serverapp, "jpserver_extensions", {}) or {}
    return "jupyter_server_ydoc" if enabled.get("jupyter_server_ydoc") else None


class RoomWebsocketHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One client of a room, over tornado (implements :class:`rtc_relay.room.Peer`)."""

    auth_resource = "contents"
    remote = True
    keeps_room = True

    def initialize(self) -> None:
        self.id = next(_ids)
        self.label = f"#j{self.id}"
        self.can_write = False
        self.params: dict[str, str] = {}
        self.user: str | None = None
        self.browser: str | None = None  # the page's browser, by its Jupyter cookies (rtc_common.browsers)
        self.outbox: list[bytes] = []
        self.queued = False
        self.room: Room | None = None
        self.room_name = ""
        self._admitted = False
        self._admission: asyncio.Future[None] | None = None  # set once the room admitted us (or we closed)
        self._unwritten = 0  # bytes handed to the stream and not yet on the wire
        self._writes: deque[int] = deque()  # their sizes, oldest first (tornado finishes writes in order)
        self._closing = False
        self._throttle: ConnectionThrottle | None = None

    @property
    def core(self) -> RelayCore:
        return self.settings[SETTINGS_KEY]

    @property
    def max_message_size(self) -> int:
        return self.core.config.max_message_size

    @property
    def ping_interval(self) -> float:
        """Milliseconds between keep-alive pings (Jupyter's ping loop): ``ServerApp.websocket_ping_interval``
        (seconds) when set, else Jupyter's ``ws_ping_interval`` default (30 s)."""
        seconds = self.settings.get("websocket_ping_interval")
        return seconds * 1000 if seconds else super().ping_interval

    @property
    def ping_timeout(self) -> float:
        """Milliseconds without a pong after which the client is dropped (and its presence removed):
        ``ServerApp.websocket_ping_timeout`` (seconds) when set, else Jupyter's default."""
        seconds = self.settings.get("websocket_ping_timeout")
        return seconds * 1000 if seconds else super().ping_timeout

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """The room name from the path, bytes that are not UTF-8 kept as surrogate escapes: the room
        refuses them with 4400 and a reason (tornado would answer a bare 400 before the upgrade).
        Query arguments (``name`` given) are decoded as tornado does."""
        if name is not None:
            return super().decode_argument(value, name)
        return value.decode("utf-8", "surrogateescape")

    def set_default_headers(self) -> None:
        """Websockets take none of JupyterHandler's default headers."""

    def get_compression_options(self) -> None:
        return None  # frames are built once and written as bytes: no per-connection compression

    @ws_authenticated
    async def get(self, *args: str, **kwargs: str) -> None:
        user = self.current_user
        if not await ensure_async(self.authorizer.is_authorized(self, user, "read", "contents")):
            raise web.HTTPError(403, "contents:read is required to join a room")
        self.can_write = bool(await ensure_async(self.authorizer.is_authorized(self, user, "write", "contents")))
        core = self.core
        await core.ensure_started()
        if not await self._attempt_allowed(core):
            return
        self.room_name = args[0] if args else ""  # the whole path: a/x and b/x are not the same room
        self.user = getattr(user, "username", None) or None  # Jupyter's, shown in the room list
        self.label = f"#j{self.id} {self.request.remote_ip} {getattr(user, 'username', user)}"
        self.params = {key: self.get_argument(key) for key in self.request.query_arguments}
        self.browser = browser_key(self.request.headers.get("Cookie"))  # see Room.release_fenced
        await super().get(*args, **kwargs)

    async def _attempt_allowed(self, core: RelayCore) -> bool:
        """Count a websocket attempt of the client's address; past ``connections_per_minute``, answer 429
        (after the refusal's delay)."""
        refusal = core.attempts.check(self.request.remote_ip or "", core.loop.time())
        if refusal is None:
            return True
        if refusal.delay:
            try:
                await asyncio.sleep(refusal.delay)
            finally:
                core.attempts.answered()
        self.set_status(429)
        self.set_header("Retry-After", str(refusal.retry_after))
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(refusal.message)
        return False

    def open(self, *args: str, **kwargs: str) -> None:
        super().open()  # Jupyter's ping loop
        # Frames are already batched once per loop turn; Nagle would only hold a reply back
        # until the client acknowledges the previous write (up to its 40 ms delayed ACK).
        self.set_nodelay(True)
        core = self.core
        core.metrics.connections_total += 1
        self._throttle = ConnectionThrottle.for_config(core.config, core.loop.time())
        self.settings[SOCKETS_KEY].add(self)
        try:
            check_room_name(self.room_name)
        except RelayError as exc:
            self.close(exc.code, exc.reason, detail=f"path {self.request.path[:200]!r}")
            return
        self.room = core.rooms.join(self.room_name, self)

    def on_message(self, message: str | bytes) -> asyncio.Future[None] | None:
        """Handle one message; until the room admits us, an awaitable that ends once it is handled
        (tornado reads no further frame meanwhile: that is what bounds a loading room's input)."""
        if self._closing:
            return None
        throttle = self._throttle
        if throttle is not None:
            over = throttle.over(len(message), self.core.loop.time())
            if over is not None:
                self.close(CloseCode.RATE_LIMITED, over)
                return None
        if not self._admitted:
            if self._admission is None:
                self._admission = asyncio.get_running_loop().create_future()
            return asyncio.ensure_future(self._after_admission(message))
        self._handle(message)
        return None

    async def _after_admission(self, message: str | bytes) -> None:
        assert self._admission is not None
        await self._admission
        if self._admitted and self.room is not None and not self._closing:
            self._handle(message)

    def _handle(self, message: str | bytes) -> None:
        self.core.metrics.bytes_in += len(message)
        try:
            if isinstance(message, str):
                raise RelayError(CloseCode.UNSUPPORTED_DATA, "text frames are not supported")
            self.room.receive(self, message)  # type: ignore[union-attr]
        except RelayError as exc:
            self.close(exc.code, exc.reason)
        except Exception:
            log.exception(
                "%s room %r: internal error (a bug in the server, not in the client's message) while handling "
                "a message",
                self.label,
                self.room_name,
            )
            self.close(CloseCode.INTERNAL_ERROR, "internal error")

    def on_close(self) -> None:
        if not self._closing:
            self.core.metrics.closed["disconnected" if self.close_code is None else "client"] += 1
        self._leave()
        self.settings[SOCKETS_KEY].discard(self)

    # -- Peer ---------------------------------------------------------------------------

    def attached(self) -> None:
        self._admitted = True
        self._admit_waiting()
        self._emit_awareness("join")

    def _emit_awareness(self, action: str) -> None:
        """jupyter-collaboration's awareness event (a user joined or left a room), for its listeners."""
        logger = self.settings.get("event_logger")
        if logger is None:
            return
        user = self.current_user
        name = getattr(user, "username", None) or str(user)
        try:
            logger.emit(schema_id=AWARENESS_EVENTS, data={"roomid": self.room_name, "username": name, "action": action})
        except Exception:
            log.exception("%s: emitting the awareness %s event failed", self.label, action)

    def _admit_waiting(self) -> None:
        """Let the message tornado is waiting on go on (handled if we are still open)."""
        if self._admission is not None and not self._admission.done():
            self._admission.set_result(None)

    def send(self, data: bytes) -> None:
        self.core.flusher.queue(self, data)

    def flush_outbox(self) -> None:
        outbox = self.outbox
        if not outbox:
            return
        chunks = coalesce(outbox)
        outbox.clear()
        conn = self.ws_connection
        if conn is None or self._closing:
            return
        core = self.core
        limit = core.config.max_outbox
        # The write on the wire now is not held against the client: one message bigger than the limit
        # (a large notebook's first sync) takes as long as it takes; what queues up behind it counts.
        if self._unwritten - (self._writes[0] if self._writes else 0) > limit:
            unread = f"{self._unwritten} bytes unread"
            self.close(CloseCode.SLOW_CONSUMER, f"more than {limit} bytes unread", detail=unread)
            return
        for chunk in chunks:
            try:
                written = conn.stream.write(chunk)  # frames are pre-built: write them as they are
            except StreamClosedError:
                return
            size = len(chunk)
            self._unwritten += size
            self._writes.append(size)
            written.add_done_callback(lambda fut, size=size: self._wrote(fut, size))
            core.metrics.bytes_out += size

    def _wrote(self, fut: asyncio.Future[None], size: int) -> None:
        self._unwritten -= size
        if self._writes:
            self._writes.popleft()
        if not fut.cancelled():
            fut.exception()  # a closed stream is reported by on_close

    def close(self, code: int | None = None, reason: str | None = None, *, detail: str = "") -> None:  # type: ignore[override]
        """Close with a catalogued code (also tornado's close, which this extends); ``reason`` goes to the
        client, ``detail`` only to the log. What is queued for the client goes out before the close frame,
        except for a slow consumer (4429), whose queue is dropped: its frame goes behind what was already
        written."""
        if not self._closing and code is not None and code in CloseCode.__members__.values():
            name = CloseCode(code).name.lower()
            level = logging.INFO if code in (CloseCode.NORMAL, CloseCode.GOING_AWAY) else logging.WARNING
            log.log(
                level,
                "%s room %r: closing with %d %s: %s%s",
                self.label,
                self.room_name,
                code,
                name,
                reason,
                f" ({detail})" if detail else "",
            )
            self.core.metrics.closed[name] += 1
        if code != CloseCode.SLOW_CONSUMER:
            self.flush_outbox()
        self._closing = True
        self._leave()
        super().close(code, reason)

    def _leave(self) -> None:
        room, self.room = self.room, None
        if room is not None:
            self.core.rooms.leave(room, self)
            if self._admitted:
                self._emit_awareness("leave")
        self.outbox.clear()
        self._admit_waiting()
