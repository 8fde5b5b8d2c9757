"""The later stages of a notebook loaded in stages, written into its live document.

A :class:`StagedLoad` takes the stages a load left (:class:`~supernode.stages.Stages`, or
:class:`~supernode.cached_stages.CachedStages` from the load cache: the same interface) and applies their
updates to the live document, one cell per turn of the event loop: each reaches the room's clients as
an ordinary update, and whatever else the server does (a client joining, an edit, another room) goes
on between two cells. No turn holds more than one cell's outputs: a late joiner waits for one cell,
never for the whole rest.

:meth:`StagedLoad.run` waits for a first client to have the first stage (or for someone on the
server to need the whole document, or for ``wait`` seconds), then applies the updates as they are
ready (a cached load's as they are read and checked).
:meth:`StagedLoad.finish` applies whatever is left at once: when the room closes before the
stages are done (the document is then whole before anything saves it). Either way the stages are
applied exactly once, in order: both draw from the stages' ``next``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from rtc_common.tasks import first_set

__all__ = ["StagedLoad"]


class StagedLoad:
    """The stages ``stages`` still to write, each update by ``apply`` (into the live document);
    :attr:`applying` is True while one is written (the document's observers tell the load from an
    edit by it)."""

    def __init__(self, apply: Callable[[bytes], None], stages: Any) -> None:
        self.stages = stages
        self.applying = False
        self.done = False
        self.started: float | None = None
        self._apply_update = apply

    async def run(self, synced: asyncio.Event, hurry: asyncio.Event, wait: float) -> None:
        """Wait until ``synced`` or ``hurry`` is set (at most ``wait`` seconds), then apply the stages, one
        cell per turn of the event loop, each as soon as it is ready (a cached load's as it is read).
        Cancelled, it stops between two cells (see :meth:`finish`)."""
        await first_set(synced, hurry, timeout=wait)
        self._start()
        while (update := await self.stages.next()) is not None:
            self._apply(update)
            await asyncio.sleep(0)  # one cell a turn: joins, edits and other rooms go on between
        self.done = True

    async def finish(self) -> bool:
        """Apply the stages :meth:`run` has not applied yet, at once (each as soon as it is ready); whether
        there were any to apply (False: they were all applied already)."""
        if self.done:
            return False
        self._start()
        while (update := await self.stages.next()) is not None:
            self._apply(update)
        self.done = True
        return True

    def _start(self) -> None:
        if self.started is None:
            self.started = time.monotonic()

    def _apply(self, update: bytes) -> None:
        self.applying = True
        try:
            self._apply_update(update)
        finally:
            self.applying = False
