"""The SQLite store: every room's update log in one file (WAL mode), written by one background thread.

Writes are batched: everything queued while the previous batch was being written goes in one
transaction, on one dedicated writer thread, in call order per room. A load reads on its own
thread through a connection of its own (WAL readers never wait for the writer) and adds what
is queued for the room and not written yet, so a load sees every write queued before it
without waiting for the writer — even while writes fail.

Error handling:

* A failing write (disk full, the file locked by another program for longer than
  ``busy_timeout``, permissions) marks the store unhealthy (``/health`` says degraded), is
  logged once with the reason, and is retried with back-off (``retry_delay`` doubling up to
  ``retry_max`` seconds, so writes resume within ``retry_max`` of the cause going away).
  Pending writes are kept, never dropped, merged per room (:class:`~rtc_relay.backlog.Backlog`):
  memory stays in proportion to the rooms' content during a long outage.
* A load that cannot read the file within ``timeout`` seconds raises
  :class:`~rtc_relay.store.StoreUnavailable` (the room's joiners get 4500 and retry).
* :meth:`SQLiteStore.flush` raises :class:`~rtc_relay.store.StoreUnavailable` as soon as a
  write attempt made after the call fails, or after ``timeout`` seconds: a save request is
  answered ``failed`` within a bounded time, never left waiting.
* The writer loop runs under the store's :class:`~rtc_relay.tasks.TaskSet`: if it ever stops
  (a bug), the store turns unhealthy for good, flush waiters fail at once, and the reason is on
  ``/health``.

Resource handling: ``async with SQLiteStore(path):``; leaving the block writes what is pending
(retrying until ``timeout``; what still cannot be written is logged with its size) and closes
the file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .backlog import Backlog, RoomWrites
from .store import StoreUnavailable
from rtc_common.tasks import Ready, TaskSet

__all__ = ["SQLiteStore"]

log = logging.getLogger("rtc_relay.store")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS updates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_room ON updates (room, id);
"""


