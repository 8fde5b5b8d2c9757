"""Agents in a notebook's presence: who they are, which cell they work on, and who is editing which cell.

An agent (one MCP session) shows in the room's awareness like a person does in JupyterLab: a ``user``
(``name`` and ``display_name`` "agent: <client name>", ``initials``, ``color``, ``username``), plus
``cursors`` (a caret at the start of the cell it works on, drawn by JupyterLab with its name) and an
``agent`` field (``client``, ``cell``) that tells programs it is not a person.

**Who is editing a cell.** JupyterLab's editor publishes ``cursors``: ``[{anchor, head, primary, empty}]``
where ``anchor`` and ``head`` are Yjs relative positions as JSON, ``{"type": {"client", "clock"}, "item":
…, "assoc": …}``; ``type`` is the ID of the shared text the caret is in: the cell's ``source``. The ID of
each cell's source text is read with pycrdt as the ``type`` of a sticky index at its start
(``StickyIndex.new(text, 0, Assoc.BEFORE)``), so a caret maps to its cell by that ID. A person's caret
stays in the last cell they edited until they focus another (JupyterLab does not clear ``cursors`` on
blur): that cell counts as theirs until then, or until their caret has rested for a while (:class:`Carets`).
Agents' own carets (states with ``agent``) never count.

:class:`AgentPresence` keeps one agent's states in the notebooks it works on: published on each call,
renewed by :meth:`AgentPresence.renew` (y-protocols clients drop a state not renewed within 30 s), and
withdrawn by :meth:`AgentPresence.expire` after ``idle_timeout`` seconds without a call on that notebook,
or by :meth:`AgentPresence.close` when the session ends. :class:`AgentSessions` keeps the agents at work by
session and runs their renewals and expiries (:meth:`AgentSessions.run`, which its owner runs as a task).

**The collaborators panel.** JupyterLab lists collaborators from the awareness of the room
``JupyterLab:globalAwareness`` (``user``, ``current`` and ``documents``: paths of its collaborative drive,
``RTC:<path>``), not from the document rooms. While an agent works on notebooks it is shown there too, through
a :class:`LobbyChannel` (its ``current`` is the notebook of its last call).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pycrdt import Array, Assoc, StickyIndex

__all__ = [
    "GLOBAL_ROOM",
    "AgentPresence",
    "AgentSessions",
    "Carets",
    "LobbyChannel",
    "PresenceChannel",
    "agent_state",
    "editors_of",
]

log = logging.getLogger("rtc_common.agent_presence")

GLOBAL_ROOM = "JupyterLab:globalAwareness"
_DRIVE = "RTC:"  # JupyterLab's collaborative drive: the prefix of the paths in the global awareness

_COLORS = ("#7e57c2", "#26a69a", "#ef6c00", "#5c6bc0", "#8d6e63", "#00897b", "#d81b60", "#546e7a")


class PresenceChannel(Protocol):
    """One notebook's room, as an agent takes part in its presence."""

    def states(self) -> dict[int, dict[str, Any]]:
        """Everyone's awareness state, by Yjs client id."""

    def publish(self, state: dict[str, Any] | None) -> None:
        """Show ``state`` as the agent's presence in this room (None: withdraw it)."""

    def cells(self) -> Array:
        """The notebook's ``cells`` array (its replica the states' positions refer to)."""

    @property
    def alive(self) -> bool:
        """False once the room connection is gone (a new channel is then needed)."""


class LobbyChannel(Protocol):
    """The agent's presence in the room ``JupyterLab:globalAwareness``."""

    def publish(self, state: dict[str, Any] | None) -> None: ...


def _text_ids(cells: Array) -> dict[tuple[int, int], str]:
    """The ID (client, clock) of each cell's source text -> the cell's id."""
    ids = {}
    for ycell in cells:
        source = ycell.get("source") if hasattr(ycell, "get") else None
        if source is None or not hasattr(source, "integrated"):
            continue
        position = StickyIndex.new(source, 0, Assoc.BEFORE).to_json().get("type") or {}
        if "client" in position and "clock" in position:
            ids[(int(position["client"]), int(position["clock"]))] = str(ycell.get("id"))
    return ids


