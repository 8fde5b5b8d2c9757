"""The timeline of a document: a bounded ring of labelled versions, taken as the room lives.

The relay compacts a room's history, so the timeline is not the Yjs history: it is a list of
*versions*, each the document's whole content at a moment worth going back to, with a label saying
which moment. A version is taken by encoding the document's state (:class:`Encoded`, one
``get_update``: cheap on the event loop for notebooks of many cells) and turned into plain data (a
notebook dict, a text, bytes) only when somebody reads it (the timeline endpoint, a fork). A ``saved``
version of a notebook of large outputs (16 KiB a cell or more) is the very data the save wrote, kept as
it is (:meth:`~supernode.document.LiveDocument.saved_content`): encoding tens of megabytes again would
hold the event loop, and the save's answer, for tens of milliseconds, where the plain data costs about
the same memory as its encoding:

* ``opened`` — the file was loaded into its room;
* ``saved`` — the room was saved to its file (autosave after a quiet period, or a save request);
* ``executed`` — an execution of the notebook ended;
* ``changed on disk`` — an edit made by another program was merged in;
* ``before {user} joined`` — a user joined the room;
* ``timeline`` — the moment a user opened the timeline (so the slider's last step is now).

A version also says who was in the room since the previous one (``users``: every user who joined
it in that time, by name) and what changed (``changed``: the ids of the cells added, removed or
edited, ``metadata`` for the notebook's metadata; ``content`` for a text file or a blob).

Resource handling: each room's ring is bounded twice, by ``max_versions`` and by ``max_bytes`` (the
size of the versions' encoded states, or of their JSON for plain ones): the oldest versions go
first, the newest always stays. A version taken while the document has not changed is not kept
(its moment names the version before). The ring lives in memory with the room: it is
dropped when the room is freed and at a restart, and it never keeps the document's history alive.
Error handling: a version that cannot be taken (the room is gone) is skipped; listeners on the event
bus never raise.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .content import load_update
from .snapshot import snapshot
from .packed_parts import iter_parts

__all__ = ["Timeline", "Timelines", "Version"]

log = logging.getLogger("supernode.timeline")

DOCUMENT_EVENTS = "https://schema.jupyter-rtc.org/events/document/v1"
EXECUTION_EVENTS = "https://schema.jupyter-rtc.org/events/execution/v1"
AWARENESS_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/awareness/v1"

_DOCUMENT_LABELS = {"loaded": "opened", "saved": "saved", "merged_from_disk": "changed on disk"}
# Moments that name the version they find unchanged too (a save when an execution ends is both).
_NAMED_MOMENTS = frozenset({"saved", "executed", "changed on disk"})


class Encoded:
    """A document's content kept as its encoded Yjs state, ``(update, rest)`` as
    :meth:`~supernode.document.LiveDocument.encoded` gives it (what taking a version costs on the
    event loop: at most one ``get_update``), decoded by ``decode(update, rest)`` the first time it is read."""

    def __init__(self, encoded: tuple[bytes, Any], decode: Callable[[bytes, Any], Any]) -> None:
        self.encoded = encoded
        self.size = len(encoded[0]) + len(encoded[1] or b"")
        self._decode: Callable[[bytes, Any], Any] | None = decode
        self._value: Any = None

    def value(self) -> Any:
        if self._decode is not None:
            self._value, self._decode = self._decode(*self.encoded), None
        return self._value

    def same(self, other: Encoded) -> bool:
        """Whether both hold the same encoding (the same content, without decoding either)."""
        mine, theirs = self.encoded, other.encoded
        return (mine[0] is theirs[0] or mine[0] == theirs[0]) and (mine[1] is theirs[1] or mine[1] == theirs[1])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Encoded):
            return self.same(other) or self.value() == other.value()
        return self.value() == other

    __hash__ = None  # type: ignore[assignment]


def _decoded(key: Any, update: bytes, rest: Any) -> Any:
    """The content of a document of ``key`` holding ``update`` and the updates packed in ``rest``."""
    return snapshot(key, load_update(key, update, *(iter_parts(rest) if rest is not None else ())))


def _value(held: Any) -> Any:
    return held.value() if isinstance(held, Encoded) else held


class Version:
    """One version of a document: its content at ``timestamp`` (seconds since the epoch).

    ``content`` (plain data) and ``changed`` are worked out when first read: taking a version of a
    large notebook costs one encoding of its state, not a conversion to plain data.
    """

    def __init__(
        self, timestamp: float, label: str, held: Any, users: list[str], previous: Any = None, size: int | None = None
    ) -> None:
        self.timestamp = timestamp
        self.label = label
        self.held = held  # the content, plain or Encoded
        if size is None:
            size = held.size if isinstance(held, Encoded) else _size(held)
        self.size = size
        self.users = users
        self._previous = previous  # the content of the version before (for ``changed``), until it is read
        self._changed: list[str] | None = None if previous is not None else []

    @property
    def content(self) -> Any:
        return _value(self.held)

    @property
    def changed(self) -> list[str]:
        """What differs from the version before: cell ids (and ``metadata``, ``order``), or ``content``."""
        if self._changed is None:
            self._changed, self._previous = _changed(_value(self._previous), self.content), None
        return self._changed

    def to_json(self) -> dict[str, Any]:
        """The version as the timeline endpoint lists it (without its content)."""
        return {"timestamp": self.timestamp, "label": self.label, "users": self.users, "changed": self.changed}


def _size(content: Any) -> int:
    if isinstance(content, (bytes, bytearray)):
        return len(content)
    return len(json.dumps(content, separators=(",", ":"), default=str))


def _changed(before: Any, after: Any) -> list[str]:
    """What differs between two contents: cell ids (and ``metadata``) of notebooks, else ``content``."""
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return [] if before == after else ["content"]
    old = {cell.get("id"): cell for cell in before.get("cells", [])}
    new = {cell.get("id"): cell for cell in after.get("cells", [])}
    ids = [cid for cid in new if old.get(cid) != new[cid]] + [cid for cid in old if cid not in new]
    changed = [str(cid) for cid in ids]
    if before.get("metadata") != after.get("metadata"):
        changed.append("metadata")
    if not changed and [c.get("id") for c in before.get("cells", [])] != [c.get("id") for c in after.get("cells", [])]:
        changed.append("order")
    return changed


class Timeline:
    """The ring of versions of one room (see the module docstring)."""

    def __init__(self, *, max_versions: int, max_bytes: int) -> None:
        self.max_versions = max(1, max_versions)
        self.max_bytes = max_bytes
        self._versions: deque[Version] = deque()
        self.revision = -1  # the document's revision when the newest version was taken (see Timelines)
        self._bytes = 0
        self.users: set[str] = set()  # in the room now
        self._since: set[str] = set()  # in the room since the last version

    @property
    def versions(self) -> list[Version]:
        """Oldest first."""
        return list(self._versions)

    def joined(self, user: str) -> None:
        self.users.add(user)
        self._since.add(user)

    def left(self, user: str) -> None:
        self.users.discard(user)

    def record(self, label: str, content: Any, at: float | None = None, size: int | None = None) -> Version | None:
        """Keep ``content`` (plain data, or :class:`Encoded`) as the newest version; None (nothing kept)
        if it is the newest one's, whose label then also names a save, an execution or a change on
        disk (``saved, executed``). Encoded contents are compared by their encoding: a change undone
        by hand may be kept as a version of its own. ``size``: what the version counts against
        ``max_bytes`` (by default its encoding's length, or its JSON's)."""
        last = self._versions[-1] if self._versions else None
        if last is not None and _same(last.held, content):
            if label in _NAMED_MOMENTS and label not in last.label.split(", "):
                last.label = f"{last.label}, {label}"  # one version, two moments (e.g. saved, executed)
            return None
        version = Version(
            timestamp=time.time() if at is None else at,
            label=label,
            held=content,
            users=sorted(self._since | self.users),
            previous=last.held if last is not None else None,
            size=size,
        )
        self._since = set()
        self._versions.append(version)
        self._bytes += version.size
        while len(self._versions) > 1 and (len(self._versions) > self.max_versions or self._bytes > self.max_bytes):
            self._bytes -= self._versions.popleft().size
        return version


def _same(held: Any, content: Any) -> bool:
    """Whether two contents are the same version, without decoding an encoded one."""
    if isinstance(held, Encoded) or isinstance(content, Encoded):
        return held is content or (isinstance(held, Encoded) and isinstance(content, Encoded) and held.same(content))
    return held == content


_BYTES_PER_CELL = 16 * 1024  # from this many bytes per cell on, a notebook's saved data is kept as it is


def _mostly_strings(content: Any, size: int) -> bool:
    """Whether ``content`` (``size`` bytes on disk) costs about its size in memory as plain data: a notebook
    of large outputs (its strings are the bulk), not one of many small cells (a dict or two each)."""
    cells = content.get("cells") if isinstance(content, dict) else None
    return isinstance(cells, list) and size >= _BYTES_PER_CELL * max(1, len(cells))


class Timelines:
    """The timelines of every open document room, fed by the server's event bus.

    ``live`` maps each open document room to its :class:`~supernode.document.LiveDocument` (the
    document manager's own mapping). ``max_versions`` and ``max_bytes`` bound each room's ring.
    A document whose ``revision`` has not moved since its newest version is not read again.
    """

    def __init__(self, live: Mapping[str, Any], *, max_versions: int, max_bytes: int) -> None:
        self._live = live
        self.max_versions = max_versions
        self.max_bytes = max_bytes
        self._rooms: dict[str, Timeline] = {}

    def of(self, room: str) -> Timeline | None:
        return self._rooms.get(room)

    def snapshot(self, room: str, label: str) -> Timeline | None:
        """Take the room's content now as a version labelled ``label``; the room's timeline (None: not open)."""
        live = self._live.get(room)
        if live is None:
            return None
        timeline = self._rooms.get(room)
        if timeline is None:
            timeline = self._rooms[room] = Timeline(max_versions=self.max_versions, max_bytes=self.max_bytes)
        revision = live.revision
        if timeline.versions and timeline.revision == revision:
            timeline.record(label, timeline.versions[-1].held)  # unchanged: only names the moment
        else:
            saved = live.saved_content() if label == "saved" else None
            if saved is not None and _mostly_strings(saved[0], saved[1]):
                timeline.record(label, saved[0], size=saved[1])
            else:
                key = live.key
                timeline.record(label, Encoded(live.encoded(), lambda update, rest: _decoded(key, update, rest)))
            timeline.revision = revision
        return timeline

    def _room_of_path(self, path: str) -> str | None:
        """The open notebook room of ``path`` (None if there is none)."""
        for room, live in list(self._live.items()):
            if live.path == path and live.key.kind == "notebook":
                return room
        return None

    def forget(self, room: str) -> None:
        self._rooms.pop(room, None)

    # -- the event bus ------------------------------------------------------------------------

    def listen(self, event_logger: Any) -> Callable[[], None]:
        """Follow document, execution and awareness events on ``event_logger``; returns the undo."""
        listeners = [
            (DOCUMENT_EVENTS, self._on_document),
            (EXECUTION_EVENTS, self._on_execution),
            (AWARENESS_EVENTS, self._on_awareness),
        ]
        for schema_id, listener in listeners:
            event_logger.add_listener(schema_id=schema_id, listener=listener)

        def undo() -> None:
            for schema_id, listener in listeners:
                event_logger.remove_listener(schema_id=schema_id, listener=listener)

        return undo

    async def _on_document(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, room = data.get("action"), data.get("room")
        if not room:
            return
        if action == "freed":
            self.forget(room)
        elif action in _DOCUMENT_LABELS:
            await self._loaded(room)
            self._safely(room, _DOCUMENT_LABELS[action])

    async def _on_execution(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        if data.get("status") in ("ok", "error", "aborted") and data.get("path"):
            room = self._room_of_path(data["path"])
            if room is not None:
                self._safely(room, "executed")

    async def _on_awareness(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        room, user, action = data.get("roomid"), data.get("username"), data.get("action")
        if not room or not user:
            return
        if action == "join":
            await self._loaded(room)
            timeline = self._safely(room, f"before {user} joined")
            if timeline is not None:
                timeline.joined(user)
        elif action == "leave" and room in self._rooms:
            self._rooms[room].left(user)

    async def _loaded(self, room: str) -> None:
        """Wait until the room's document holds the whole file (a load in stages goes at its own pace)."""
        live = self._live.get(room)
        if live is not None:
            await live.loaded.wait()

    def _safely(self, room: str, label: str) -> Timeline | None:
        try:
            return self.snapshot(room, label)
        except Exception:
            log.exception("room %s: taking a %r version failed", room, label)
            return None
