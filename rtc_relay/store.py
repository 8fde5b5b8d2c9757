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

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

__all__ = ["MemoryStore", "SQLiteStore", "Store", "StoreUnavailable", "open_store"]

log = logging.getLogger("rtc_relay.store")


class StoreUnavailable(Exception):
    """The store cannot be reached (a Redis server that does not answer); the message says which."""


class Store(Protocol):
    """What the relay needs of persistence. See the module docstring for the contract."""

    healthy: bool

    async def __aenter__(self) -> Store: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def load(self, room: str) -> list[bytes]:
        """The updates stored for ``room``, oldest first (empty for a new room)."""

    def append(self, room: str, update: bytes) -> None:
        """Queue ``update`` for ``room``."""

    def compact(self, room: str, snapshot: bytes) -> None:
        """Queue replacing every update of ``room`` appended so far by ``snapshot``."""

    def forget(self, room: str) -> None:
        """``room`` left the relay's memory (after its last ``compact``); queued writes still happen."""

    async def flush(self) -> None:
        """Return once every operation queued before this call is written."""

    @property
    def backlog_bytes(self) -> int:
        """Bytes queued and not yet written."""

    def size_bytes(self) -> int:
        """Space the store takes (bytes on disk, or in memory)."""


class MemoryStore:
    """A store that keeps everything in this process; gone when it exits."""

    healthy = True
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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_room ON updates (room, id);
"""

# Operation kinds in the write queue.
_APPEND = 0
_COMPACT = 1


class SQLiteStore:
    """A store in one SQLite file (WAL mode), written by one background thread.

    All database work runs on a single dedicated thread, in call order, so reads
    (``load``) see every write queued before them. Writes are batched: everything
    queued while the previous batch was being written goes in one transaction.
    ``retry_delay`` (seconds) is the first back-off after a failed write; it
    doubles up to 30 s.
    """

    def __init__(self, path: str | os.PathLike[str], *, retry_delay: float = 0.5) -> None:
        self.path = Path(path)
        self.healthy = True
        self._retry_delay = retry_delay
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtc-relay-store")
        self._db: sqlite3.Connection | None = None
        self._queue: list[tuple[int, str, bytes]] = []
        self._backlog = 0
        self._queued_seq = 0  # operations queued so far
        self._written_seq = 0  # operations written so far
        self._wake: asyncio.Event | None = None
        self._written: asyncio.Condition | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closing = False

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> SQLiteStore:
        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._written = asyncio.Condition()
        await loop.run_in_executor(self._executor, self._open)
        self._writer = asyncio.create_task(self._write_loop(), name=f"sqlite-writer {self.path}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.flush()
        finally:
            self._closing = True
            if self._writer is not None:
                self._writer.cancel()
                try:
                    await self._writer
                except asyncio.CancelledError:
                    if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                        raise
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, self._close)
            self._executor.shutdown(wait=True)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect on a new file
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA journal_size_limit = 4194304")
        # KiB of page cache (SQLite's default is 2 MiB): updates are appended and a room is read once when
        # it loads, so a small cache costs nothing and keeps a long-lived relay's memory flat.
        db.execute("PRAGMA cache_size = -512")
        db.executescript(_SCHEMA)
        self._db = db

    def _close(self) -> None:
        if self._db is not None:
            self._db.executescript("PRAGMA incremental_vacuum;")  # executescript runs it to the end
            self._db.close()
            self._db = None

    # -- operations --------------------------------------------------------

    async def load(self, room: str) -> list[bytes]:
        await self.flush()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read, room)

    def _read(self, room: str) -> list[bytes]:
        assert self._db is not None
        rows = self._db.execute("SELECT data FROM updates WHERE room = ? ORDER BY id", (room,))
        return [bytes(data) for (data,) in rows]

    def append(self, room: str, update: bytes) -> None:
        self._enqueue(_APPEND, room, update)

    def compact(self, room: str, snapshot: bytes) -> None:
        self._enqueue(_COMPACT, room, snapshot)

    def forget(self, room: str) -> None:
        return None

    def _enqueue(self, kind: int, room: str, data: bytes) -> None:
        if self._closing:
            raise RuntimeError("the store is closed")
        self._queue.append((kind, room, data))
        self._backlog += len(data)
        self._queued_seq += 1
        self._wake.set()  # type: ignore[union-attr]

    async def flush(self) -> None:
        target = self._queued_seq
        assert self._written is not None
        async with self._written:
            await self._written.wait_for(lambda: self._written_seq >= target)

    @property
    def backlog_bytes(self) -> int:
        return self._backlog

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    # -- the writer ----------------------------------------------------------

    async def _write_loop(self) -> None:
        assert self._wake is not None and self._written is not None
        loop = asyncio.get_running_loop()
        delay = self._retry_delay
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._queue
            if not batch:
                continue
            self._queue = []
            try:
                await loop.run_in_executor(self._executor, self._write, batch)
            except sqlite3.Error as exc:
                self.healthy = False
                log.error(
                    "store %s: writing %d operations failed (%s); retrying in %.1fs", self.path, len(batch), exc, delay
                )
                self._queue = batch + self._queue
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                self._wake.set()
                continue
            if not self.healthy:
                log.warning("store %s: writes succeed again", self.path)
            self.healthy = True
            delay = self._retry_delay
            self._backlog -= sum(len(data) for _, _, data in batch)
            async with self._written:
                self._written_seq += len(batch)
                self._written.notify_all()

    def _write(self, batch: list[tuple[int, str, bytes]]) -> None:
        db = self._db
        assert db is not None
        compacted = False
        db.execute("BEGIN")
        try:
            run: list[tuple[str, bytes]] = []
            for kind, room, data in batch:
                if kind == _APPEND:
                    run.append((room, data))
                    continue
                if run:
                    db.executemany("INSERT INTO updates (room, data) VALUES (?, ?)", run)
                    run = []
                db.execute("DELETE FROM updates WHERE room = ?", (room,))
                db.execute("INSERT INTO updates (room, data) VALUES (?, ?)", (room, data))
                compacted = True
            if run:
                db.executemany("INSERT INTO updates (room, data) VALUES (?, ?)", run)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if compacted:
            db.executescript("PRAGMA incremental_vacuum;")  # executescript runs it to the end


def open_store(spec: str) -> Store:
    """The store named by ``spec``: ``"memory"``, or the path of an SQLite file."""
    if spec == "memory":
        return MemoryStore()
    return SQLiteStore(spec)
