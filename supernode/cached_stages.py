"""The later stages of a staged load that the load cache holds: the large outputs, read when needed.

A re-open from the load cache serves the first stage (the cells, small outputs) from what
:meth:`~supernode.load_cache.LoadCache.get` read; the rest of the entry (the large outputs, most of a
large notebook's bytes) is read from the moment the first stage is found (:meth:`CachedStages.prefetch`),
off the event loop, while the room is set up and the first client syncs; :meth:`CachedStages.ready`
waits for that read. It has the interface of :class:`~supernode.stages.Stages` (``ready``, ``updates``,
``packed``, ``parts``, ``cells``, ``done``).

A rest that cannot be had (dropped from the cache to make room since, or damaged: the cache logs
which) leaves the stages :attr:`~CachedStages.short`: they apply nothing, and the live document takes
the outputs from the file instead (see :meth:`supernode.document.LiveDocument`'s stages).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

from .packed_parts import count_parts, iter_parts

__all__ = ["CachedStages"]

log = logging.getLogger("supernode.loader")


def _seen(read: asyncio.Future[bytes | None]) -> None:
    """Mark a read's failure as seen: :meth:`CachedStages.ready` raises it to whoever waits, if anyone does."""
    if not read.cancelled():
        read.exception()


class CachedStages:
    """``parts`` updates packed in an entry's rest, which ``fetch`` reads as one blob (None: it cannot be
    had). ``cells`` is not known here: the number of updates stands for it."""

    def __init__(self, parts: int, fetch: Callable[[], Awaitable[bytes | None]], path: str) -> None:
        self.parts = self.cells = parts
        self.packed: bytes = b""  # the updates, packed as the cache keeps them (each copied out when applied)
        self.done = False
        self.short = False  # the rest could not be had: nothing is applied, the file has the outputs
        self._fetch = fetch
        self._path = path
        self._ready = False
        self._reading: asyncio.Future[bytes | None] | None = None

    def prefetch(self) -> None:
        """Start reading the rest now (off the event loop), while the first stage is served: :meth:`ready`
        then waits for this read."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._fetch())
            self._reading.add_done_callback(_seen)

    async def ready(self) -> None:
        """Read the rest (once: a caller cancelled meanwhile leaves the read to the next). Never raises for
        a rest that cannot be had: :attr:`short` says so."""
        if self._ready:
            return
        self.prefetch()
        assert self._reading is not None
        packed = await asyncio.shield(self._reading)
        if packed is not None and (found := count_parts(packed)) != self.parts:
            log.warning(
                "%s: its cached outputs cannot be used (%d staged updates expected, %d found)",
                self._path,
                self.parts,
                found,
            )
            packed = None
        if packed is None:
            log.warning("%s: its large outputs are not in the load cache any more; taken from the file", self._path)
            self.short = True
        else:
            self.packed = packed
        self._ready = True

    def updates(self) -> Iterator[bytes]:
        assert self._ready, "ready() first"
        yield from iter_parts(self.packed)
        self.done = True
