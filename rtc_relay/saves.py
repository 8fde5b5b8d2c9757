"""A room's save requests (Jupyter's Ctrl+S message, custom type 2 ``save``), answered once the store
has everything the room had when they were made.

Requests coalesce: at most one store flush is in flight and one queued; every request made while one is
queued is answered by that one, so a burst of saves costs two flushes at most. Each requester still in
the room gets ``{"type":"save","responseTo":id,"status":"success"|"failed"}``.

Error handling: a flush that fails (the store is unavailable, or raises) answers ``failed`` to its
requesters; the store logs an outage once, anything else is logged here with its traceback. Nothing
propagates to the room.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .lib0 import var_string
from .store import StoreUnavailable
from .websocket import frame

if TYPE_CHECKING:
    from .room import Peer
    from .store import Store
    from rtc_common.tasks import TaskSet

__all__ = ["SaveRequests"]

log = logging.getLogger("rtc_relay.room")

_CUSTOM = 2


class SaveRequests:
    """The save requests of room ``name``; ``present(peer)`` says whether a requester is still there
    to be answered. Its flushes run as tasks of ``tasks``."""

    def __init__(self, name: str, store: Store, tasks: TaskSet, present: Callable[[Peer], bool]) -> None:
        self._name = name
        self._store = store
        self._tasks = tasks
        self._present = present
        self._waiters: list[tuple[Peer, int]] | None = None  # requests waiting for a flush not started yet
        self._lock = asyncio.Lock()  # held by the flush in flight

    def request(self, peer: Peer, save_id: int) -> None:
        """Answer ``save_id`` to ``peer`` once a store flush that starts after this request has ended."""
        if self._waiters is None:
            waiters: list[tuple[Peer, int]] = []
            self._tasks.spawn(self._save(waiters), name=f"save {self._name}")
            self._waiters = waiters
        self._waiters.append((peer, save_id))

    async def _save(self, waiters: list[tuple[Peer, int]]) -> None:
        """Flush the store for ``waiters`` (after the flush in flight, if any) and answer each of them."""
        async with self._lock:
            if self._waiters is waiters:
                self._waiters = None  # requests from now on need a flush that starts after this one
            try:
                await self._store.flush()
                status = "success" if self._store.healthy else "failed"
            except StoreUnavailable as exc:  # the store logged the outage once; the clients are told
                log.info("room %r: %d save request(s) failed: %s", self._name, len(waiters), exc)
                status = "failed"
            except Exception:
                log.exception("room %r: %d save request(s) failed", self._name, len(waiters))
                status = "failed"
        for peer, save_id in waiters:
            if self._present(peer):
                reply = {"type": "save", "responseTo": save_id, "status": status}
                peer.send(frame(bytes((_CUSTOM,)) + var_string(json.dumps(reply))))
