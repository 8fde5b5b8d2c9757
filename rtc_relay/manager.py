"""The rooms of one relay: created on first join, loaded once, freed when idle.

Lifecycle of a room: the first :meth:`RoomManager.acquire` creates it and starts
one load from the store; every joiner — however many arrive at the same instant —
waits on that same load (no lock that can starve a second client). When the last
member leaves, the room is freed after ``cleanup_delay`` seconds unless someone
joins first; freeing compacts its stored history. A room that fails to load is
forgotten at once, its members are closed with ``ROOM_ERROR``, and the next join
tries again; other rooms are not affected.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from .room import Room

if TYPE_CHECKING:
    from .metrics import Metrics
    from .outbox import Flusher
    from .room import Peer
    from .store import Store
    from .tasks import TaskSet

__all__ = ["RoomManager"]

log = logging.getLogger("rtc_relay.rooms")


class RoomManager:
    """Creates, loads and frees rooms. ``cleanup_delay`` is in seconds."""

    def __init__(
        self,
        *,
        store: Store,
        metrics: Metrics,
        flusher: Flusher,
        tasks: TaskSet,
        cleanup_delay: float,
        compact_after_bytes: int,
    ) -> None:
        self.rooms: dict[str, Room] = {}
        self._store = store
        self._metrics = metrics
        self._flusher = flusher
        self._tasks = tasks
        self._cleanup_delay = cleanup_delay
        self._compact_after_bytes = compact_after_bytes

    def __len__(self) -> int:
        return len(self.rooms)

    def join(self, name: str, peer: Peer) -> Room:
        """Put ``peer`` in room ``name``, creating and loading the room if needed."""
        room = self.rooms.get(name)
        if room is None:
            room = Room(
                name,
                store=self._store,
                metrics=self._metrics,
                flusher=self._flusher,
                tasks=self._tasks,
                compact_after_bytes=self._compact_after_bytes,
            )
            self.rooms[name] = room
            self._tasks.spawn(self._load(room), name=f"load room {name}")
        elif room.cleanup is not None:
            room.cleanup.cancel()
            room.cleanup = None
        room.join(peer)
        return room

    def leave(self, room: Room, peer: Peer) -> None:
        """Take ``peer`` out of ``room``; schedule the room's cleanup if it is now empty."""
        if room.leave(peer) and self.rooms.get(room.name) is room and room.cleanup is None:
            loop = asyncio.get_running_loop()
            room.cleanup = loop.call_later(self._cleanup_delay, self._free, room)

    async def _load(self, room: Room) -> None:
        try:
            room.load(await self._store.load(room.name))
        except Exception as exc:
            log.error("room %r: loading its stored history failed: %r", room.name, exc, exc_info=exc)
            room.failed = exc
            if self.rooms.get(room.name) is room:
                del self.rooms[room.name]
        else:
            self._metrics.rooms_opened += 1
            log.debug("room %r loaded", room.name)
        finally:
            room.ready.set_result(None)

    def _free(self, room: Room) -> None:
        room.cleanup = None
        if room.members or self.rooms.get(room.name) is not room:
            return
        del self.rooms[room.name]
        if room.ready.done() and room.failed is None:
            if room.has_history:
                room.compact()
            self._metrics.rooms_freed += 1
            log.debug("room %r freed", room.name)

    def stop(self) -> None:
        """Free every room now (the connections are already closed): compact what changed."""
        for room in list(self.rooms.values()):
            if room.cleanup is not None:
                room.cleanup.cancel()
            room.members.clear()
            self._free(room)
