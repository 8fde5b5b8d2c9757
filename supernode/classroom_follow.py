"""Following the teacher: where in the shared cells the teacher is, for students who follow them.

The teacher's JupyterLab publishes, in the awareness of the teacher's notebook room, the local state field
``"classroom"``: ``{"session": <session id>, "cell": <active cell id or null>, "top": <id of the first cell
visible at the top of the viewport, or null>}``. :class:`Follow` projects it into the projection document's
``meta`` map under ``"follow"``: ``{"cell", "top", "teacher", "at"}``, where ``cell`` and ``top`` are mapped
to the nearest *shared* cell at or above them (null when none: students never learn of an unshared cell),
``teacher`` is the teacher's display name and ``at`` the time (epoch seconds) the value last changed.

Whose position: the states naming this session, of clients that may write the notebook (a reader of the
teacher's notebook, such as a student with a read-only share, cannot lead the class); when several carry it
(the teacher's two tabs), the one that changed last wins. When the teacher's state goes (tab closed,
connection lost), ``follow`` keeps its last value: students stay where they were. When sharing changes
(a cell unshared, moved), the last position is mapped again.

It follows the room's presence as it changes (:meth:`LiveDocument.watch_presence`, no polling), on the next
turn of the event loop (one recomputation for every change of one turn), and writes ``follow`` only when
its value changes: the teacher's cursor moving within a cell costs students nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pycrdt import Map

__all__ = ["Follow"]

log = logging.getLogger("supernode.classroom")

FIELD = "classroom"  # the awareness field the teacher's UI publishes


class Follow:
    """The teacher's position in session ``session_id``, read from ``live`` (the teacher's LiveDocument), written
    into ``meta`` (the projection's meta map); ``shared(ycell)`` says whether a cell of the notebook is shared."""

    def __init__(self, session_id: str, teacher: str, live: Any, meta: Map, shared: Callable[[Map], bool]) -> None:
        self.session_id = session_id
        self.teacher = teacher
        self._live = live
        self._meta = meta
        self._shared = shared
        self._order = itertools.count(1)
        self._states: dict[int, tuple[str, int]] = {}  # client id -> (its "classroom" state, when it last changed)
        self.position: dict[str, Any] | None = None  # the leading state: raw cell/top ids and teacher's name
        self._unwatch: Callable[[], None] | None = None
        self._pending = False
        self._stopped = False

    def start(self) -> None:
        """Read the teacher's position now (they may be in the room already), then follow its changes."""
        self._unwatch = self._live.watch_presence(self._presence_changed)
        self.read()

    def stop(self) -> None:
        self._stopped = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _presence_changed(self) -> None:
        # Inside the relay's handling of an awareness message: recompute on the next turn, once per turn.
        if not self._pending and not self._stopped:
            self._pending = True
            asyncio.get_running_loop().call_soon(self._read_soon)

    def _read_soon(self) -> None:
        self._pending = False
        if not self._stopped:
            try:
                self.read()
            except Exception:  # a fault here must not stop the next change from being followed
                log.exception("classroom %s: following the teacher's position failed", self.session_id)

    def read(self) -> None:
        """Take the leading state of this session from the notebook room's presence; project it if it moved."""
        states: dict[int, tuple[str, int]] = {}
        values: dict[int, dict[str, Any]] = {}
        for client, state in self._live.presence(writers_only=True).items():
            value = state.get(FIELD)
            if not isinstance(value, dict) or value.get("session") != self.session_id:
                continue
            text = json.dumps(value, sort_keys=True)
            known = self._states.get(client)
            states[client] = known if known is not None and known[0] == text else (text, next(self._order))
            values[client] = {"cell": _id(value.get("cell")), "top": _id(value.get("top")), "teacher": _name(state)}
        self._states = states
        if not states:
            return  # the teacher left (or has not come yet): students stay where they were
        lead = max(states, key=lambda client: states[client][1])
        position = values[lead]
        position["teacher"] = position["teacher"] or self.teacher
        if position != self.position:
            self.position = position
            self.project()

    def project(self) -> None:
        """Write ``follow`` from the last position, mapped to the shared cells as they are now (if it changed)."""
        if self.position is None:
            return
        cell, top = self._nearest_shared(self.position["cell"], self.position["top"])
        value = {"cell": cell, "top": top, "teacher": self.position["teacher"]}
        current = self._meta.get("follow")
        if isinstance(current, dict) and {k: current.get(k) for k in value} == value:
            return
        self._meta["follow"] = {**value, "at": time.time()}

    def _nearest_shared(self, *wanted: str | None) -> list[str | None]:
        """For each id, the id of the nearest shared cell at or above it (None if none, or no such cell)."""
        found: dict[str, str | None] = {}
        last: str | None = None
        targets = {cell_id for cell_id in wanted if cell_id is not None}
        for ycell in self._live.document.ycells:
            if not targets:
                break
            cell_id = str(ycell.get("id"))
            if self._shared(ycell):
                last = cell_id
            if cell_id in targets:
                found[cell_id] = last
                targets.discard(cell_id)
        return [found.get(cell_id) if cell_id is not None else None for cell_id in wanted]


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _name(state: dict[str, Any]) -> str | None:
    user = state.get("user")
    if not isinstance(user, dict):
        return None
    for key in ("display_name", "name", "username"):
        if isinstance(user.get(key), str) and user[key]:
            return user[key]
    return None
