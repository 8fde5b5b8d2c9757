"""Room documents over HTTP, transport-free: read one as a Yjs update or as JSON, apply an update to it.

Each call joins the room as an in-process client (:class:`~rtc_relay.local.LocalChannel`) for as long as
it takes and speaks the y-protocol like any client, so an update applied here is applied, fanned out to
the room's clients (and, with Redis, to the other relays' clients through the shared log) and stored
exactly as a websocket client's is. A room not in memory is loaded (from its policy and the store) and,
once the call is done and nobody else is in it, freed after the cleanup delay like any idle room.

Error handling: every failure is an :class:`~rtc_common.rest_errors.ApiError` of the catalogue: a name that
is no room name, an update or state vector that does not decode → ``bad_request`` (nothing applied or
stored); a room whose policy refuses to load it (4404) → ``not_found``; a room that cannot be loaded
now (its store failing, or not loaded within ``LOAD_TIMEOUT`` seconds) or a relay stopping → ``unavailable``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from rtc_common.rest_errors import ApiError

from .catalogue import CloseCode, RelayError
from .doc_json import document_json
from .lib0 import read_var_uint8array, var_uint8array
from .local import ChannelClosed, LocalChannel
from .names import check_room_name

if TYPE_CHECKING:
    from .core import RelayCore
    from .room import Room

__all__ = ["LOAD_TIMEOUT", "RoomDocuments", "decode_state_vector"]

LOAD_TIMEOUT = 30.0  # seconds a call waits for its room to load
_STEP1, _STEP2, _UPDATE = b"\x00\x00", b"\x00\x01", b"\x00\x02"


class RoomDocuments:
    """The documents of ``core``'s rooms, for the HTTP API of both transports."""

    def __init__(self, core: RelayCore) -> None:
        self._core = core

    async def update(self, name: str, state_vector: bytes | None = None) -> bytes:
        """Room ``name``'s document as one update: all of it, or what a peer at ``state_vector`` lacks
        (with the updates still waiting for their dependencies, as a client syncing gets them)."""
        async with self._joined(name) as (channel, _room):
            await self._send(channel, _STEP1 + var_uint8array(b"\x00" if state_vector is None else state_vector))
            while True:
                try:
                    message = await channel.recv()
                except ChannelClosed as exc:  # the room was freed or failed meanwhile
                    raise ApiError("unavailable", f"the room closed the request: {exc.reason}") from None
                if message[:2] == _STEP2:
                    return read_var_uint8array(message, 2)[0]

    async def apply(self, name: str, update: bytes) -> None:
        """Apply ``update`` to room ``name`` as a client's update: fanned out and stored. Raises
        ``forbidden`` when the room takes no writes from clients (the server is its only writer)."""
        async with self._joined(name) as (channel, room):
            if not getattr(room.policy, "remote_writes", True):
                raise ApiError("forbidden", f"room {name!r} takes no writes from clients")
            # SyncStep1 at the room's own state first: the answer is empty, and the update that follows
            # goes out as a live update rather than after a full state sent to this channel.
            await self._send(channel, _STEP1 + var_uint8array(room.doc.get_state()))
            await self._send(channel, _UPDATE + var_uint8array(update))

    async def json(self, name: str, types: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Room ``name``'s top-level types as JSON (:func:`~rtc_relay.doc_json.document_json`)."""
        async with self._joined(name) as (_channel, room):
            return document_json(room.doc, types)

    # -- the room, joined for one call ----------------------------------------------------

    @asynccontextmanager
    async def _joined(self, name: str) -> AsyncIterator[tuple[LocalChannel, Room]]:
        try:
            check_room_name(name)
        except RelayError as exc:
            raise ApiError("bad_request", exc.reason) from None
        core = self._core
        await core.ensure_started()
        if not core.serving:
            raise ApiError("unavailable", "the relay is stopping")
        # It holds the room while it is in it (a pending cleanup cannot free it mid-call); leaving lets it go.
        channel = core.open_local(name, label="http", keeps_room=True)
        try:
            try:
                await asyncio.wait_for(channel.ready.wait(), LOAD_TIMEOUT)
            except asyncio.TimeoutError:
                raise ApiError("unavailable", f"room {name!r} did not load within {LOAD_TIMEOUT:g}s") from None
            room = channel.room
            if room is None:
                raise _load_error(name, channel.close_code, channel.close_reason)
            yield channel, room
        finally:
            await channel.close()

    @staticmethod
    async def _send(channel: LocalChannel, message: bytes) -> None:
        try:
            await channel.send(message)
        except ChannelClosed as exc:
            if exc.code == CloseCode.BAD_MESSAGE:
                raise ApiError("bad_request", exc.reason) from None
            raise ApiError("unavailable", f"the room closed the request: {exc.reason}") from None


def _load_error(name: str, code: int | None, reason: str) -> ApiError:
    if code == CloseCode.ROOM_NOT_FOUND:
        return ApiError("not_found", reason or f"room {name!r} not found")
    if code == CloseCode.BAD_MESSAGE:
        return ApiError("bad_request", reason)
    return ApiError("unavailable", f"room {name!r} cannot be loaded now: {reason or 'try again'}")


def decode_state_vector(text: str | None) -> bytes | None:
    """The bytes of a base64 state vector (``?sv=``; either alphabet, padding optional), None for None.
    Raises ``bad_request`` when it is not base64."""
    if text is None:
        return None
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("bad_request", "sv is not base64") from None
