"""The write backlog of a store: what was accepted and is not written yet, per room, bounded.

A room's pending writes are an optional snapshot (a compaction: it replaces everything stored
for the room before it) followed by updates. Because Yjs updates merge (``merge_updates``
keeps every struct, including those still waiting for dependencies), a room's pending
updates can be squashed into one at any time without changing what the room loads. While the
store fails, :meth:`Backlog.squash` is applied so a long outage costs memory in proportion to
the rooms' content, not to the number of updates received.

Resource handling: plain data, owned by one store, used on the event loop only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pycrdt import merge_updates

__all__ = ["Backlog", "RoomWrites"]

# Updates a room may hold unmerged while the store fails before they are squashed into one.
_SQUASH_AFTER = 32


@dataclass
class RoomWrites:
    """The pending writes of one room: ``snapshot`` (replaces the stored history) then ``updates``."""

    snapshot: bytes | None = None
    updates: list[bytes] = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return len(self.snapshot or b"") + sum(len(u) for u in self.updates)

    def data(self) -> list[bytes]:
        """Everything pending, in the order a load applies it."""
        return ([self.snapshot] if self.snapshot is not None else []) + self.updates

    def then(self, later: RoomWrites) -> RoomWrites:
        """These writes followed by ``later`` (a later snapshot supersedes everything before it)."""
        if later.snapshot is not None:
            return later
        return RoomWrites(self.snapshot, self.updates + later.updates)

    def squash(self) -> None:
        """Merge the pending updates into the snapshot, or into one update (same content, less memory)."""
        if self.snapshot is not None and self.updates:
            self.snapshot = merge_updates(self.snapshot, *self.updates)
            self.updates = []
        elif len(self.updates) > 1:
            self.updates = [merge_updates(*self.updates)]


class Backlog:
    """Pending writes of every room, with their total size and a count of operations queued."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomWrites] = {}
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self.rooms)

    def append(self, room: str, update: bytes, *, squash: bool) -> None:
        """Queue ``update``; with ``squash`` (the store is failing), keep the room's backlog merged."""
        writes = self.rooms.get(room)
        if writes is None:
            writes = self.rooms[room] = RoomWrites()
        writes.updates.append(update)
        self.nbytes += len(update)
        if squash and len(writes.updates) > _SQUASH_AFTER:
            self._resize(writes, writes.squash)

    def compact(self, room: str, snapshot: bytes) -> None:
        """Queue a snapshot of ``room``: it contains every update queued before, which it replaces."""
        old = self.rooms.get(room)
        self.nbytes += len(snapshot) - (old.nbytes if old is not None else 0)
        self.rooms[room] = RoomWrites(snapshot)

    def take(self) -> dict[str, RoomWrites]:
        """Everything pending (the caller writes it, or gives it back with :meth:`restore`)."""
        rooms, self.rooms = self.rooms, {}
        self.nbytes = 0
        return rooms

    def restore(self, failed: dict[str, RoomWrites]) -> None:
        """Put back writes that failed, before what was queued since; squash them (the store is failing)."""
        for room, writes in failed.items():
            later = self.rooms.get(room)
            merged = writes.then(later) if later is not None else writes
            merged.squash()
            self.rooms[room] = merged
        self.nbytes = sum(w.nbytes for w in self.rooms.values())

    def pending(self, room: str) -> list[bytes]:
        writes = self.rooms.get(room)
        return writes.data() if writes is not None else []

    def _resize(self, writes: RoomWrites, change) -> None:
        before = writes.nbytes
        change()
        self.nbytes += writes.nbytes - before
