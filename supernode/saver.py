"""When to save: a debounce with a maximum wait.

Every change restarts a quiet-period timer of ``delay`` seconds, but a save is never
put off more than ``max_wait`` seconds after the first unsaved change: a document
that changes every second is still written every ``max_wait`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["SaveSchedule"]


class SaveSchedule:
    """Calls ``fire()`` (synchronously, on the loop) when a save is due."""

    def __init__(self, fire: Callable[[], None], *, delay: float, max_wait: float) -> None:
        self._fire = fire
        self.delay = delay
        self.max_wait = max(max_wait, delay)
        self._first: float | None = None  # loop time of the first unsaved change
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def changed(self) -> None:
        """A change happened: the save is due after ``delay`` quiet seconds, at most ``max_wait`` from now on."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._first is None:
            self._first = now
        due = min(now + self.delay, self._first + self.max_wait)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._due)

    def retry(self, after: float) -> None:
        """The save failed: try again ``after`` seconds from now (a change may bring it forward)."""
        loop = asyncio.get_running_loop()
        self.cancel()
        self._first = loop.time() + after - self.max_wait
        self._timer = loop.call_at(loop.time() + after, self._due)

    def cancel(self) -> None:
        """Forget the pending save (it is being done now, or is no longer needed)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._first = None

    def _due(self) -> None:
        self._timer = None
        self._first = None
        self._fire()
