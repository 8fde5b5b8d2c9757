"""The later stages of a staged load that the load cache holds: the large outputs, streamed from it.

A re-open from the load cache serves the first stage (the cells, small outputs) from what
:meth:`~supernode.load_cache.LoadCache.get` read; the rest of the entry (the large outputs, most of a
large notebook's bytes) is read from the moment the first stage is found (:meth:`CachedStages.prefetch`),
off the event loop, one update at a time, each checked against its digest
(:func:`~supernode.cache_rests.stream_rest`). :meth:`CachedStages.next` gives the updates in order as
they arrive: the live document applies the first ones, and its clients get them, while the later ones
are still read. It has the interface of :class:`~supernode.stages.Stages` (``next``, ``packed``,
``parts``, ``cells``, ``done``).

A rest that cannot be had (dropped from the cache to make room since, or damaged: the cache logs
which) leaves the stages :attr:`~CachedStages.short` once the updates read before the damage (each
checked) are given: the live document then takes the other outputs from the file, with those updates
as part of the base (see :meth:`supernode.document.LiveDocument`'s stages).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["CachedStages"]

log = logging.getLogger("supernode.loader")

Deliver = Callable[[bytes], None]


class CachedStages:
    """``parts`` updates of an entry's rest, which ``fetch(deliver)`` reads (on a worker thread), giving
    each to ``deliver`` as it is checked; it returns whether it gave them all. ``cells`` is not known
    here: the number of updates stands for it. :attr:`packed` holds the updates given so far, in order
    (all of them once :attr:`done`)."""

    def __init__(self, parts: int, fetch: Callable[[Deliver], Awaitable[bool]], path: str) -> None:
        self.parts = self.cells = parts
        self.packed: tuple[bytes, ...] = ()  # the updates given by next(), kept as read (the load's base)
        self.done = False
        self.short = False  # the rest came up short: the file has the outputs the updates given lack
        self._fetch = fetch
        self._path = path
        self._arrived: deque[bytes] = deque()  # read and checked, not given yet (at most ``parts``)
        self._given: list[bytes] = []
        self._wake = asyncio.Event()
        self._reading: asyncio.Future[bool] | None = None

    def prefetch(self) -> None:
        """Start reading the rest now (off the event loop), while the first stage is served."""
        if self._reading is not None:
            return
        loop = asyncio.get_running_loop()

        def deliver(update: bytes) -> None:  # on the reading thread; in order with the read's own end
            loop.call_soon_threadsafe(self._arrive, update)

        self._reading = asyncio.ensure_future(self._fetch(deliver))
        self._reading.add_done_callback(self._read)

    def _read(self, reading: asyncio.Future[bool]) -> None:
        if not reading.cancelled():
            reading.exception()  # seen: next() logs it
        self._wake.set()

    def _arrive(self, update: bytes) -> None:
        self._arrived.append(update)
        self._wake.set()

    async def next(self) -> bytes | None:
        """The next update, once it is read and checked; None when there are no more: all were given
        (:attr:`done`), or the rest came up short (:attr:`short` too). Cancelled, it loses nothing."""
        self.prefetch()
        reading = self._reading
        assert reading is not None
        while not self._arrived:
            if reading.done():
                self._end(reading)
                return None
            self._wake.clear()
            await self._wake.wait()
        update = self._arrived.popleft()
        self._given.append(update)
        return update

    def _end(self, reading: asyncio.Future[bool]) -> None:
        if self.done:
            return
        whole = False
        if not reading.cancelled():
            if (exc := reading.exception()) is not None:  # (the cache logs and answers False for its own faults)
                log.error("%s: its cached outputs could not be read: %r", self._path, exc)
            else:
                whole = reading.result()
        if not whole or len(self._given) != self.parts:
            log.warning(
                "%s: %d of the %d updates of its large outputs came from the load cache; the others are "
                "taken from the file",
                self._path,
                len(self._given),
                self.parts,
            )
            self.short = True
        self.packed = tuple(self._given)
        self.done = True
