"""Forks of document rooms: a new room that starts as a copy of a document, and may go back into it.

A *fork* is a relay room named by a random hex id (as jupyter-collaboration names them), whose
document starts as the root room's document (the same Yjs items, so the two merge without
duplicating anything). Clients join it like any room (``/api/collaboration/room/{fork_roomid}``)
and edit it; the supernode writes in it through the room's direct connection.

* **Synchronized** forks (``synchronize``) take every change of the root as it happens.
* **Merging** a fork back applies to the root every change the fork has and the root has not, as a
  normal change of the live document: every client of the root sees it, and it is saved.
* **Timeline forks** (:meth:`ForkManager.open_timeline`) back the stock timeline slider: the fork
  moves among the versions of the root's :class:`~supernode.timeline.Timeline` (:meth:`ForkManager.move`),
  and restoring (:meth:`ForkManager.restore`) merges the version shown into the root.

Resource handling: forks live in memory only (gone at a restart). A fork holds its root room
loaded while it exists. A fork made through the API stays until it is deleted; a timeline fork
goes once restored, or when its room is freed (nobody in it for the relay's cleanup delay).
Error handling: unknown rooms and forks raise :class:`~supernode.errors.ApiError` ``not_found``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Doc

from rtc_common.schema import schema_path

from .content import load_update
from .documents import DocumentLoadError
from .errors import ApiError
from .keys import DocumentKey
from .timeline import Timelines, Version

__all__ = ["FORK_EVENTS", "Fork", "ForkManager"]

log = logging.getLogger("supernode.forks")

FORK_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/fork/v1"
_HOLD = "fork"


@dataclass
class Fork:
    """One fork: its room, its root's room, jupyter-collaboration's ``info`` and its document."""

    room: str
    root: str
    info: dict[str, Any]
    document: YBaseDoc
    kept: bool  # stays until deleted (False: a timeline fork, freed with its room)
    versions: list[Version] = field(default_factory=list)  # a timeline fork's versions
    position: int = 0  # the version a timeline fork shows
    connection: Any = None
    unsync: Callable[[], None] | None = None


class ForkManager:
    """Relay policy of fork rooms, and the forks' API (see the module docstring)."""

    persist = False  # forks live in memory

    def __init__(self, relay: Any, documents: Any, timelines: Timelines, event_logger: Any | None = None) -> None:
        self.relay = relay
        self.documents = documents
        self.timelines = timelines
        self.forks: dict[str, Fork] = {}
        self._gone: deque[str] = deque(maxlen=1024)  # deleted forks: their rooms are refused, not reborn empty
        self._events = event_logger
        if event_logger is not None:
            known = set(getattr(getattr(event_logger, "schemas", None), "schema_ids", ()) or ())
            if FORK_EVENTS not in known:
                event_logger.register_event_schema(schema_path("events/jc-fork.json"))

    # -- relay policy ----------------------------------------------------------------------

    def claims(self, name: str) -> bool:
        return name in self.forks or name in self._gone

    async def load(self, name: str) -> Doc:
        fork = self.forks.get(name)
        if fork is None:
            raise DocumentLoadError("room_not_found", "this fork was deleted")
        fork.connection = self.relay.open_direct(name, label=f"supernode fork of {fork.root}")
        return fork.document.ydoc

    def admit(self, name: str, params: Mapping[str, str]) -> None:
        return None

    async def recover(self, name: str, update: bytes) -> None:
        return None

    def on_custom(self, name: str, text: str, payload: bytes, reply: Callable[[dict], None], writer: bool) -> bool:
        return False

    def keep(self, name: str) -> str | None:
        fork = self.forks.get(name)
        return "a fork stays until it is deleted" if fork is not None and fork.kept else None

    def on_freed(self, name: str) -> None:
        fork = self.forks.get(name)
        if fork is not None and not fork.kept:
            self._drop(fork)

    # -- API ---------------------------------------------------------------------------------

    async def create(
        self, root: str, *, synchronize: bool = False, title: str = "", description: str = "", user: str = ""
    ) -> Fork:
        """A new fork of document room ``root`` (loaded if needed), kept until :meth:`delete`."""
        fork = await self._fork(root, synchronize=synchronize, title=title, description=description, kept=True)
        self._emit(user, fork, "create")
        log.info("room %s: fork %s created (synchronize=%s)", root, fork.room, synchronize)
        return fork

    def list(self, root: str) -> dict[str, dict[str, Any]]:
        """The forks of ``root`` made through the API: fork room -> info."""
        return {f.room: f.info for f in self.forks.values() if f.root == root and f.kept}

    async def delete(self, fork_room: str, *, merge: bool, user: str = "") -> Fork:
        """Delete a fork made through the API; with ``merge``, apply its changes to its root first."""
        fork = self.forks.get(fork_room)
        if fork is None or not fork.kept:
            raise ApiError("not_found", f"no fork {fork_room}")
        if merge:
            self._merge(fork, "fork merged")
        self._drop(fork)
        self._emit(user, fork, "delete")
        log.info("room %s: fork %s deleted%s", fork.root, fork_room, " and merged back" if merge else "")
        return fork

    async def open_timeline(self, root: str) -> Fork:
        """A timeline fork of ``root``: it shows the newest of the root's versions (the current content)."""
        await self._live(root)
        timeline = self.timelines.snapshot(root, "timeline")
        assert timeline is not None  # the room is open
        fork = await self._fork(root, synchronize=False, title="timeline", description="", kept=False)
        fork.versions = timeline.versions
        fork.position = len(fork.versions) - 1
        return fork

    def timeline_fork(self, fork_room: str) -> Fork:
        fork = self.forks.get(fork_room)
        if fork is None or fork.kept:
            raise ApiError("not_found", f"no timeline fork {fork_room}")
        return fork

    def move(self, fork_room: str, steps: int) -> bool:
        """Show the version ``steps`` before (negative) or after the one shown; False if there is none.

        The fork's document is changed to hold that version, which its clients see.
        """
        fork = self.timeline_fork(fork_room)
        target = max(0, min(len(fork.versions) - 1, fork.position + steps))
        if target == fork.position:
            return False
        fork.position = target
        fork.document.set(fork.versions[target].content)
        return True

    def restore(self, fork_room: str) -> Version:
        """Apply the version a timeline fork shows to its root, as a normal change; the fork goes."""
        fork = self.timeline_fork(fork_room)
        version = fork.versions[fork.position]
        live = self._merge(fork, "restored from the timeline")
        self._drop(fork)
        live.request_save("restored from the timeline")
        self.timelines.snapshot(fork.root, f"restored {version.label}")
        log.info("room %s: restored the version of %s (%s)", fork.root, _when(version), version.label)
        return version

    # -- inside ------------------------------------------------------------------------------

    async def _live(self, root: str) -> Any:
        """The live document of document room ``root``, loaded if needed."""
        if DocumentKey.parse(root) is None:
            raise ApiError("not_found", f"no document room {root}")
        try:
            await self.documents.session(root)
        except DocumentLoadError as exc:
            raise ApiError("not_found", f"room {root} cannot be opened: {exc.reason}") from None
        live = self.documents.live[root]
        await live.whole()  # a fork or a version of a document still loading in stages would miss outputs
        return live

    async def _fork(self, root: str, *, synchronize: bool, title: str, description: str, kept: bool) -> Fork:
        live = await self._live(root)
        room = uuid.uuid4().hex
        root_doc = live.document.ydoc
        fork = Fork(
            room=room,
            root=root,
            info={"root_roomid": root, "synchronize": synchronize, "title": title, "description": description},
            document=load_update(live.key, root_doc.get_update()),
            kept=kept,
        )
        if synchronize:
            subscription = root_doc.observe(lambda event: _follow(fork, event.update))
            fork.unsync = lambda: root_doc.unobserve(subscription)
        self.forks[room] = fork
        live.hold(True, _HOLD)
        # Loaded now, so the relay frees a timeline fork nobody joins after its cleanup delay.
        await self.relay.load_room(room)
        return fork

    def _merge(self, fork: Fork, reason: str) -> Any:
        """Apply to the root's live document what the fork has and it has not; the live document."""
        live = self.documents.live.get(fork.root)
        if live is None:  # cannot happen while the fork holds it; said plainly if it does
            raise ApiError("not_found", f"the root room {fork.root} of fork {fork.room} is gone")
        root_doc = live.document.ydoc
        root_doc.apply_update(fork.document.ydoc.get_update(root_doc.get_state()))
        log.debug("room %s: %s from %s", fork.root, reason, fork.room)
        return live

    def _drop(self, fork: Fork) -> None:
        if self.forks.pop(fork.room, None) is None:
            return
        self._gone.append(fork.room)
        if fork.unsync is not None:
            fork.unsync()
        live = self.documents.live.get(fork.root)
        if live is not None:
            live.hold(False, _HOLD)
        if fork.connection is not None:
            fork.connection.close()

    def _emit(self, user: str, fork: Fork, action: str) -> None:
        if self._events is None:
            return
        data = {"username": user, "fork_roomid": fork.room, "fork_info": fork.info, "action": action}
        try:
            self._events.emit(schema_id=FORK_EVENTS, data=data)
        except Exception:
            log.exception("emitting the fork %s event failed", action)


def _follow(fork: Fork, update: bytes) -> None:
    """Apply a change of the root to a synchronized fork (inside the root's commit: never raises)."""
    try:
        fork.document.ydoc.apply_update(update)
    except Exception:
        log.exception("fork %s: taking a change of its root %s failed", fork.room, fork.root)


def _when(version: Version) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(version.timestamp))
