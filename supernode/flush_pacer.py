"""When an :class:`~supernode.output_writer.OutputWriter` writes what it has handled: pacing.

A writer never writes into the document as it handles a message; it asks its :class:`FlushPacer`,
which calls the writer's ``flush`` on the running event loop at the next turn (so every message
handled in the same turn lands in one transaction), or, when the last write is less than
``min_interval`` seconds old, at that moment (so output that comes faster is written once per
interval). The first output of a quiet cell is never delayed.

Resource handling: at most one call is armed at a time; :meth:`FlushPacer.cancel` drops it (a
flush made by other means, or the writer restarted). Error handling: a failing flush is logged
here, never passed to the loop's exception handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["FlushPacer"]

log = logging.getLogger("supernode.outputs")


class FlushPacer:
    """Arms ``flush`` (a callable) on the running loop; ``label`` names the writer in the log."""

    def __init__(self, flush: Callable[[], None], min_interval: float, label: str) -> None:
        self._flush = flush
        self.min_interval = min_interval
        self._label = label
        self._last_write = float("-inf")  # loop time of the last transaction
        self._handle: asyncio.Handle | None = None

    def wrote(self) -> None:
        """A transaction was made now (the writer's flush): the interval runs from here."""
        try:
            self._last_write = asyncio.get_running_loop().time()
        except RuntimeError:
            pass

    def arm(self) -> None:
        """Flush at the next loop turn, or once the last write is ``min_interval`` old (no loop: nothing;
        already armed: nothing)."""
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the caller flushes
        self._arm(loop)

    def paced(self) -> None:
        """Flush now if the last write is ``min_interval`` old (or there is no loop), else arm for then."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()  # no loop to wait on
            return
        if loop.time() >= self._last_write + self.min_interval:
            self._flush()
        elif self._handle is None:
            self._arm(loop)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self._last_write + self.min_interval
        if due <= loop.time():
            self._handle = loop.call_soon(self._fire)
        else:
            self._handle = loop.call_at(due, self._fire)

    def _fire(self) -> None:
        self._handle = None
        try:
            self._flush()
        except Exception:  # never into the loop's exception handler silently
            log.exception("writing the outputs of %s failed", self._label)
