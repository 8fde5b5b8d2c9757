"""The durable journal of executions: one SQLite row per execution, its record as JSON.

Every change of an execution's record (queued, started, outputs so far, input
requested, finished) is written here before or as the notebook shows it, so the
record outlives browsers, rooms and the server process. At start-up, executions a
previous process left queued or running are marked ``aborted`` (their kernel is
gone with that process); the outputs they produced are already in the notebook
file, which was saved while they ran. The ``limit`` finished records written last
(the last to finish) are kept: each finished record written forgets the older ones.

Resource handling: one connection, used from one dedicated thread, in call order.

A record may hold values JSON cannot encode that have a ``to_json()`` method (a running cell's
outputs, :class:`~supernode.outputs_snapshot.OutputsSnapshot`): they are encoded as what it returns,
on the journal's thread, so the event loop never pays for the size of a record's outputs.

Error handling: a write that SQLite refuses (disk full, I/O error, read-only file)
raises :class:`JournalError`; the journal stays usable and the next write is tried
afresh (the caller keeps what could not be written).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["ExecutionJournal", "JournalError"]

log = logging.getLogger("supernode.executions")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS executions_by_path ON executions (path, created);
CREATE INDEX IF NOT EXISTS executions_by_status ON executions (status);
"""

_UNFINISHED = ("queued", "running")


class JournalError(Exception):
    """A record could not be written; the message is SQLite's reason (e.g. ``database or disk is full``)."""


class ExecutionJournal:
    """Execution records in the SQLite file ``path`` (``":memory:"`` for none); keeps the newest ``limit``."""

    def __init__(self, path: str | Path, *, limit: int = 10_000) -> None:
        self.path = str(path)
        self.limit = limit
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="supernode-journal")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open(self) -> list[dict[str, Any]]:
        """Open the journal; return the records a previous process left unfinished, now marked aborted."""
        return await self._run(self._open)

    def _open(self) -> list[dict[str, Any]]:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA cache_size = -512")  # KiB: records are written and read one by one
        db.executescript(_SCHEMA)
        self._db = db
        aborted = []
        rows = db.execute("SELECT record FROM executions WHERE status IN (?, ?)", _UNFINISHED).fetchall()
        for (text,) in rows:
            record = json.loads(text)
            record["status"] = "aborted"
            record["abort_reason"] = "the server stopped while it was unfinished"
            for cell in record.get("cells", []):
                if cell.get("status") in _UNFINISHED:
                    cell["status"] = "aborted"
                    cell["input_request"] = None
            self._write(record["id"], record["path"], record["status"], record["created"], json.dumps(record))
            aborted.append(record)
        return aborted

    async def write(self, record: dict[str, Any]) -> None:
        """Store ``record`` (insert or replace by its ``id``); a finished one prunes the journal.

        Raises :class:`JournalError` if SQLite cannot write it. ``record`` is encoded on the journal's
        thread: its values must not change until this returns (deferred ones are snapshots).
        """
        try:
            await self._run(self._write_record, record)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(str(exc) or type(exc).__name__) from exc

    def _write_record(self, record: dict[str, Any]) -> None:
        text = json.dumps(record, default=_deferred)
        self._write(record["id"], record["path"], record["status"], record["created"], text)

    def _write(self, execution_id: str, path: str, status: str, created: str, text: str) -> None:
        assert self._db is not None
        self._db.execute(
            "INSERT OR REPLACE INTO executions (id, path, status, created, record) VALUES (?, ?, ?, ?, ?)",
            (execution_id, path, status, created, text),
        )
        if status not in _UNFINISHED:
            try:
                self._prune()
            except sqlite3.Error as exc:  # the record is written; the next finished one prunes again
                log.warning("pruning the execution journal failed: %s", exc)

    async def get(self, execution_id: str) -> dict[str, Any] | None:
        return await self._run(self._get, execution_id)

    def _get(self, execution_id: str) -> dict[str, Any] | None:
        assert self._db is not None
        row = self._db.execute("SELECT record FROM executions WHERE id = ?", (execution_id,)).fetchone()
        return json.loads(row[0]) if row else None

    async def list(self, path: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` records (of notebook ``path`` if given), newest first."""
        return await self._run(self._list, path, limit)

    def _list(self, path: str | None, limit: int) -> list[dict[str, Any]]:
        assert self._db is not None
        if path is None:
            rows = self._db.execute("SELECT record FROM executions ORDER BY created DESC LIMIT ?", (limit,))
        else:
            rows = self._db.execute(
                "SELECT record FROM executions WHERE path = ? ORDER BY created DESC LIMIT ?", (path, limit)
            )
        return [json.loads(text) for (text,) in rows]

    async def prune(self) -> None:
        """Forget finished records beyond the ``limit`` written last (unfinished ones stay)."""
        await self._run(self._prune)

    def _prune(self) -> None:
        assert self._db is not None
        # Counted on the status index (~1 ms for 10 000 rows); only the excess is then read.
        (finished,) = self._db.execute(
            "SELECT count(*) FROM executions WHERE status NOT IN (?, ?)", _UNFINISHED
        ).fetchone()
        if finished <= self.limit:
            return
        # INSERT OR REPLACE gives a row a new rowid on every write: rowid order is the order of the
        # last writes, so a long execution that just finished is kept however old its creation.
        self._db.execute(
            "DELETE FROM executions WHERE rowid IN (SELECT rowid FROM executions WHERE status NOT IN (?, ?) "
            "ORDER BY rowid LIMIT ?)",
            (*_UNFINISHED, finished - self.limit),
        )

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _deferred(value: Any) -> Any:
    """JSON for a value with a ``to_json()`` (built here, on the journal's thread)."""
    to_json = getattr(value, "to_json", None)
    if to_json is None:
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    return to_json()
