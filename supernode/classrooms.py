"""Classroom sessions of the server, by id and by join code; the relay policy of their rooms.

:class:`Classrooms` starts and ends sessions (:class:`~supernode.classroom.Classroom`), finds one by its
join code, records what each student pulled, and governs the rooms ``classroom/{id}``: only the server
writes there (``remote_writes``), a room of no running session is refused (4404), and ending a session
closes its clients. Sessions never share anything: each has its own projection document, room, code and
pull records, and ending one leaves the others as they are.

Join codes: 8 characters drawn with :mod:`secrets` from an alphabet without look-alikes (no 0/O, 1/I/L,
2/Z, 5/S, 8/B), about 40 bits; a code is read case-insensitively, without spaces or dashes, so ``k7q-m3x9``
finds ``K7QM3X9...``.

Sessions outlive the server process: each is recorded in a :class:`~supernode.classroom_store.ClassroomStore`
when it starts, with the pulls of its students, and forgotten when the teacher ends it. The server stopping
closes the rooms but keeps the records; at the next start :meth:`Classrooms.restore` starts every recorded
session again on its notebook, with the same id, code and room, and ends (with a log line) those whose
notebook is gone.

Pulling is the student's own act on their own notebook: :meth:`Classrooms.pull` writes the teacher's
version of one shared cell into the student's notebook, as a new cell or in place of the cell pulled from
it before (only when asked), through the REST notebook API's :class:`~supernode.cells.NotebookCells`.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pycrdt import Doc

from .cells import NotebookCells
from .classroom import META_KEY, Classroom
from .classroom_store import ClassroomStore, ClassroomStoreError
from .errors import ApiError
from .records import source_hash

__all__ = ["ALPHABET", "Classrooms", "normalize_code"]

log = logging.getLogger("supernode.classroom")

ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"  # no 0/O, 1/I/L, 2/Z, 5/S, 8/B
CODE_LENGTH = 8
ROOM_PREFIX = "classroom/"
_NOT_FOUND = 4404


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch not in " -_\t")


class Classrooms:
    """The classroom sessions of one server; ``relay``: its RelayCore; ``documents``: its DocumentManager."""

    remote_writes = False  # the projection is written by the server alone
    persist = False  # a projection of the teacher's notebook: nothing to store

    def __init__(self, relay: Any, documents: Any, store: ClassroomStore | None = None) -> None:
        """``store``: where sessions are recorded (default: in memory, nothing kept beyond the process)."""
        self.relay = relay
        self.documents = documents
        self.store = store if store is not None else ClassroomStore(":memory:")
        self._store_open = False
        self._recorded: set[str] = set()  # the sessions the store holds (not a mirror of another server's)
        self._restore_lock = asyncio.Lock()
        self._restored = False
        self._stopping = False
        self.sessions: dict[str, Classroom] = {}

    # -- sessions -------------------------------------------------------------------------------

    async def start(self, path: str, teacher: str, *, outputs: bool = False) -> Classroom:
        live = await self.documents.document_for_path(path.strip("/"))
        if live is None:
            raise ApiError("not_found", f"no notebook {path}")
        code = self._new_code()
        session = Classroom(id=uuid.uuid4().hex, code=code, path=live.path, teacher=teacher, outputs=outputs)
        self.sessions[session.id] = session
        try:
            await session.start(live, self.relay)
            await self._open_store()
            await self.store.add(session.to_json())
            self._recorded.add(session.id)
        except Exception as exc:
            self._close(session)
            if isinstance(exc, ClassroomStoreError):
                log.error("classroom on %s not started: recording it failed: %s", live.path, exc)
                raise ApiError("unavailable", "the classroom session could not be recorded; try again") from None
            raise
        log.info("classroom %s started on %s by %s", code, live.path, teacher)
        return session

    def end(self, session_id: str) -> Classroom:
        """End a session for good: its students' connections close, its record is forgotten."""
        session = self._close(self.get(session_id))
        log.info("classroom %s on %s ended", session.code, session.path)
        if session.id in self._recorded:
            self._recorded.discard(session.id)
            self.store.remove(session.id)
        return session

    def _close(self, session: Classroom) -> Classroom:
        self.sessions.pop(session.id, None)
        session.end()
        room = self.relay.rooms.rooms.get(session.room)
        if room is not None:
            for peer in list(room.peers):
                peer.close(_NOT_FOUND, "the classroom session ended")
        return session

    def stop(self) -> None:
        """The server stops: close every session's room, keep their records for the next start."""
        self._stopping = True
        for session in list(self.sessions.values()):
            self._close(session)
        self.store.close()

    async def restore(self) -> None:
        """Start again the sessions the store holds, once (at server start, or at the first request that
        needs the sessions, whichever comes first: a request waits until it is done); end those whose
        notebook is gone. A session whose notebook cannot be loaded now (but exists) stays recorded.
        """
        async with self._restore_lock:
            if not self._restored and not self._stopping:
                await self._restore()
                self._restored = True

    async def _restore(self) -> None:
        try:
            recorded = await self.store.open()
        except ClassroomStoreError as exc:
            log.error("classroom sessions could not be restored: %s", exc)
            return
        self._store_open = True
        for record in recorded:
            code, path = record["code"], record["path"]
            if self._stopping or record["id"] in self.sessions:
                continue
            if await self.documents.room_for_path(path, "json", "notebook") is None:
                log.warning("classroom %s on %s ended: the notebook is gone", code, path)
                self.store.remove(record["id"])
                continue
            try:
                live = await self.documents.document_for_path(path)
            except Exception:
                log.exception("classroom %s on %s not restored now (kept for the next start)", code, path)
                continue
            if live is None:  # there, but it could not be loaded (the log says why)
                log.error("classroom %s on %s not restored now (kept for the next start)", code, path)
                continue
            fields = ("id", "code", "teacher", "outputs", "created")
            session = Classroom(path=live.path, **{key: record[key] for key in fields})
            session.pulls = record["pulls"]
            self.sessions[session.id] = session
            self._recorded.add(session.id)
            try:
                await session.start(live, self.relay)
            except Exception:
                self._close(session)  # (still recorded: tried again at the next start)
                log.exception("classroom %s on %s not restored", session.code, session.path)
                continue
            log.info("classroom %s on %s restored (started by %s)", session.code, session.path, session.teacher)

    async def _open_store(self) -> None:
        if not self._store_open:  # a server whose start hooks did not run (restore opens it otherwise)
            await self.store.open()
            self._store_open = True

    def get(self, session_id: str) -> Classroom:
        session = self.sessions.get(session_id)
        if session is None:
            raise ApiError("not_found", f"no classroom session {session_id}")
        return session

    def by_code(self, code: str) -> Classroom:
        wanted = normalize_code(code)
        for session in self.sessions.values():
            if session.code == wanted:
                return session
        raise ApiError("not_found", "no classroom session has this code (ended, or mistyped)")

    def _new_code(self) -> str:
        taken = {session.code for session in self.sessions.values()}
        while True:
            code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
            if code not in taken:
                return code

    # -- students -------------------------------------------------------------------------------

    def status(self, session: Classroom, cells: NotebookCells | None, student: str) -> list[dict[str, Any]]:
        """Each shared cell, with what student ``student`` pulled of it (from their notebook ``cells`` when
        given, else the server's records): ``changed`` when the teacher's version differs from it, and a
        unified ``diff`` against the student's cell."""
        pulled = self._pulled(cells) if cells is not None else {}
        records = self.pulls_of(session, student)
        answer = []
        for projected in session.cells:
            cell = session.cell(str(projected.get("id")))
            assert cell is not None
            mine = pulled.get(cell["id"])
            last = mine["pulled_hash"] if mine else records.get(cell["id"])
            entry = {**cell, "pulled_hash": last, "changed": last is not None and last != cell["source_hash"]}
            if mine is not None:
                entry["student_cell_id"] = mine["id"]
                # Lines without their ends, joined with one: a last line without a newline would run into
                # the next line of the diff otherwise.
                entry["diff"] = "\n".join(
                    difflib.unified_diff(
                        mine["source"].splitlines(), cell["source"].splitlines(), "yours", "teacher", lineterm=""
                    )
                )
            answer.append(entry)
        return answer

    def pull(
        self, session: Classroom, cell_id: str, cells: NotebookCells, student: str, *, replace: bool
    ) -> dict[str, Any]:
        """Put the teacher's version of shared cell ``cell_id`` into the student's notebook: a new cell at the end
        (or after the cell pulled from it before), or, with ``replace``, in place of that cell. Answer the cell."""
        cell = session.cell(cell_id)
        if cell is None:
            raise ApiError("not_found", f"cell {cell_id} is not shared in this session")
        origin = {"classroom": session.code, "cell_id": cell_id, "pulled_hash": cell["source_hash"]}
        before = self._pulled(cells).get(cell_id)
        if replace:
            if before is None:
                raise ApiError("bad_request", f"nothing was pulled from cell {cell_id} into this notebook to replace")
            answer = cells.change(
                before["id"], source=cell["source"], cell_type=cell["cell_type"], metadata={META_KEY: origin}
            )
        else:
            ids = cells.ids()
            after = ids.index(before["id"]) + 1 if before is not None else len(ids)
            answer = cells.insert(
                cell_type=cell["cell_type"] or "code",
                source=cell["source"],
                metadata={META_KEY: origin},
                index=after,
            )
        session.pulls.setdefault(student, {})[cell_id] = cell["source_hash"]
        if session.id in self._recorded:
            self.store.pulled(session.id, student, cell_id, cell["source_hash"])
        return answer

    def students(self, session: Classroom) -> list[dict[str, Any]]:
        """The class as the teacher sees it: every student present in the session's room now (from its
        awareness: ``{"user": {"username", "display_name", ...}, "classroom": {"following": bool}}``) or who
        pulled a cell, by username: ``name``, ``joined`` (present now), ``following`` (true if one of their
        clients follows the teacher, null when none says), ``pulled`` (cell id → hash of the version pulled)
        and ``up_to_date`` (the shared cells whose latest version they pulled)."""
        present: dict[str, dict[str, Any]] = {}
        for state in session.presence().values():
            user = state.get("user")
            username = user.get("username") or user.get("name") if isinstance(user, dict) else None
            if not isinstance(username, str) or not username:
                continue  # not a JupyterLab identity: nobody to list
            name = next((user[k] for k in ("display_name", "name") if isinstance(user.get(k), str) and user[k]), None)
            entry = present.setdefault(username, {"name": name or username, "following": None})
            classroom = state.get("classroom")
            following = classroom.get("following") if isinstance(classroom, dict) else None
            if isinstance(following, bool):  # several tabs: following when any of them follows
                entry["following"] = bool(entry["following"]) or following
        latest = {cell.get("id"): cell.get("source_hash") for cell in session.cells}
        answer = []
        for username in sorted(set(present) | set(session.pulls)):
            pulled = dict(session.pulls.get(username, {}))
            here = present.get(username)
            answer.append(
                {
                    "user": username,
                    "name": here["name"] if here else username,
                    "joined": here is not None,
                    "following": here["following"] if here else None,
                    "pulled": pulled,
                    "up_to_date": sorted(c for c, h in pulled.items() if latest.get(c) == h),
                }
            )
        return answer

    def pulls_of(self, session: Classroom, student: str) -> dict[str, str]:
        return dict(session.pulls.get(student, {}))

    @staticmethod
    def _pulled(cells: NotebookCells) -> dict[str, dict[str, Any]]:
        """Teacher cell id -> the last of the student's cells pulled from it (id, source, pulled hash)."""
        found: dict[str, dict[str, Any]] = {}
        for cell in cells.list(outputs=False)["cells"]:
            origin = (cell.get("metadata") or {}).get(META_KEY) or {}
            if isinstance(origin, dict) and origin.get("cell_id"):
                found[origin["cell_id"]] = {
                    "id": cell["id"],
                    "source": cell["source"],
                    "pulled_hash": origin.get("pulled_hash"),
                    "edited": source_hash(cell["source"]) != origin.get("pulled_hash"),
                }
        return found

    # -- relay policy of the classroom rooms ------------------------------------------------------

    def claims(self, name: str) -> bool:
        return name.startswith(ROOM_PREFIX)

    async def load(self, name: str) -> Doc:
        session = self.sessions.get(name[len(ROOM_PREFIX) :])  # (a session starting: its own room loads here)
        if session is None:
            await self.restore()  # a student reconnecting as the server starts finds the session restored
            session = self.sessions.get(name[len(ROOM_PREFIX) :])
        if session is None:
            from rtc_relay.policy import RoomLoadError

            raise RoomLoadError(_NOT_FOUND, "no classroom session runs in this room (it ended)")
        return session.doc

    def admit(self, name: str, params: Mapping[str, str]) -> tuple[int, str, bool] | None:
        if name[len(ROOM_PREFIX) :] not in self.sessions:
            return (_NOT_FOUND, "the classroom session ended", False)
        return None

    async def recover(self, name: str, update: bytes, params: Mapping[str, str]) -> bool:
        return False

    def on_custom(self, name: str, text: str, payload: bytes, reply: Callable[[dict], None], writer: bool) -> bool:
        return False

    def keep(self, name: str) -> str | None:
        return "classroom session" if name[len(ROOM_PREFIX) :] in self.sessions else None

    def on_freed(self, name: str) -> None:
        return None
