"""A standalone relay (``python -m rtc_relay``) seen from a script: join rooms, list them, read its health.

Usage::

    async with RelayClient("ws://127.0.0.1:1234/", token=None) as relay:
        async with await relay.join("my-room") as room:     # a RoomClient, synced, reconnecting
            room.doc.get("t", type=Text).insert(0, "hello")
        print(await relay.rooms())

Resource handling: ``async with`` owns the HTTP client; rooms joined are owned by the caller.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .jupyter import join
from .rest import RestClient, quote_path
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

    async def document_update(self, room: str, state_vector: bytes | None = None) -> bytes:
        """Room ``room``'s document as one Yjs update (``GET /api/rtc/rooms/{room}/update``); with
        ``state_vector``, only what a peer at that state lacks."""
        params = None if state_vector is None else {"sv": base64.urlsafe_b64encode(state_vector).decode()}
        _, update, _ = await self.rest.request("GET", f"api/rtc/rooms/{quote_path(room)}/update", params=params)
        return update

    async def apply_update(self, room: str, update: bytes) -> None:
        """Apply a Yjs update to room ``room`` as a client's update (``POST /api/rtc/rooms/{room}/update``):
        its clients get it and it is stored. Raises ``BadRequest`` when it does not decode."""
        await self.rest.request("POST", f"api/rtc/rooms/{quote_path(room)}/update", update)

    async def document_json(self, room: str, types: dict[str, str] | None = None) -> dict[str, Any]:
        """Room ``room``'s top-level types as JSON (``GET /api/rtc/rooms/{room}/json``); ``types``: hints,
        root name → ``text``, ``array``, ``map`` or ``xml``, for roots whose type the relay cannot tell."""
        params = {"types": ",".join(f"{name}:{kind}" for name, kind in types.items())} if types else None
        _, answer, _ = await self.rest.request("GET", f"api/rtc/rooms/{quote_path(room)}/json", params=params)
        return answer

    async def health(self) -> dict[str, Any]:
        """``GET /health`` (raises ``ServerFailure`` while the relay is unavailable)."""
        _, answer, _ = await self.rest.request("GET", "health")
        return answer
