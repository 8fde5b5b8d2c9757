"""Where rooms persist: an append-only update log per room, compacted into snapshots.

A store keeps, per room, a list of Yjs updates whose merge is the room's document.
The relay appends every accepted update (:meth:`Store.append`) and, from time to
time, replaces a room's whole log with one snapshot of its document
(:meth:`Store.compact`), so a room edited forever takes space proportional to its
content, not to its history.

Ordering contract: operations on a store are applied in the order they are called.
``append`` and ``compact`` return at once (the write happens in the background);
:meth:`Store.flush` waits until everything called before it is written. A
``compact(room, snapshot)`` therefore replaces exactly the updates appended before
it, which the caller has already merged into ``snapshot``.

Resource handling: a store is used as ``async with store:``; leaving the block
flushes and closes it. Error handling: a failing write marks the store unhealthy
(``healthy`` is False, ``/health`` answers 503), logs why, and is retried with
back-off; pending writes are kept, never dropped.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["MemoryStore", "Store", "StoreUnavailable", "open_store"]


class StoreUnavailable(Exception):
    """The store cannot be read or written now (SQLite writes failing, a Redis server that does not answer);
    the message says which. The caller tells its client (4500 for a load, ``failed`` for a save) and
    may try again later."""


class Store(Protocol):
    """What the relay needs of persistence. See the module docstring for the contract."""

    healthy: bool
    problem: str | None  # why the store is not healthy (None when it is)

    async def __aenter__(self) -> Store: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def load(self, room: str) -> list[bytes]:
        """The updates stored for ``room``, oldest first (empty for a new room).

        Raises :class:`StoreUnavailable` when the store cannot be read within a bounded time."""

    def append(self, room: str, update: bytes) -> None:
        """Queue ``update`` for ``room``."""

    def compact(self, room: str, snapshot: bytes) -> None:
        """Queue replacing every update of ``room`` appended so far by ``snapshot``."""

    def forget(self, room: str) -> None:
        """``room`` left the relay's memory (after its last ``compact``); queued writes still happen."""

    async def flush(self) -> None:
        """Return once every operation queued before this call is written.

        Raises :class:`StoreUnavailable` when that cannot happen soon (a write failed after the
        call, the store stopped writing, or a store-specific time limit passed): never waits
        without bound."""

    @property
    def backlog_bytes(self) -> int:
        """Bytes queued and not yet written."""

    def size_bytes(self) -> int:
        """Space the store takes (bytes on disk, or in memory)."""


class MemoryStore:
    """A store that keeps everything in this process; gone when it exits."""

    healthy = True
    problem = None
    backlog_bytes = 0

    def __init__(self) -> None:
        self._rooms: dict[str, list[bytes]] = {}

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def load(self, room: str) -> list[bytes]:
        return list(self._rooms.get(room, ()))

    def append(self, room: str, update: bytes) -> None:
        self._rooms.setdefault(room, []).append(update)

    def compact(self, room: str, snapshot: bytes) -> None:
        self._rooms[room] = [snapshot]

    def forget(self, room: str) -> None:
        return None

    async def flush(self) -> None:
        return None

    def size_bytes(self) -> int:
        return sum(len(u) for log_ in self._rooms.values() for u in log_)


def open_store(spec: str) -> Store:
    """The store named by ``spec``: ``"memory"``, or the path of an SQLite file."""
    if spec == "memory":
        return MemoryStore()
    from .sqlite_store import SQLiteStore

    return SQLiteStore(spec)
