"""The rooms of one relay: created on first join, loaded once, freed when idle.

Lifecycle of a room: the first :meth:`RoomManager.join` (or :meth:`open`) creates
it and starts one load — from its policy (e.g. a file) and/or the store; every
joiner, however many arrive at the same instant, waits on that same load (no lock
that can starve a second client). When no member holds the room open any more
(remote clients do; in-process clients only when they ask to), the room is freed
after ``cleanup_delay`` seconds unless someone joins first. Freeing closes the
in-process clients, compacts the stored history and tells the policy. A room that
fails to load is forgotten at once, its joiners are closed with the load error's
code, and the next join tries again; other rooms are not affected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .catalogue import CloseCode
from .room import Room
from .store import StoreUnavailable

if TYPE_CHECKING:
    from .metrics import Metrics
    from .outbox import Flusher
    from .policy import RoomPolicy
    from .room import Bus, Peer
    from .store import Store
    from rtc_common.tasks import TaskSet

__all__ = ["RoomEvents", "RoomManager"]

log = logging.getLogger("rtc_relay.rooms")


class RoomEvents(Protocol):
    """Who hears of rooms coming and going and of their clients (the relay's webhooks). Each hook only
    queues: it never blocks and never raises."""

    def loaded(self, room: Room) -> None:
        """``room`` is loaded (before its first joiner is admitted)."""

    def freed(self, room: Room) -> None:
        """``room`` was freed."""

    def joined(self, room: Room, peer: Peer) -> None:
        """``peer`` joined ``room`` (which may still be loading)."""

    def left(self, room: Room, peer: Peer) -> None:
        """``peer`` left ``room``."""


class RoomManager:
    """Creates, loads and frees rooms. ``cleanup_delay`` is in seconds."""

    def __init__(
        self,
        *,
        store: Store,
        metrics: Metrics,
        flusher: Flusher,
        tasks: TaskSet,
        policy_for: Callable[[str], RoomPolicy],
        cleanup_delay: float,
        compact_after_bytes: int,
        bus: Bus | None = None,
        presence_renewal: float = 0.0,
        echo: bool = False,
        events: RoomEvents | None = None,
    ) -> None:
        """``bus``: where rooms send their presence beyond this relay (None: nowhere); ``presence_renewal``:
        seconds after a join before the others re-announce their presence (0: never); ``echo``: whether a
        client's document updates go back to it too (see :class:`~rtc_relay.room.Room`); ``events``: told of
        loads, frees, joins and leaves (None: nobody)."""
        self.rooms: dict[str, Room] = {}
        self._store = store
        self._metrics = metrics
        self._flusher = flusher
        self._tasks = tasks
        self._policy_for = policy_for
        self._cleanup_delay = cleanup_delay
        self._compact_after_bytes = compact_after_bytes
        self._bus = bus
        self._presence_renewal = presence_renewal
        self._echo = echo
        self._events = events

    def __len__(self) -> int:
        return len(self.rooms)

    def open(self, name: str) -> Room:
        """Room ``name``, created and its load started if it is not in memory."""
        room = self.rooms.get(name)
        if room is None:
            policy = self._policy_for(name)
            room = Room(
                name,
                policy=policy,
                store=self._store,
                metrics=self._metrics,
                flusher=self._flusher,
                tasks=self._tasks,
                compact_after_bytes=self._compact_after_bytes,
                bus=self._bus if policy.persist else None,  # rooms not stored are not shared either
                presence_renewal=self._presence_renewal,
                echo=self._echo,
            )
            self.rooms[name] = room
            self._tasks.spawn(self._load(room), name=f"load room {name}")
        return room

    def join(self, name: str, peer: Peer) -> Room:
        """Put ``peer`` in room ``name``, creating and loading the room if needed."""
        room = self.open(name)
        if peer.keeps_room and room.cleanup is not None:
            room.cleanup.cancel()
            room.cleanup = None
        room.join(peer)
        if self._events is not None:
            self._events.joined(room, peer)
        return room

    def postpone_cleanup(self, room: Room) -> None:
        """Someone is about to join idle ``room`` (it asked for the room's session first): its pending
        cleanup starts again, a whole cleanup delay from now."""
        if room.cleanup is not None:
            room.cleanup.cancel()
            room.cleanup = asyncio.get_running_loop().call_later(self._cleanup_delay, self._free, room)

    def leave(self, room: Room, peer: Peer) -> None:
        """Take ``peer`` out of ``room``; schedule the room's cleanup if nobody holds it now."""
        member = peer in room.members
        room.leave(peer)
        if member and self._events is not None:
            self._events.left(room, peer)
        self.check_idle(room)

    def check_idle(self, room: Room) -> None:
        """Schedule the room's cleanup if it is loaded, current, and no member holds it open."""
        if room.cleanup is None and not room.kept and room.ready.done() and self.rooms.get(room.name) is room:
            room.cleanup = asyncio.get_running_loop().call_later(self._cleanup_delay, self._free, room)

    async def _load(self, room: Room) -> None:
        try:
            initial = await room.policy.load(room.name)
            stored = await self._store.load(room.name) if room.policy.persist else []
            room.load(initial, stored)
        except StoreUnavailable as exc:  # the store said why; no traceback of ours to show
            log.error("room %r: loading failed: %s; its clients are told to retry (4500)", room.name, exc)
            self._load_failed(room, exc)
        except Exception as exc:
            if hasattr(exc, "close_code"):  # the policy refused with a catalogued code (a file gone, or unreadable)
                log.info("room %r cannot be loaded: %s (%s)", room.name, getattr(exc, "reason", exc), exc.close_code)
            else:  # our bug, or a policy's: the traceback helps
                log.error("room %r: loading failed: %r", room.name, exc, exc_info=exc)
            self._load_failed(room, exc)
        else:
            self._metrics.rooms_opened += 1
            log.debug("room %r loaded", room.name)
            if self._events is not None:
                self._events.loaded(room)
        finally:
            room.ready.set_result(None)
        if room.failed is None:
            self.check_idle(room)

    def _load_failed(self, room: Room, exc: BaseException) -> None:
        room.failed = exc
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]
            self._store.forget(room.name)

    def _free(self, room: Room, *, force: bool = False) -> None:
        room.cleanup = None
        if room.kept or self.rooms.get(room.name) is not room:
            return
        if not force and room.ready.done() and room.failed is None:
            reason = self._veto(room)
            if reason:
                log.debug("room %r: kept in memory (%s)", room.name, reason)
                room.cleanup = asyncio.get_running_loop().call_later(self._cleanup_delay, self._free, room)
                return
        del self.rooms[room.name]
        for peer in list(room.members):  # in-process clients that did not hold the room
            peer.close(CloseCode.NORMAL, "the room was freed")
        if not room.ready.done() or room.failed is not None:
            return
        try:
            if room.has_history:
                room.compact()
        except Exception:
            # Its updates are in the store already (appended as they came): only the snapshot is missing.
            log.exception("room %r: compacting it as it is freed failed; its stored history stays as it is", room.name)
        finally:
            self._store.forget(room.name)
        self._metrics.rooms_freed += 1
        log.debug("room %r freed", room.name)
        if self._events is not None:
            self._events.freed(room)
        try:
            room.policy.on_freed(room.name)
        except Exception:
            log.exception("room %r: the policy failed when the room was freed", room.name)

    def _veto(self, room: Room) -> str | None:
        """Why the room's policy keeps the idle room in memory now (None: free it)."""
        keep = getattr(room.policy, "keep", None)
        if keep is None:
            return None
        try:
            return keep(room.name)
        except Exception:
            log.exception("room %r: asking the policy whether to keep it failed; it is freed", room.name)
            return None

    def stop(self) -> None:
        """Free every room now (remote connections are already closed): compact what changed.

        One room that fails to free costs no other room anything: each is freed on its own.
        """
        for room in list(self.rooms.values()):
            if room.cleanup is not None:
                room.cleanup.cancel()
            for peer in list(room.members):
                peer.keeps_room = False
            try:
                self._free(room, force=True)
            except Exception:
                log.exception("room %r: freeing it at shutdown failed", room.name)
