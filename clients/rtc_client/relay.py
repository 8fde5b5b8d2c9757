"""A standalone relay (``python -m rtc_relay``) seen from a script: join rooms, list them, read its health.

Usage::

    async with RelayClient("ws://127.0.0.1:1234/", token=None) as relay:
        async with await relay.join("my-room") as room:     # a RoomClient, synced, reconnecting
            room.doc.get("t", type=Text).insert(0, "hello")
        print(await relay.rooms())

Resource handling: ``async with`` owns the HTTP client; rooms joined are owned by the caller.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .jupyter import join
from .rest import RestClient
from .room import RoomClient

__all__ = ["RelayClient"]


class RelayClient:
    """``url``: the relay's base URL (``ws://``, ``wss://``, ``http://`` or ``https://``); ``token``: a
    write or read-only token when the relay requires one."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url if url.endswith("/") else url + "/")
        secure = parts.scheme in ("wss", "https")
        self.ws_url = urlunsplit(("wss" if secure else "ws", parts.netloc, parts.path, "", ""))
        self.http_url = urlunsplit(("https" if secure else "http", parts.netloc, parts.path, "", ""))
        self.token = token
        self.rest = RestClient(self.http_url, token, timeout=timeout)

    async def __aenter__(self) -> RelayClient:
        await self.rest.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.rest.close()

    async def join(self, room: str, *, reconnect: bool = True, timeout: float = 10.0) -> RoomClient:
        """Join ``room`` and wait for its first sync."""
        return await join(self.ws_url + room, self.token, reconnect, timeout)

    async def rooms(self) -> list[dict[str, Any]]:
        """The rooms in memory: ``[{"name", "clients", "loaded"}]``."""
        _, answer, _ = await self.rest.request("GET", "api/rtc/rooms")
        return answer["rooms"]

    async def health(self) -> dict[str, Any]:
        """``GET /health`` (raises ``ServerFailure`` while the relay is unavailable)."""
        _, answer, _ = await self.rest.request("GET", "health")
        return answer
