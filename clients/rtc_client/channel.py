"""Transports a :class:`RoomClient` runs over: a websocket, or any object with the same shape.

A channel carries whole y-protocol messages: ``await send(message)``, ``await recv()``
(raises once closed — :class:`~rtc_client.errors.ConnectionClosed` for a websocket), ``await close()``,
and ``close_code``/``close_reason`` once closed. The relay's in-process channel
(``RelayCore.open_local``) has the same shape.
"""

from __future__ import annotations

from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed as _WsClosed

from .errors import ConnectionClosed

__all__ = ["Channel", "WebsocketChannel"]

_CLOSE_TIMEOUT = 10.0  # seconds the closing handshake may take before the TCP connection is dropped


class Channel(Protocol):
    close_code: int | None
    close_reason: str

    async def send(self, message: bytes) -> None: ...

    async def recv(self) -> bytes: ...

    async def close(self) -> None: ...


class WebsocketChannel:
    """A websocket to a relay room (any ``ws://`` or ``wss://`` URL)."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.close_code: int | None = None
        self.close_reason = ""

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        keepalive: float | None = None,
        open_timeout: float = 10.0,
    ):
        """Open the websocket; ``token`` goes in an ``Authorization: Bearer`` header.

        ``keepalive`` (seconds): ping the server this often and drop the connection when a pong takes
        longer than that (a server that stopped answering, e.g. suspended or cut off, is noticed instead
        of waited on forever); None sends no pings. ``open_timeout`` (seconds) bounds the opening
        handshake; the closing handshake waits at most 10 s, or ``keepalive`` if shorter. Raises what websockets raises (a refused upgrade, a timeout, an OS error).
        """
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        ws = await connect(
            url,
            max_size=None,
            additional_headers=all_headers or None,
            ping_interval=keepalive,
            ping_timeout=keepalive,
            open_timeout=open_timeout,
            close_timeout=min(keepalive or _CLOSE_TIMEOUT, _CLOSE_TIMEOUT),
        )
        return cls(ws)

    async def send(self, message: bytes) -> None:
        try:
            await self._ws.send(message)
        except _WsClosed:
            self._note_close()
            raise ConnectionClosed(self.close_code, self.close_reason) from None

    async def recv(self) -> bytes:
        while True:
            try:
                message = await self._ws.recv()
            except _WsClosed:
                self._note_close()
                raise ConnectionClosed(self.close_code, self.close_reason) from None
            if isinstance(message, bytes):
                return message

    async def close(self) -> None:
        await self._ws.close()
        self._note_close()

    def _note_close(self) -> None:
        rcvd = self._ws.protocol.close_rcvd
        if rcvd is not None:
            self.close_code = rcvd.code
            self.close_reason = rcvd.reason
