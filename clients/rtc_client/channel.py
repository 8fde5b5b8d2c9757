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
    async def connect(cls, url: str, *, token: str | None = None, headers: dict[str, str] | None = None):
        """Open the websocket; ``token`` goes in an ``Authorization: Bearer`` header."""
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        ws = await connect(url, max_size=None, additional_headers=all_headers or None, ping_interval=None)
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
