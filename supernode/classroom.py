"""One classroom session: a teacher's notebook, the cells they share, and their live projection.

A cell is shared when its metadata says so (``{"jupyter-rtc": {"shared": true}}``: kept in the file,
visible in it, surviving reloads). :class:`Classroom` keeps a projection of the shared cells, in order,
in a document of its own that students read in the relay room :attr:`Classroom.room`: each cell's id, type,
source (a Y.Text, changed by the smallest edit, so students see the teacher type), execution count and,
when the session shares them, its outputs. Unshared cells never enter the projection; unsharing a cell
removes it. The projection follows the teacher's document on the next turn of the event loop after each
of its transactions (several transactions of one turn: one projection), after the teacher's edit went to
their collaborators.

The projection's ``meta`` map holds the session (``meta["session"]``: ``id``, ``code``, ``teacher``,
``outputs``) and where the teacher is (``meta["follow"]``, see :mod:`supernode.classroom_follow`).

Students hold no write path: the room takes no writes from clients (``remote_writes``), and nothing of
the projection leads back to the teacher's notebook. The session holds the teacher's room open while it
lasts, so the document it follows is the one browsers edit.

Lifecycle: :meth:`Classroom.start` loads the teacher's notebook and the projection room; :meth:`end`
closes the projection room (its clients get close code 1000) and lets the teacher's room go.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from pycrdt import Array, Doc, Map, Text

from .cells import set_text
from .classroom_follow import Follow
from .records import source_hash

__all__ = ["META_KEY", "Classroom", "is_shared"]

log = logging.getLogger("supernode.classroom")

META_KEY = "jupyter-rtc"  # cell metadata: {"jupyter-rtc": {"shared": true}}


def is_shared(ycell: Map) -> bool:
    meta = ycell.get("metadata")
    value = meta.get(META_KEY) if meta is not None else None
    if hasattr(value, "to_py"):
        value = value.to_py()
    return isinstance(value, dict) and value.get("shared") is True


class Classroom:
    """Session ``id`` (join ``code``) on the notebook of ``live`` (a LiveDocument), by ``teacher``."""

    def __init__(
        self,
        *,
        id: str,  # noqa: A002
        code: str,
        path: str,
        teacher: str,
        outputs: bool,
        created: float | None = None,
    ) -> None:
        self.id = id
        self.code = code
        self.path = path
        self.teacher = teacher
        self.outputs = outputs
        self.created = time.time() if created is None else created
        self.room = f"classroom/{id}"
        self.doc = Doc()
        self.cells = self.doc.get("cells", type=Array)
        self.meta = self.doc.get("meta", type=Map)
        self.pulls: dict[str, dict[str, str]] = {}  # student -> cell id -> source hash pulled
        self._live: Any = None
        self._subscription: Any = None
        self._pending = False
        self._connection: Any = None
        self.follow: Follow | None = None
        self.ended = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "path": self.path,
            "room": self.room,
            "teacher": self.teacher,
            "outputs": self.outputs,
            "created": self.created,
            "shared": [cell.get("id") for cell in self.cells],
        }

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self, live: Any, relay: Any) -> None:
        """Follow ``live`` (the teacher's LiveDocument) into the projection, served in :attr:`room`."""
        self._live = live
        live.hold(True, "classroom session")
        with self.doc.transaction():
            self.meta["path"] = self.path
            self.meta["code"] = self.code
            self.meta["outputs"] = self.outputs
            self.meta["teacher"] = self.teacher
            self.meta["session"] = {"id": self.id, "code": self.code, "teacher": self.teacher, "outputs": self.outputs}
        self.follow = Follow(self.id, self.teacher, live, self.meta, is_shared)
        self.project()
        self._subscription = live.document.ycells.observe_deep(self._changed)  # cells, sources, metadata, outputs
        self.follow.start()
        self._connection = relay.open_direct(self.room, label=f"classroom {self.code}")
        self._connection.hold("classroom session")
        await self._connection.ready(30.0)

    def end(self) -> None:
        """Stop following; close the projection room's clients; let the teacher's room go."""
        if self.ended:
            return
        self.ended = True
        if self.follow is not None:
            self.follow.stop()
        live = self._live
        if live is not None:
            try:
                live.document.ycells.unobserve(self._subscription)
            except Exception:  # the teacher's room was reloaded meanwhile: nothing to unobserve
                pass
            try:
                live.hold(False, "classroom session")
            except ValueError:  # the relay, stopping, released every hold already
                pass
        connection = self._connection
        if connection is not None:
            if connection.holds.get("classroom session"):  # (the relay, stopping, releases every hold)
                connection.release("classroom session")
            connection.close(reason="the classroom session ended")

    # -- projection -----------------------------------------------------------------------------

    def _changed(self, *_: Any) -> None:
        # Inside the teacher's transaction commit, where its document is read-only: project later, and after
        # this turn's writes to the sockets (call_later(0) runs on the next turn): the teacher's collaborators
        # get the edit first, and a class of a hundred students never delays them.
        if not self._pending and not self.ended:
            self._pending = True
            asyncio.get_running_loop().call_later(0, self._project_soon)

    def _project_soon(self) -> None:
        self._pending = False
        if not self.ended:
            self.project()

    def project(self) -> None:
        """Make the projection hold the shared cells of the teacher's notebook, in order, in one transaction."""
        shared = [ycell for ycell in self._live.document.ycells if is_shared(ycell)]
        wanted = [str(ycell.get("id")) for ycell in shared]
        with self.doc.transaction():
            for index in reversed(range(len(self.cells))):
                if self.cells[index].get("id") not in wanted:
                    del self.cells[index]
            for position, ycell in enumerate(shared):
                cell_id = wanted[position]
                current = [c.get("id") for c in self.cells]
                if cell_id in current and current.index(cell_id) != position:
                    del self.cells[current.index(cell_id)]  # moved: placed again below
                    current.remove(cell_id)
                if cell_id not in current:
                    self.cells.insert(position, Map({"id": cell_id, "source": Text(), "cell_type": ""}))
                self._update(self.cells[position], ycell)
            if self.follow is not None:
                self.follow.project()  # sharing may have changed: the teacher's position maps anew

    def _update(self, projected: Map, ycell: Map) -> None:
        source = str(ycell["source"])
        text = projected["source"]
        old = str(text)
        if old != source:
            set_text(text, old, source)
        for key, value in (
            ("cell_type", ycell.get("cell_type")),
            ("source_hash", source_hash(source)),
            ("execution_count", ycell.get("execution_count")),
        ):
            if projected.get(key) != value:
                projected[key] = value
        if self.outputs and ycell.get("cell_type") == "code":
            outputs = ycell["outputs"].to_py() if "outputs" in ycell else []
            if projected.get("outputs") != outputs:
                projected["outputs"] = outputs
        elif "outputs" in projected:
            del projected["outputs"]

    def presence(self) -> dict[int, dict]:
        """The awareness states of the clients in the projection room now (students), by Yjs client id."""
        connection = self._connection
        if connection is None or connection.closed.is_set():
            return {}
        return connection.presence()

    def cell(self, cell_id: str) -> dict[str, Any] | None:
        """A shared cell as the projection holds it now: ``id``, ``cell_type``, ``source``, ``source_hash``, ..."""
        for projected in self.cells:
            if projected.get("id") == cell_id:
                value = projected.to_py()
                value["source"] = str(projected["source"])
                return value
        return None
