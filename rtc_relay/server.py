"""The relay: a listening socket, its connections, its rooms and its store.

Use it as ``async with Relay(config) as relay: await relay.serve_forever()``.
Entering the block opens the store and starts listening (``relay.port`` is then
the bound port, useful with port 0); leaving it stops accepting, closes every
connection with ``GOING_AWAY``, compacts the rooms that changed, and flushes and
closes the store, so nothing accepted is lost.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from urllib.parse import urlsplit

from .catalogue import CloseCode
from .config import RelayConfig, is_loopback
from .connection import Connection
from .http import Request
from .manager import RoomManager
from .metrics import Metrics
from .outbox import Flusher
from .store import Store, open_store
from .tasks import TaskSet
from .websocket import OP_PING, frame

__all__ = ["Relay"]

log = logging.getLogger("rtc_relay")

_PING = frame(b"", OP_PING)
_SHUTDOWN_GRACE = 2.0  # seconds clients get to answer the close frame at shutdown


class Relay:
    """One relay process's worth of rooms, served on one TCP port."""

    def __init__(self, config: RelayConfig | None = None, *, store: Store | None = None) -> None:
        self.config = config or RelayConfig()
        self.config.check()
        self.store: Store = store if store is not None else open_store(self.config.store_spec())
        self.metrics = Metrics()
        self.connections: set[Connection] = set()
        self.started = time.time()
        self._tasks = TaskSet()
        self._server: asyncio.Server | None = None
        self._serving = False
        self._drained = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop
        self.flusher: Flusher
        self.rooms: RoomManager

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Relay:
        self.loop = asyncio.get_running_loop()
        self.flusher = Flusher(self.loop)
        await self.store.__aenter__()
        self.rooms = RoomManager(
            store=self.store,
            metrics=self.metrics,
            flusher=self.flusher,
            tasks=self._tasks,
            cleanup_delay=self.config.cleanup_delay,
            compact_after_bytes=self.config.compact_after_bytes,
        )
        try:
            self._server = await self.loop.create_server(
                lambda: Connection(self), self.config.host, self.config.port, backlog=1024, reuse_address=True
            )
        except BaseException:
            await self.store.__aexit__(None, None, None)
            raise
        self._serving = True
        self._tasks.spawn(self._keepalive(), name="keepalive")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        await asyncio.Event().wait()

    async def stop(self) -> None:
        """Stop accepting, close every connection (1001), compact changed rooms, flush the store."""
        if not self._serving:
            return
        self._serving = False
        assert self._server is not None
        self._server.close()
        for conn in list(self.connections):
            conn.shutdown()
        if self.connections:
            self._drained.clear()
            try:  # clients answer our close frame; the grace period bounds the wait
                await asyncio.wait_for(self._drained.wait(), _SHUTDOWN_GRACE)
            except asyncio.TimeoutError:
                for conn in list(self.connections):
                    conn.abort()
        self.rooms.stop()
        await self._tasks.stop()
        await self.store.__aexit__(None, None, None)
        log.info("relay stopped; store flushed")

    @property
    def port(self) -> int:
        """The TCP port the relay listens on."""
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        """Base websocket URL of the relay (append a room name)."""
        host = self.config.host
        return f"ws://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def forget(self, conn: Connection) -> None:
        """Called by a connection once it is closed."""
        self.connections.discard(conn)
        if not self.connections:
            self._drained.set()

    # -- policy ---------------------------------------------------------------------

    def access(self, request: Request) -> str | None:
        """``"write"``, ``"read"``, or ``None`` (refused) for a websocket request."""
        cfg = self.config
        if not cfg.token and not cfg.read_token:
            return "write"
        token = request.param("token")
        if token is None:
            scheme, _, value = request.header("authorization").partition(" ")
            if scheme.lower() in ("bearer", "token"):
                token = value.strip()
        if not token:
            return None
        if any(hmac.compare_digest(token.encode(), t.encode()) for t in cfg.token):
            return "write"
        if any(hmac.compare_digest(token.encode(), t.encode()) for t in cfg.read_token):
            return "read"
        return None

    def origin_allowed(self, origin: str) -> bool:
        """Whether a browser at ``origin`` may connect (see ``--allow-origin``)."""
        if not origin:
            return True
        allowed = self.config.allow_origin
        if allowed:
            return "*" in allowed or origin in allowed
        if self.config.token or self.config.read_token:
            return True
        return is_loopback(urlsplit(origin).hostname or "")

    # -- observability ----------------------------------------------------------------

    def client_count(self) -> int:
        """Websocket connections currently in a room."""
        return sum(1 for conn in self.connections if conn.room is not None)

    def health(self) -> tuple[bool, dict[str, object]]:
        ok = self._serving and self.store.healthy
        return ok, {
            "status": "ok" if ok else "unavailable",
            "serving": self._serving,
            "store": "ok" if self.store.healthy else "failing",
            "rooms": len(self.rooms),
            "clients": self.client_count(),
        }

    def render_metrics(self) -> str:
        return self.metrics.render(
            {
                "rooms": ("Rooms in memory.", lambda: len(self.rooms)),
                "clients": ("Websocket clients in rooms.", self.client_count),
                "store_bytes": ("Size of the store (bytes on disk, or in memory).", self.store.size_bytes),
                "store_backlog_bytes": (
                    "Bytes accepted and not yet written to the store.",
                    lambda: self.store.backlog_bytes,
                ),
                "uptime_seconds": ("Seconds since the relay started.", lambda: round(time.time() - self.started, 3)),
            }
        )

    # -- keepalive ----------------------------------------------------------------------

    async def _keepalive(self) -> None:
        """Ping every client each ``ping_interval``; close those silent for ``idle_timeout``."""
        cfg = self.config
        while True:
            await asyncio.sleep(cfg.ping_interval)
            now = self.loop.time()
            for conn in list(self.connections):
                if conn.room is None:
                    continue
                if now - conn.last_seen > cfg.idle_timeout:
                    conn.close(CloseCode.TIMEOUT, "no message or pong for too long")
                else:
                    conn.send(_PING)
