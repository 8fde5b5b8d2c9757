"""Following the other relays: the logs of the rooms open here, and the rooms' awareness channel.

A :class:`RedisReader` belongs to a :class:`~rtc_relay.cluster.Cluster`, which owns the Redis
connections and calls :meth:`RedisReader.read_logs` and :meth:`RedisReader.read_awareness` in its
loops (a Redis failure is raised to it; it handles outages).

Positions: for each room it follows, the reader keeps the id of the last log entry applied (from
the room's load on). One ``XREAD`` covers every followed room, from its position, plus this
relay's *wake* stream: an entry there (written when a room starts being followed) ends a blocked
read so the next one includes the new room. Entries of this relay are skipped by origin id.

Trimmed entries: a compaction marker says the entries up to id ``t`` are gone (in the snapshot).
If ``t`` is beyond the room's position when the read began, entries this relay never applied may
be among them, so it applies the snapshot (idempotent: nothing duplicates). ``XREAD`` is issued
without ``COUNT``, so a marker always arrives in the same read as the gap it explains.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from .redis_log import RoomLog, decode_batch, log_key, parse_id, room_of_channel

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from .room import Room

__all__ = ["RedisReader"]

log = logging.getLogger("rtc_relay.cluster")

Entries = list[tuple[bytes, dict[bytes, bytes]]]


class RedisReader:
    """Applies other relays' updates and awareness to the rooms open here. ``block_ms``: longest
    wait of one read, in milliseconds."""

    def __init__(self, origin: bytes, room_of: Callable[[str], Room | None], room_log: RoomLog, block_ms: int) -> None:
        self.origin = origin
        self.room_of = room_of
        self.wake_key = f"rtc:wake:{origin.hex()}".encode()
        self._log = room_log
        self._block_ms = block_ms
        self._positions: dict[str, bytes] = {}  # followed room -> id of the last log entry applied
        self._keys: dict[bytes, str] = {}  # stream key -> followed room
        self._wake_id = b"0-0"

    def follow(self, room: str, position: bytes) -> None:
        """Follow ``room``'s log from the entry after ``position`` (the caller wakes the read)."""
        self._positions[room] = position
        self._keys[log_key(room)] = room

    def forget(self, room: str) -> None:
        self._positions.pop(room, None)
        self._keys.pop(log_key(room), None)

    def position(self, room: str) -> bytes | None:
        """Id of the last entry of ``room`` applied here (None if not followed)."""
        return self._positions.get(room)

    @property
    def rooms(self) -> list[str]:
        return list(self._positions)

    async def read_logs(self, redis: Redis) -> None:
        """One blocking read of every followed log; apply what it brings. Raises on Redis failures.

        ``redis`` must have a socket timeout longer than ``block_ms`` (a stalled Redis then raises
        ``TimeoutError`` instead of holding the read forever)."""
        streams = {self.wake_key: self._wake_id}
        streams.update({log_key(room): pos for room, pos in self._positions.items()})
        response = await redis.xread(streams, block=self._block_ms)
        for key, entries in response or ():
            if key == self.wake_key:
                self._wake_id = entries[-1][0]
                continue
            room = self._keys.get(key)
            if room is not None:
                try:
                    await self._deliver(room, entries)
                except (RedisError, OSError, asyncio.TimeoutError):
                    raise  # the cluster's outage handling
                except Exception:  # one room's failure stays in that room
                    log.exception("room %r: applying entries from Redis failed", room)

    async def _deliver(self, name: str, entries: Entries) -> None:
        """Apply other relays' entries (newer than the room's position) to open room ``name``."""
        room = self.room_of(name)
        start = self._positions.get(name)
        if room is None or start is None:
            return
        position = parse_id(start)
        last = start
        missed = False
        for entry_id, fields in entries:
            if parse_id(entry_id) <= position:
                continue
            last = entry_id
            mine = fields.get(b"o") == self.origin
            if b"t" in fields:  # a compaction marker: entries up to t are gone, their content in the snapshot
                missed = missed or parse_id(fields[b"t"]) > position
                if not mine:
                    room.compacted_elsewhere()
                continue
            if mine:
                continue
            try:
                updates = decode_batch(fields[b"u"])
            except Exception as exc:
                log.error("room %r: skipping malformed log entry %s (%r)", name, entry_id.decode(), exc)
                continue
            for update in updates:
                try:
                    room.apply_remote(update)
                except Exception:  # logged and skipped: never applied twice by reading the entry again
                    log.exception("room %r: an update of log entry %s failed to apply", name, entry_id.decode())
        if self._positions.get(name) == start:
            self._positions[name] = last
        if missed:
            snapshot = await self._log.snapshot(name)
            room = self.room_of(name)
            if snapshot and room is not None:
                log.info("room %r: entries trimmed before this relay read them; applying the snapshot", name)
                room.apply_remote(snapshot)

    async def read_awareness(self, pubsub: PubSub) -> None:
        """Wait (at most one block) for an awareness message; apply it to its room if followed here."""
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=self._block_ms / 1000)
        if message is None or message.get("type") != "pmessage":
            return
        data = message["data"]
        origin, update = data[:16], data[16:]
        if origin == self.origin:
            return
        name = room_of_channel(message["channel"])
        room = self.room_of(name) if name in self._positions else None
        if room is not None:
            try:
                room.apply_remote_awareness(origin, update)
            except Exception as exc:
                log.warning("room %r: dropping a malformed awareness update from another relay (%r)", name, exc)
