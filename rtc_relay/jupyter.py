"""rtc_relay as a jupyter_server extension: the room websocket at ``/api/collaboration/room/{room}``.

This is the only module of ``rtc_relay`` that imports jupyter_server. Identity,
authorization and origin checks are Jupyter's own: joining a room needs
``contents:read``; a connection without ``contents:write`` is read-only at the
relay (its updates are dropped, it is told, its presence still shows). The
relay's :class:`~rtc_relay.core.RelayCore` is published in the tornado settings
under ``"rtc_relay"`` for other extensions (the supernode registers its document
policy there).

Resource handling: a client's messages that arrive while its room loads are not
buffered: :meth:`RoomWebsocketHandler.on_message` returns an awaitable until the
room admits it, and tornado reads the next frame only once that is done, so unread
input stays in the kernel's buffers. A client that leaves more than ``max_outbox``
bytes unwritten behind the write in progress (which may be one message larger than
the limit) is a slow consumer: what is queued for it is dropped, it leaves its
room and gets the close frame 4429 behind what it has not read (tornado drops the
connection if the client does not answer within 5 s). When the extension stops,
every room websocket is closed with 1001 (going away).

Rate limits (:mod:`rtc_relay.limits`): a message past the connection's ``messages_per_second`` or
``bytes_per_second`` (beyond their burst) closes it with 4430 (rate limited) before it is handled;
with ``connections_per_minute``, an upgrade from an address past it is answered with HTTP 429 (the
address is tornado's ``remote_ip``: behind a proxy, the proxy's unless ``trust_xheaders``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from collections import deque

from jupyter_core.paths import jupyter_data_dir
from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.application import ExtensionApp
from rtc_common.browsers import browser_key
from rtc_common.prometheus import add_source, remove_source
from rtc_common.schema import schema_path
from rtc_common.server_log import join_server_log
from rtc_common.server_signals import restore_sigint, stop_cleanly_on_sigint
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketHandler
from traitlets import Bool, Float, Int, List, Unicode

from .catalogue import CloseCode, RelayError
from .config import RelayConfig, setting_help
from .core import RelayCore
from .jupyter_documents import HANDLERS as DOCUMENT_HANDLERS
from .limits import ConnectionThrottle
from .listing import room_list
from .names import check_room_name
from .outbox import coalesce
from .room import Room
from .store import StoreUnavailable

__all__ = ["RelayExtension", "RoomListHandler", "RoomWebsocketHandler", "conflicting_extension"]

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


class RoomListHandler(APIHandler):
    """``GET /api/rtc/rooms``: the rooms in memory (``schema/room-list.json``); needs ``contents:read``."""

    auth_resource = "contents"

    @web.authenticated
    async def get(self) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", "contents")):
            raise web.HTTPError(403, "contents:read is required to list rooms")
        core: RelayCore = self.settings[SETTINGS_KEY]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(room_list(core)))


class RelayExtension(ExtensionApp):
    """Serves relay rooms inside jupyter_server."""

    name = "rtc_relay"

    store = Unicode(
        "",
        config=True,
        help="Where rooms persist: 'memory' or the path of an SQLite file; default: jupyter_rtc/rooms.sqlite "
        "in the Jupyter data dir. Document rooms are the projection of their files and are not stored by the relay.",
    )
    redis_url = Unicode(
        "",
        config=True,
        help="Share rooms with every relay (standalone or in other Jupyter servers) using this Redis, "
        "e.g. redis://HOST:6379/0: updates and presence fan out through it and the rooms the relay stores "
        "persist in it (instead of `store`). Document rooms stay with this server, which loads and saves "
        "their files. Needs the redis package (pip install 'jupyter-rtc[redis]').",
    )
    redis_timeout = Float(
        5.0,
        config=True,
        help="Seconds a Redis call may take before Redis counts as unreachable (with `redis_url`): a Redis that "
        "stops answering is reported like a refused connection within this plus half a second.",
    )
    cleanup_delay = Float(60.0, config=True, help="Seconds an empty room stays in memory before it is freed.")
    max_message_size = Int(
        1024**3, config=True, help="Largest message a client may send, in bytes (a notebook with big outputs is big)."
    )
    max_outbox = Int(
        256 * 1024**2,
        config=True,
        help="Bytes a client may leave unread before it is closed as a slow consumer (close code 4429).",
    )

    messages_per_second = Int(
        500,
        config=True,
        help="Messages a client may send per second, on average over `rate_burst` seconds; one that sends more "
        "is closed with 4430 (rate limited). 0: unlimited.",
    )
    bytes_per_second = Int(
        8 * 1024**2,
        config=True,
        help="Bytes a client may send per second, on average over `rate_burst` seconds (and never less than one "
        "`max_message_size` at once); one that sends more is closed with 4430 (rate limited). 0: unlimited.",
    )
    rate_burst = Float(
        10.0,
        config=True,
        help="Seconds of `messages_per_second` and `bytes_per_second` a client may send at once (a paste, a "
        "large notebook's first sync) before the per-second rates apply.",
    )
    connections_per_minute = Int(
        0,
        config=True,
        help="Room websocket attempts an address may make per minute (tornado's remote_ip); more are answered "
        "with HTTP 429. 0 (the default): unlimited (Jupyter authenticates every attempt, and behind a proxy "
        "such as JupyterHub's every user has the proxy's address).",
    )

    echo = Bool(
        True,
        config=True,
        help="Send each document update back to its sender too, as the reference y-websocket server does "
        "(y-websocket 4 reports a local edit confirmed, sync-status green, only once it comes back). False: "
        "updates go to the other clients only.",
    )

    webhook = List(Unicode(), config=True, help=setting_help("webhook"))
    webhook_secret = Unicode("", config=True, help=setting_help("webhook_secret"))
    webhook_debounce = Float(2.0, config=True, help=setting_help("webhook_debounce"))
    webhook_max_wait = Float(10.0, config=True, help=setting_help("webhook_max_wait"))
    webhook_timeout = Float(5.0, config=True, help=setting_help("webhook_timeout"))
    webhook_queue = Int(1000, config=True, help=setting_help("webhook_queue"))
    webhook_max_backoff = Float(30.0, config=True, help=setting_help("webhook_max_backoff"))

    def initialize_settings(self) -> None:
        join_server_log("rtc_relay", self.serverapp.log)
        stop_cleanly_on_sigint(self.serverapp)  # a hub stops servers with SIGINT: the store flushes first
        self._adopt_jc_cleanup_delay()
        store = self.store
        if self.redis_url:
            store = ""  # Redis is the store
        elif not store:
            folder = os.path.join(jupyter_data_dir(), "jupyter_rtc")
            os.makedirs(folder, exist_ok=True)
            store = os.path.join(folder, "rooms.sqlite")
        config = RelayConfig(
            store=store,
            redis_url=self.redis_url,
            redis_timeout=self.redis_timeout,
            cleanup_delay=self.cleanup_delay,
            max_message_size=self.max_message_size,
            max_outbox=self.max_outbox,
            echo=self.echo,
            **{name: getattr(self, name) for name in self.trait_names() if name.startswith("webhook")},
            messages_per_second=self.messages_per_second,
            bytes_per_second=self.bytes_per_second,
            rate_burst=self.rate_burst,
            connections_per_minute=self.connections_per_minute,
        )
        self.core = RelayCore(config)
        self.settings[SETTINGS_KEY] = self.core
        logger = self.serverapp.event_logger
        if AWARENESS_EVENTS not in set(getattr(logger.schemas, "schema_ids", ()) or ()):
            logger.register_event_schema(schema_path("events/jc-awareness.json"))
        add_source(self, self.core.metric_samples)  # in the server's /metrics, as jupyter_rtc_relay_*
        self.sockets = OpenSockets()
        self.settings[SOCKETS_KEY] = self.sockets

    def _adopt_jc_cleanup_delay(self) -> None:
        """jupyter-collaboration's ``YDocExtension.document_cleanup_delay`` when ours is not set (see
        :mod:`supernode.jc_settings`); its None (keep forever) becomes ten years."""
        ours = self.config.get(type(self).__name__)
        jc = self.config.get("YDocExtension")
        if not hasattr(jc, "get") or "document_cleanup_delay" not in jc:
            return
        if hasattr(ours, "get") and "cleanup_delay" in ours:
            return
        value = jc["document_cleanup_delay"]
        self.cleanup_delay = 10 * 365 * 86400.0 if value is None else float(value)
        log.info("jupyter-rtc: RelayExtension.cleanup_delay = %r, from YDocExtension.document_cleanup_delay", value)

    def initialize_handlers(self) -> None:
        other = conflicting_extension(self.serverapp)
        if other:
            log.error(
                "jupyter-rtc: %s is also enabled and serves the same /api/collaboration endpoints; "
                "%s serves them and jupyter-rtc stays off. Run `jupyter server extension disable %s` "
                "to use jupyter-rtc.",
                other,
                other,
                other,
            )
            return
        self.handlers.append((r"/api/collaboration/room/(.*)", RoomWebsocketHandler))
        self.handlers.append((r"/api/rtc/rooms", RoomListHandler))
        self.handlers.extend(DOCUMENT_HANDLERS)  # /api/rtc/rooms/{room}/update and /json

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        try:
            await self.core.ensure_started()
        except StoreUnavailable as exc:
            log.error("jupyter-rtc: %s; collaboration rooms are not served", exc)
            raise

    async def stop_extension(self) -> None:
        """Close every room websocket with 1001 (clients reconnect once the server is back), then free
        the rooms and flush the store."""
        restore_sigint(self.serverapp)
        await self.sockets.close_all(_STOP_GRACE)
        await self.core.stop()
        remove_source(self)
