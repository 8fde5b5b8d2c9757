"""A room's stored history: what the store holds of the room since its last snapshot, and when to compact it.

The store keeps a room as a snapshot followed by the updates appended since. :class:`RoomHistory`
counts what those updates cost (their bytes, plus a row's overhead each), and replaces them by one
snapshot of the document once they cost more than ``compact_after_bytes`` and more than the last
snapshot did (so a large document is not written again for every small edit).

It also keeps the room's *unsettled* updates: those that did not advance the document's state when
applied (duplicates, or updates whose dependencies are missing, which Yrs keeps pending and leaves
out of ``get_update()``). A snapshot is merged with those still pending, so compaction never drops an
update that a later one could complete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from pycrdt import Doc, get_update, merge_updates

if TYPE_CHECKING:
    from .store import Store

__all__ = ["RoomHistory"]

_ROW_OVERHEAD = 64  # what the store costs per row, beyond the update's bytes


class RoomHistory:
    """The history of room ``name`` in ``store``; ``doc()`` gives the room's document now."""

    def __init__(self, name: str, store: Store, doc: Callable[[], Doc], *, compact_after_bytes: int) -> None:
        self.name = name
        self._store = store
        self._doc = doc
        self._compact_after_bytes = compact_after_bytes
        self._cost = 0  # store cost of updates appended since the last snapshot
        self._snapshot_size = 0
        self._unsettled: list[bytes] = []

    def loaded(self, stored: list[bytes]) -> None:
        """The room was built from ``stored`` (the store's updates, applied): compact them if there are
        several, else remember which of them are still pending."""
        if not stored:
            return
        self._unsettled = list(stored)
        self._cost = sum(len(u) + _ROW_OVERHEAD for u in stored)
        if len(stored) > 1:
            self.compact()
        else:
            self.pending()

    def append(self, update: bytes) -> None:
        """Store ``update``, made in this process; a compaction it makes due runs on the next loop turn
        (the caller may be inside a transaction's commit)."""
        self._store.append(self.name, update)
        self._cost += len(update) + _ROW_OVERHEAD
        if self._compaction_due:
            asyncio.get_running_loop().call_soon(self._compact_if_due)

    def grew(self, update: bytes) -> None:
        """``update`` was stored already (by the caller, or another relay): count it, compact if due."""
        self._cost += len(update) + _ROW_OVERHEAD
        self._compact_if_due()

    def unsettled(self, update: bytes) -> None:
        """``update`` did not advance the document's state: keep it for the next snapshot."""
        self._unsettled.append(update)

    @property
    def has_history(self) -> bool:
        """True when updates were stored since the last snapshot."""
        return self._cost > 0

    @property
    def _compaction_due(self) -> bool:
        return self._cost > self._compact_after_bytes and self._cost > self._snapshot_size

    def _compact_if_due(self) -> None:
        if self._compaction_due:
            self.compact()

    def compact(self) -> None:
        """Replace the room's stored history by one snapshot of its document (:meth:`snapshot`)."""
        snapshot = self.snapshot()
        self._store.compact(self.name, snapshot)
        self._snapshot_size = len(snapshot)
        self._cost = 0

    def snapshot(self) -> bytes:
        """The whole document as one update, with the updates still waiting for dependencies."""
        snapshot = self._doc().get_update()
        pending = self.pending()
        if pending:
            snapshot = merge_updates(snapshot, *pending)
        return snapshot

    def compacted_elsewhere(self) -> None:
        """Another relay compacted the shared log: the history counted here is in its snapshot."""
        self._cost = 0

    def pending(self) -> list[bytes]:
        """Forget unsettled updates the document now contains; return those still pending.

        An update is contained when its diff against the document's state vector has
        no structs left (the first varUint of an update is its count of struct groups).
        """
        if not self._unsettled:
            return []
        state = self._doc().get_state()
        self._unsettled = [u for u in self._unsettled if get_update(u, state)[0] != 0]
        return self._unsettled