def _caret_text(cursor: Any) -> tuple[int, int] | None:
    for end in ("head", "anchor"):
        position = cursor.get(end) if isinstance(cursor, dict) else None
        kind = position.get("type") if isinstance(position, dict) else None
        if isinstance(kind, dict) and isinstance(kind.get("client"), int) and isinstance(kind.get("clock"), int):
            return kind["client"], kind["clock"]
    return None


def person_name(state: dict[str, Any]) -> str:
    user = state.get("user") if isinstance(state.get("user"), dict) else {}
    return str(user.get("display_name") or user.get("name") or user.get("username") or "someone")


class Carets:
    """When each person's caret last moved in one notebook, as far as the calls that asked saw it.

    JupyterLab leaves a caret where it was when its editor loses focus, so a caret that has not moved for
    ``hold`` seconds no longer makes its cell the person's: an agent told to retry later gets the cell once the
    person has rested that long (typing moves the caret, so a person at work keeps it). A caret seen for the
    first time counts as just moved.
    """

    def __init__(self, hold: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.hold = hold
        self._clock = clock
        self._seen: dict[int, tuple[str, float]] = {}  # client -> (its cursors as JSON, when first seen so)

    def moving(self, states: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
        """The states of ``states`` whose caret moved within ``hold`` seconds."""
        now = self._clock()
        fresh = {}
        for client, state in states.items():
            cursors = json.dumps(state.get("cursors"), sort_keys=True) if isinstance(state, dict) else "null"
            seen = self._seen.get(client)
            if seen is None or seen[0] != cursors:
                seen = self._seen[client] = (cursors, now)
            if now - seen[1] < self.hold:
                fresh[client] = state
        for gone in [client for client in self._seen if client not in states]:
            del self._seen[gone]
        return fresh


def editors_of(cells: Array, states: dict[int, dict[str, Any]]) -> dict[str, list[str]]:
    """Cell id -> names of the people whose caret is in that cell's source (agents left out)."""
    texts = None
    editors: dict[str, list[str]] = {}
    for state in states.values():
        if not isinstance(state, dict) or "agent" in state or not isinstance(state.get("cursors"), list):
            continue
        for cursor in state["cursors"]:
            caret = _caret_text(cursor)
            if caret is None:
                continue
            if texts is None:
                texts = _text_ids(cells)
            cell_id = texts.get(caret)
            if cell_id is not None:
                names = editors.setdefault(cell_id, [])
                if person_name(state) not in names:
                    names.append(person_name(state))
                break
    return editors


def agent_state(client: str, session: str, cells: Array | None = None, cell_id: str | None = None) -> dict[str, Any]:
    """The awareness state of agent ``client`` (MCP session ``session``), working on ``cell_id`` if given."""
    name = f"agent: {client}"
    digest = hashlib.sha256(session.encode()).digest()
    state: dict[str, Any] = {
        "user": {
            "username": f"agent-{digest.hex()[:8]}",
            "name": name,
            "display_name": name,
            "initials": ("A" + (client[:1] or "?")).upper()[:2],
            "color": _COLORS[digest[0] % len(_COLORS)],
        },
        "agent": {"client": client, "cell": cell_id},
    }
    if cells is not None and cell_id is not None:
        for ycell in cells:
            if ycell.get("id") == cell_id:
                position = StickyIndex.new(ycell["source"], 0, Assoc.BEFORE).to_json()
                caret = {"type": position.get("type"), "tname": None, "item": None, "assoc": -1}
                state["cursors"] = [{"anchor": caret, "head": caret, "primary": True, "empty": True}]
                break
    return state


@dataclass
class _Seat:
    channel: PresenceChannel
    cell_id: str | None
    seen: float
    state: dict[str, Any] = field(default_factory=dict)


class AgentPresence:
    """One agent's presence in the notebooks it works on (see the module docstring)."""

    def __init__(
        self, client: str, session: str, *, idle_timeout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.session = session
        self.idle_timeout = idle_timeout
        self._clock = clock
        self._seats: dict[str, _Seat] = {}
        self._current: str | None = None
        self.lobby: LobbyChannel | None = None

    @property
    def notebooks(self) -> list[str]:
        return list(self._seats)

    def working_on(
        self, path: str, channel: PresenceChannel, cell_id: str | None, lobby: LobbyChannel | None = None
    ) -> None:
        """Show the agent in notebook ``path`` (through ``channel``), at cell ``cell_id`` (None: no cell), and in
        the collaborators panel (through ``lobby``, if given)."""
        seat = self._seats.get(path)
        if seat is not None and seat.channel is not channel:
            seat.channel.publish(None)
            seat = None
        if seat is None:
            seat = self._seats[path] = _Seat(channel, cell_id, self._clock())
        seat.cell_id, seat.seen = cell_id, self._clock()
        seat.state = agent_state(self.client, self.session, channel.cells(), cell_id)
        channel.publish(seat.state)
        if lobby is not None and lobby is not self.lobby:
            if self.lobby is not None:
                self.lobby.publish(None)
            self.lobby = lobby
        self._current = path
        self._show_lobby()

    def _show_lobby(self) -> None:
        if self.lobby is None:
            return
        if not self._seats:
            self.lobby.publish(None)
            return
        current = self._current if self._current in self._seats else next(iter(self._seats))
        state = agent_state(self.client, self.session)
        state.update(current=_DRIVE + current, documents=[_DRIVE + path for path in self._seats])
        self.lobby.publish(state)

    def renew(self) -> None:
        """Publish every state again (as y-protocols clients do every 15 s); forget rooms that are gone."""
        for path, seat in list(self._seats.items()):
            if not seat.channel.alive:
                del self._seats[path]
            else:
                seat.channel.publish(seat.state)
        self._show_lobby()

    def expire(self) -> list[str]:
        """Withdraw the agent from notebooks it did nothing in for ``idle_timeout`` seconds; return their paths."""
        now = self._clock()
        gone = [path for path, seat in self._seats.items() if now - seat.seen >= self.idle_timeout]
        for path in gone:
            self._seats.pop(path).channel.publish(None)
        if gone:
            self._show_lobby()
        return gone

    def leave(self, path: str) -> None:
        seat = self._seats.pop(path, None)
        if seat is not None:
            seat.channel.publish(None)
            self._show_lobby()

    def close(self) -> None:
        """The session ended: withdraw the agent everywhere."""
        for path in list(self._seats):
            self.leave(path)


class AgentSessions:
    """The agents (MCP sessions) at work, by session key."""

    def __init__(self, *, idle_timeout: float = 120.0, renew_interval: float = 10.0) -> None:
        self.idle_timeout = idle_timeout
        self.renew_interval = renew_interval
        self._sessions: dict[str, AgentPresence] = {}

    def get(self, key: str, client: str) -> AgentPresence:
        presence = self._sessions.get(key)
        if presence is None or presence.client != client:
            if presence is not None:
                presence.close()
            presence = self._sessions[key] = AgentPresence(client, key, idle_timeout=self.idle_timeout)
        return presence

    def end(self, key: str) -> None:
        """Session ``key`` ended: withdraw its presence everywhere."""
        presence = self._sessions.pop(key, None)
        if presence is not None:
            presence.close()

    def close(self) -> None:
        for key in list(self._sessions):
            self.end(key)

    def sweep(self) -> None:
        """Renew every presence; withdraw the idle ones; forget sessions present nowhere. One session's failure
        is logged and does not stop the others'."""
        for key, presence in list(self._sessions.items()):
            try:
                presence.expire()
                presence.renew()
            except Exception:
                log.exception(
                    "renewing the presence of agent %r failed (tried again at the next sweep)", presence.client
                )
            if not presence.notebooks:
                del self._sessions[key]

    async def run(self) -> None:
        """Sweep every ``renew_interval`` seconds until cancelled; withdraw everything then."""
        try:
            while True:
                await asyncio.sleep(self.renew_interval)
                self.sweep()
        finally:
            self.close()
