"""The later stages of a staged load that the load cache holds: the large outputs, read when needed.

A re-open from the load cache serves the first stage (the cells, small outputs) from what
:meth:`~supernode.load_cache.LoadCache.get` read; the rest of the entry (the large outputs, most of a
large notebook's bytes) is read from the moment the first stage is found (:meth:`CachedStages.prefetch`),
off the event loop, while the room is set up and the first client syncs, one update at a time, each
checked as it comes (:meth:`~supernode.load_cache.LoadCache.stream_rest`). :meth:`CachedStages.next`
gives them in order as they arrive: the live document applies one while the next is read. It has the
interface of :class:`~supernode.stages.Stages` (``next``, ``ready``, ``updates``, ``packed``,
``parts``, ``cells``, ``done``).

A rest that cannot be had (dropped from the cache to make room since, or damaged from some update on:
the cache logs which) leaves the stages :attr:`~CachedStages.short`: what came before is applied (each
update was checked), nothing after, and the live document takes the outputs from the file instead (see
:meth:`supernode.document.LiveDocument`'s stages).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator

__all__ = ["CachedStages"]

log = logging.getLogger("supernode.loader")


def _seen(read: asyncio.Future[bool]) -> None:
    """Mark a read's failure as seen (it is logged where it happened, or by :meth:`CachedStages._ended`)."""
    if not read.cancelled():
        read.exception()


class CachedStages:
    """``parts`` updates of an entry's rest, which ``fetch(emit)`` reads, giving each to ``emit`` on the
    event loop (True once all came; False: the rest cannot be had). ``cells`` is not known here: the
    number of updates stands for it."""

    def __init__(self, parts: int, fetch: Callable[[Callable[[bytes], None]], Awaitable[bool]], path: str) -> None:
        self.parts = self.cells = parts
        self.packed: tuple[bytes, ...] = ()  # the updates, apart, once all came
        self.done = False
        self.short = False  # the rest could not all be had: the file has the outputs that did not come
        self._fetch = fetch
        self._path = path
        self._came: list[bytes] = []
        self._given = 0  # updates next() gave
        self._arrived = asyncio.Event()
        self._end = False
        self._reading: asyncio.Future[bool] | None = None

    def prefetch(self) -> None:
        """Start reading the rest now (off the event loop), while the first stage is served."""
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._fetch(self._came_one))
            self._reading.add_done_callback(_seen)
            self._reading.add_done_callback(self._ended)

    def _came_one(self, update: bytes) -> None:
        self._came.append(update)
        self._arrived.set()

    def _ended(self, reading: asyncio.Future[bool]) -> None:
        complete = not reading.cancelled() and reading.exception() is None and bool(reading.result())
        if complete and len(self._came) != self.parts:
            log.warning(
                "%s: its cached outputs cannot be used (%d staged updates expected, %d found)",
                self._path,
                self.parts,
                len(self._came),
            )
            del self._came[min(len(self._came), self.parts) :]
            complete = False
        if complete:
            self.packed = tuple(self._came)
        else:
            if not reading.cancelled():  # (cancelled: the server is stopping)
                log.warning(
                    "%s: its large outputs are not in the load cache any more; taken from the file", self._path
                )
            self.short = True
        self._end = True
        self._arrived.set()

    async def next(self) -> bytes | None:
        """The next update, once it is read and checked; None after the last (or after the last that came,
        when the rest is :attr:`short`). Cancelled, nothing is lost: the next call gives the same update."""
        self.prefetch()
        while self._given >= len(self._came) and not self._end:
            self._arrived.clear()
            await self._arrived.wait()
        if self._given < len(self._came):
            self._given += 1
            return self._came[self._given - 1]
        self.done = True
        return None

    async def ready(self) -> None:
        """Wait until the whole rest is read (or found short); never raises."""
        self.prefetch()
        assert self._reading is not None
        await asyncio.wait([self._reading])

    def updates(self) -> Iterator[bytes]:
        assert self._end, "ready() first"
        while self._given < len(self._came):
            self._given += 1
            yield self._came[self._given - 1]
        self.done = True
