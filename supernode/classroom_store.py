"""The durable record of classroom sessions: which sessions run, and what each student pulled.

A teacher whose server restarts mid-lesson finds their session again, with the same id, join code and
room, so students reconnect to it without a new code, and the class list keeps who pulled what. The
store holds what cannot be rebuilt: a session's id, code, notebook path, teacher, outputs choice and start
time, and the pull records (student → shared cell → hash of the version pulled). The projection itself is
rebuilt from the notebook; the follow position comes back with the teacher's presence.

A session's row is written when it starts and deleted when it is ended (``DELETE`` by the teacher); the
server stopping leaves it, so the next start restores it (:meth:`supernode.classrooms.Classrooms.restore`).

Resource handling: one SQLite connection, used from one dedicated thread, in call order (as the execution
journal); ``":memory:"`` keeps nothing beyond the process. :meth:`close` waits for the writes queued, then
ends it.
Error handling: :meth:`open` and :meth:`add` raise :class:`ClassroomStoreError` when SQLite refuses (disk
full, read-only file); :meth:`remove` and :meth:`pulled` are queued without waiting (an ended session, a
pull done: nothing waits for their record) and a failure is logged. The store stays usable either way.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["ClassroomStore", "ClassroomStoreError"]

log = logging.getLogger("supernode.classroom")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    teacher TEXT NOT NULL,
    outputs INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pulls (
    session TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    student TEXT NOT NULL,
    cell_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (session, student, cell_id)
);
"""


class ClassroomStoreError(Exception):
    """A write failed; the message is SQLite's reason (e.g. ``database or disk is full``)."""


class ClassroomStore:
    """Classroom sessions in the SQLite file ``path`` (``":memory:"``: nothing kept beyond the process)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="supernode-classrooms")
        self._db: sqlite3.Connection | None = None

    async def _run(self, fn, *args):
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        except (sqlite3.Error, OSError) as exc:
            raise ClassroomStoreError(str(exc) or type(exc).__name__) from exc
        except RuntimeError as exc:  # the executor is shut down: the server is stopping
            raise ClassroomStoreError("the classroom store is closed") from exc

    async def open(self) -> list[dict[str, Any]]:
        """Open the store (once); return the sessions it holds, oldest first, each with its ``pulls``."""
        return await self._run(self._open)

    def _open(self) -> list[dict[str, Any]]:
        if self._db is None:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA foreign_keys = ON")
            db.executescript(_SCHEMA)
            self._db = db
        db = self._db
        sessions = [
            {"id": id_, "code": code, "path": path, "teacher": teacher, "outputs": bool(outputs), "created": created}
            for id_, code, path, teacher, outputs, created in db.execute(
                "SELECT id, code, path, teacher, outputs, created FROM sessions ORDER BY created"
            )
        ]
        for session in sessions:
            pulls: dict[str, dict[str, str]] = {}
            for student, cell_id, hash_ in db.execute(
                "SELECT student, cell_id, hash FROM pulls WHERE session = ?", (session["id"],)
            ):
                pulls.setdefault(student, {})[cell_id] = hash_
            session["pulls"] = pulls
        return sessions

    async def add(self, session: dict[str, Any]) -> None:
        """Record a session that starts: ``id``, ``code``, ``path``, ``teacher``, ``outputs``, ``created``."""
        await self._run(self._add, session)

    def _add(self, s: dict[str, Any]) -> None:
        if self._db is None:
            raise sqlite3.ProgrammingError("the classroom store is not open")
        self._db.execute(
            "INSERT INTO sessions (id, code, path, teacher, outputs, created) VALUES (?, ?, ?, ?, ?, ?)",
            (s["id"], s["code"], s["path"], s["teacher"], int(s["outputs"]), s["created"]),
        )

    def remove(self, session_id: str) -> None:
        """Forget a session that ended, with its pull records (queued; a failure is logged)."""
        self._queue(f"forgetting session {session_id}", self._remove, session_id)

    def _remove(self, session_id: str) -> None:
        if self._db is None:
            raise sqlite3.ProgrammingError("the classroom store is not open")
        self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def pulled(self, session_id: str, student: str, cell_id: str, hash_: str) -> None:
        """Record that ``student`` pulled the version ``hash_`` of shared cell ``cell_id`` (queued)."""
        self._queue(f"recording {student}'s pull of {cell_id}", self._pulled, session_id, student, cell_id, hash_)

    def _pulled(self, session_id: str, student: str, cell_id: str, hash_: str) -> None:
        if self._db is None:
            raise sqlite3.ProgrammingError("the classroom store is not open")
        self._db.execute(
            "INSERT OR REPLACE INTO pulls (session, student, cell_id, hash) VALUES (?, ?, ?, ?)",
            (session_id, student, cell_id, hash_),
        )

    def _queue(self, what: str, fn, *args) -> None:
        try:
            future = self._executor.submit(fn, *args)
        except RuntimeError:  # closed: the server is stopping
            log.error("classroom store: %s not written: the store is closed", what)
            return

        def done(future) -> None:
            exc = future.exception()
            if exc is not None:
                log.error("classroom store: %s failed: %s", what, exc)

        future.add_done_callback(done)

    def close(self) -> None:
        """Write what is queued (a few rows: milliseconds), then close the file."""
        self._queue("closing", self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
