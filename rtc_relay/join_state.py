"""What a client that joins with nothing is sent: the room's document encoded once, then what its writer
changed since, as it was sent.

A client's first SyncStep1 carries an empty state vector: its SyncStep2 is the whole document, which
pycrdt encodes anew for each joiner (10–28 ms for a notebook of 20,000 cells, on the event loop). A room
with an in-process writer (a :class:`~rtc_relay.direct.DirectConnection`) keeps the first such encoding,
:meth:`JoinState.seed`, and the updates the writer makes after it, :meth:`JoinState.grew`: the next
joiner with nothing gets that encoding as its SyncStep2 and those updates after it (Yjs updates commute:
the joiner ends with the document), without an encoding.

Contract: the parts are the document only while nothing but the writer changed it. The writer's
connection observes every transaction on the document, so it is the one that keeps the parts: it calls
:meth:`grew` with each of the writer's updates and :meth:`stale` for any other (a client's update,
another relay's), and drops them when it stops following the room. Bounded: a document whose encoding is
over ``max_state`` bytes is not kept, and the parts are dropped once the updates after the encoding
number more than ``max_updates`` or weigh more than the encoding itself (the next joiner's encoding
then seeds them again), and ``keep_for`` seconds after the encoding (joins come in bursts: a class, a
reconnection; a room open for hours does not hold a second copy of its document for them). Updates the
writer holds anyway (a staged load's, which are its base) count against neither bound: keeping them
costs nothing, and a client joining while a large notebook's outputs stream in is sent them as they are.
"""

from __future__ import annotations

import asyncio

__all__ = ["JoinState"]

MAX_STATE = 16 << 20  # bytes of an encoding kept at most: a larger document is encoded for each joiner
MAX_UPDATES = 64  # updates after the encoding at most
MIN_GROWTH = 64 << 10  # bytes the updates may weigh even after a small encoding
KEEP_FOR = 60.0  # seconds an encoding is kept after it was made


class JoinState:
    """The parts (an encoding of the document, then updates) a joiner with nothing is sent, or None."""

    def __init__(self, max_state: int = MAX_STATE, max_updates: int = MAX_UPDATES, keep_for: float = KEEP_FOR) -> None:
        self.max_state = max_state
        self.max_updates = max_updates
        self.keep_for = keep_for
        self._parts: list[bytes] | None = None
        self._updates = 0  # updates after the encoding (not held ones)
        self._grown = 0  # bytes of those updates
        self._expiry: asyncio.TimerHandle | None = None

    def parts(self) -> list[bytes] | None:
        """The encoding first, then the updates since (in the order they were made); None if not kept."""
        return self._parts

    def seed(self, state: bytes) -> None:
        """``state``: the whole document, as just encoded for a joiner with nothing (on the event loop)."""
        self.stale()
        if len(state) > self.max_state:
            return
        self._parts = [state]
        self._updates = self._grown = 0
        self._expiry = asyncio.get_running_loop().call_later(self.keep_for, self.stale)

    def grew(self, update: bytes, *, held: bool = False) -> None:
        """The writer changed the document by ``update`` (as sent to the room's clients). ``held``: the
        writer keeps these very bytes anyway (a staged load's, as its base): they count against no bound
        (keeping them costs a list's slot), however many and large (a late joiner is sent them as they are,
        where the document holding them would be encoded anew for it)."""
        parts = self._parts
        if parts is None:
            return
        if not held:
            self._updates += 1
            self._grown += len(update)
            if self._updates > self.max_updates or self._grown > max(len(parts[0]), MIN_GROWTH):
                self.stale()
                return
        parts.append(update)

    def stale(self) -> None:
        """Something other than the writer changed the document (or nobody follows it any more, or the
        encoding is old): drop the parts."""
        self._parts = None
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