class SQLiteStore:
    """A store in one SQLite file. Times are in seconds; see the module docstring for the contract.

    ``healthy`` is False while writes fail or after the writer stopped; ``problem`` then says why.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retry_delay: float = 0.1,
        retry_max: float = 2.0,
        busy_timeout: float = 1.0,
        timeout: float = 5.0,
    ) -> None:
        self.path = Path(path)
        self.problem: str | None = None
        self.tasks = TaskSet(f"store {self.path}")
        self.tasks.on_death.append(self._writer_died)
        self._retry_delay = retry_delay
        self._retry_max = retry_max
        self._busy_timeout = busy_timeout
        self._timeout = timeout
        self._writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtc-relay-store")
        self._reader_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rtc-relay-store-read")
        self._db: sqlite3.Connection | None = None
        self._backlog = Backlog()
        self._inflight: dict[str, RoomWrites] = {}
        self._queued_seq = 0  # operations queued so far
        self._written_seq = 0  # operations written so far
        self._attempts_failed = 0  # failed write attempts so far (flush waiters watch it)
        self._failing_since: float | None = None
        self._dead: str | None = None
        self._wake = asyncio.Event()
        self._changed: asyncio.Condition | None = None
        self._closing = False

    @property
    def healthy(self) -> bool:
        return self.problem is None

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> SQLiteStore:
        loop = asyncio.get_running_loop()
        self._changed = asyncio.Condition()
        await loop.run_in_executor(self._writer_thread, self._open)
        await self.tasks.start(self._write_loop, f"sqlite writer {self.path}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.flush(timeout=self._timeout, until_written=True)
        except StoreUnavailable as error:
            log.error(
                "store %s: closing with %d bytes of %d rooms unwritten: %s",
                self.path,
                self.backlog_bytes,
                len(self._backlog) + len(self._inflight),
                error,
            )
        finally:
            self._closing = True
            await self.tasks.stop()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._writer_thread, self._close)
            self._writer_thread.shutdown(wait=True)
            self._reader_thread.shutdown(wait=True)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self._busy_timeout)
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
            try:
                self._db.executescript("PRAGMA incremental_vacuum;")  # executescript runs it to the end
            except sqlite3.Error as exc:
                log.warning("store %s: reclaiming free pages at close failed: %s", self.path, exc)
            self._db.close()
            self._db = None

    # -- operations --------------------------------------------------------

    async def load(self, room: str) -> list[bytes]:
        """The stored updates of ``room`` and those queued for it. Raises StoreUnavailable (see above)."""
        inflight = self._inflight.get(room)
        pending = (inflight.data() if inflight is not None else []) + self._backlog.pending(room)
        loop = asyncio.get_running_loop()
        try:
            rows = await asyncio.wait_for(loop.run_in_executor(self._reader_thread, self._read, room), self._timeout)
        except (sqlite3.Error, OSError, asyncio.TimeoutError) as exc:
            why = str(exc) or f"no answer within {self._timeout:g}s"
            raise StoreUnavailable(f"reading room {room!r} from {self.path} failed: {why}") from None
        # A write that committed while we read may be both in rows and in pending: Yjs updates are idempotent.
        return rows + pending

    def _read(self, room: str) -> list[bytes]:
        # A connection per load: a load never queues behind a write, and a file that became unreadable
        # (permissions, replaced) is noticed rather than hidden by a long-open descriptor.
        db = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout)
        try:
            rows = db.execute("SELECT data FROM updates WHERE room = ? ORDER BY id", (room,)).fetchall()
        finally:
            db.close()
        return [bytes(data) for (data,) in rows]

    def append(self, room: str, update: bytes) -> None:
        self._check_open()
        self._backlog.append(room, update, squash=not self.healthy)
        self._queued()

    def compact(self, room: str, snapshot: bytes) -> None:
        self._check_open()
        self._backlog.compact(room, snapshot)
        self._queued()

    def forget(self, room: str) -> None:
        return None

    def _check_open(self) -> None:
        if self._closing:
            raise RuntimeError(f"the store {self.path} is closed")

    def _queued(self) -> None:
        self._queued_seq += 1
        self._wake.set()

    async def flush(self, *, timeout: float | None = None, until_written: bool = False) -> None:
        """Return once every operation queued before this call is written.

        Raises :class:`StoreUnavailable` when a write attempt made after the call fails (with
        ``until_written``: only when ``timeout`` passes), when the writer stopped, or after
        ``timeout`` seconds (default: the store's ``timeout``).
        """
        target = self._queued_seq
        if self._written_seq >= target:
            return
        assert self._changed is not None
        failures = self._attempts_failed

        def settled() -> bool:
            failed = not until_written and self._attempts_failed > failures
            return self._written_seq >= target or self._dead is not None or failed

        limit = self._timeout if timeout is None else timeout
        try:
            async with self._changed:
                await asyncio.wait_for(self._changed.wait_for(settled), limit)
        except asyncio.TimeoutError:
            raise StoreUnavailable(f"writing to {self.path} did not complete within {limit:g}s") from None
        if self._written_seq < target:
            raise StoreUnavailable(f"writing to {self.path} failed: {self.problem}")

    @property
    def backlog_bytes(self) -> int:
        return self._backlog.nbytes + sum(w.nbytes for w in self._inflight.values())

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    # -- the writer ----------------------------------------------------------

    async def _write_loop(self, ready: Ready) -> None:
        loop = asyncio.get_running_loop()
        delay = self._retry_delay
        ready()
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._backlog:
                continue
            seq = self._queued_seq
            batch = self._inflight = self._backlog.take()
            try:
                await loop.run_in_executor(self._writer_thread, self._write, batch)
            except sqlite3.Error as exc:
                self._inflight = {}
                self._backlog.restore(batch)
                await self._attempt_failed(exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                self._wake.set()
                continue
            except BaseException:
                self._inflight = {}
                self._backlog.restore(batch)  # kept for whoever looks at the store after this
                raise
            self._inflight = {}
            delay = self._retry_delay
            await self._batch_written(seq)

    async def _attempt_failed(self, exc: sqlite3.Error, delay: float) -> None:
        self._attempts_failed += 1
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.error(
                "store %s: writes fail (%s); %d bytes of %d rooms are kept in memory and retried every %gs at most",
                self.path,
                exc,
                self.backlog_bytes,
                len(self._backlog),
                self._retry_max,
            )
        else:
            log.debug("store %s: write attempt %d failed (%s); next in %.1fs", self.path, self._attempts_failed, exc, delay)
        self.problem = f"writes fail: {exc}"
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _batch_written(self, seq: int) -> None:
        if self._failing_since is not None:
            log.warning(
                "store %s: writes succeed again after %.1fs; everything kept was written",
                self.path,
                time.monotonic() - self._failing_since,
            )
            self._failing_since = None
            if self._dead is None:
                self.problem = None
        assert self._changed is not None
        async with self._changed:
            self._written_seq = seq
            self._changed.notify_all()

    def _writer_died(self, name: str, reason: str) -> None:
        self._dead = reason
        self.problem = f"the writer stopped: {reason}"
        if self._changed is not None and not self.tasks.closed:
            self.tasks.spawn(self._wake_waiters(), "wake the waiters of a stopped writer")

    async def _wake_waiters(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    def _write(self, batch: dict[str, RoomWrites]) -> None:
        db = self._db
        assert db is not None
        compacted = False
        db.execute("BEGIN IMMEDIATE")
        try:
            rows: list[tuple[str, bytes]] = []
            for room, writes in batch.items():
                if writes.snapshot is not None:
                    db.execute("DELETE FROM updates WHERE room = ?", (room,))
                    compacted = True
                rows.extend((room, data) for data in writes.data())
            db.executemany("INSERT INTO updates (room, data) VALUES (?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if compacted:
            try:
                db.executescript("PRAGMA incremental_vacuum;")  # executescript runs it to the end
            except sqlite3.Error as exc:  # the batch is written; space is reclaimed next time
                log.warning("store %s: reclaiming free pages failed: %s", self.path, exc)
