"""What this relay has not written to Redis yet, and the pipeline that writes it.

A :class:`RedisWriter` belongs to a :class:`~rtc_relay.cluster.Cluster`, which owns the Redis
connection, wakes its writer loop when something is queued and calls :meth:`RedisWriter.write`
there (a Redis failure is raised to it; it handles outages).

Queued: each room's updates (beyond ``MERGE_AFTER`` of one room, they are merged into one, so
memory stays bounded in an outage), each room's latest compaction, awareness messages (at most
``MAX_AWARENESS``; beyond, the oldest are dropped: a later state of the same client supersedes
them anyway), and whether the reader must be woken (a room started being followed). One
:meth:`~RedisWriter.write` sends all of it in one pipeline, one log entry per room, and takes it
off the queue; when the pipeline fails, what it held is queued again, older first (an entry
written twice is harmless: updates are idempotent).

Progress: every :meth:`~RedisWriter.append` and :meth:`~RedisWriter.compact` counts one in
``queued_seq``; ``written_seq`` is the count a successful write covered, so a flush waits until
``written_seq`` reaches the ``queued_seq`` it saw. ``pending_bytes``: the bytes of updates queued
(counted again after each successful write).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from pycrdt import merge_updates
from redis.exceptions import RedisError

from .redis_log import RoomLog, awareness_channel

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["MAX_AWARENESS", "MERGE_AFTER", "RedisWriter"]

MERGE_AFTER = 256  # queued updates of one room merged into one beyond this (bounded memory in an outage)
MAX_AWARENESS = 4096
_WAKE_TTL_S = 3600


class RedisWriter:
    """The queue of this relay's writes to Redis; ``origin``: the relay's 16-byte id, tagging its entries."""

    def __init__(self, origin: bytes) -> None:
        self.origin = origin
        self.pending: dict[str, list[bytes]] = {}  # room -> updates not yet in Redis
        self.pending_bytes = 0
        self.compactions: dict[str, tuple[bytes, bytes]] = {}  # room -> (covered id, snapshot)
        self.awareness: deque[tuple[str, bytes]] = deque(maxlen=MAX_AWARENESS)
        self.wake_reader = False
        self.queued_seq = 0
        self.written_seq = 0

    @property
    def waiting(self) -> bool:
        """Whether something waits to be written."""
        return bool(self.pending or self.compactions or self.awareness or self.wake_reader)

    def append(self, room: str, update: bytes) -> None:
        queue = self.pending.setdefault(room, [])
        queue.append(update)
        self.pending_bytes += len(update)
        if len(queue) > MERGE_AFTER:
            queue[:] = [merge_updates(*queue)]
        self.queued_seq += 1

    def compact(self, room: str, covered: bytes, snapshot: bytes) -> None:
        """Replace the room's log entries up to id ``covered`` by ``snapshot`` (the latest one asked wins)."""
        self.compactions[room] = (covered, snapshot)
        self.queued_seq += 1  # so that a flush waits for it (at shutdown, rooms are compacted last)

    def publish_awareness(self, room: str, update: bytes) -> None:
        self.awareness.append((room, update))

    async def write(self, redis: Redis, wake_key: bytes) -> None:
        """Send everything queued in one pipeline (``wake_key``: the reader's wake stream). Raises
        on Redis failures, with what it held queued again."""
        pending, self.pending = self.pending, {}
        compactions, self.compactions = self.compactions, {}
        awareness, self.awareness = self.awareness, deque(maxlen=MAX_AWARENESS)
        wake, self.wake_reader = self.wake_reader, False
        seq = self.queued_seq
        try:
            async with redis.pipeline(transaction=False) as pipe:
                for room, updates in pending.items():
                    RoomLog.queue_append(pipe, room, self.origin, updates)
                for room, (covered, snapshot) in compactions.items():
                    RoomLog.queue_compact(pipe, room, covered, snapshot, self.origin)
                for room, update in awareness:
                    pipe.publish(awareness_channel(room), self.origin + update)
                if wake:
                    pipe.xadd(wake_key, {b"w": b"1"}, maxlen=1, approximate=False)
                    pipe.expire(wake_key, _WAKE_TTL_S)
                await pipe.execute()
        except (RedisError, OSError, asyncio.TimeoutError):
            for room, updates in pending.items():  # keep them, older first; an entry written twice is harmless
                self.pending[room] = updates + self.pending.get(room, [])
            for room, compaction in compactions.items():
                self.compactions.setdefault(room, compaction)
            self.wake_reader = self.wake_reader or wake
            raise  # the cluster's outage handling
        self.pending_bytes = sum(len(u) for queue in self.pending.values() for u in queue)
        self.written_seq = seq
