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
from urllib.parse import urlsplit

from .catalogue import CloseCode, RelayError
from .config import RelayConfig, is_loopback
from .connection import Connection
from .http import Request
from .core import RelayCore
from .store import Store
from .tokens import Grant, TokenError, is_signed, verify
from rtc_common.tasks import Ready
from .websocket import OP_PING, frame

__all__ = ["Relay"]

log = logging.getLogger("rtc_relay")

_PING = frame(b"", OP_PING)
_SHUTDOWN_GRACE = 2.0  # seconds clients get to answer the close frame at shutdown


class Relay(RelayCore):
    """One relay process's worth of rooms, served on one TCP port."""

    def __init__(self, config: RelayConfig | None = None, *, store: Store | None = None) -> None:
        super().__init__(config, store=store)
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._drained = asyncio.Event()

    # -- lifecycle ------------------------------------------------------------------

    async def __aenter__(self) -> Relay:
        await self.start()
        try:
            self._server = await self.loop.create_server(
                lambda: Connection(self), self.config.host, self.config.port, backlog=1024, reuse_address=True
            )
        except BaseException:
            await super().stop()
            raise
        await self.tasks.start(self._keepalive, "keepalive")
        return self

    async def serve_forever(self) -> None:
        """Serve until cancelled."""
        await asyncio.Event().wait()

    async def stop(self) -> None:
        """Stop accepting, close every connection (1001), compact changed rooms, flush the store."""
        if not self.serving:
            return
        if self._server is not None:
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
        await super().stop()
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

    def access(self, request: Request, room: str | None = None) -> Grant:
        """What the request's token (``?token=`` or ``Authorization: Bearer``) grants in ``room`` (None: in
        the room list, which then shows the rooms the grant covers).

        With no token configured, writing everywhere. A static ``--token``/``--read-token`` opens every
        room; a signed token (``--token-secret``, :mod:`rtc_relay.tokens`) its room or prefix until it
        expires. Raises :class:`RelayError` ``UNAUTHORIZED`` with the reason for the client.
        """
        cfg = self.config
        if not cfg.guarded:
            return Grant("write")
        token = request.param("token")
        if token is None:
            scheme, _, value = request.header("authorization").partition(" ")
            if scheme.lower() in ("bearer", "token"):
                token = value.strip()
        if not token:
            raise RelayError(CloseCode.UNAUTHORIZED, "a valid token is required")
        if cfg.token_secret and is_signed(token):
            try:
                return verify(cfg.token_secret, token, room)
            except TokenError as exc:
                raise RelayError(CloseCode.UNAUTHORIZED, exc.reason) from None
        if any(hmac.compare_digest(token.encode(), t.encode()) for t in cfg.token):
            return Grant("write")
        if any(hmac.compare_digest(token.encode(), t.encode()) for t in cfg.read_token):
            return Grant("read")
        raise RelayError(CloseCode.UNAUTHORIZED, "a valid token is required")

    def origin_allowed(self, origin: str) -> bool:
        """Whether a browser at ``origin`` may connect (see ``--allow-origin``)."""
        if not origin:
            return True
        allowed = self.config.allow_origin
        if allowed:
            return "*" in allowed or origin in allowed
        if self.config.guarded:
            return True
        return is_loopback(urlsplit(origin).hostname or "")

    # -- keepalive ----------------------------------------------------------------------

    async def _keepalive(self, ready: Ready) -> None:
        """Ping every client each ``ping_interval``; close those silent for ``idle_timeout``."""
        cfg = self.config
        ready()
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
