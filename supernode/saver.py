"""When to save: a debounce with a maximum wait, and a back-off after a failure.

Every change restarts a quiet-period timer of ``delay`` seconds, but a save is never
put off more than ``max_wait`` seconds after the first unsaved change: a document
that changes every second is still written every ``max_wait`` seconds.

After a failed save the owner calls :meth:`SaveSchedule.retry` with its back-off; until
that retry is due, changes neither bring it forward (a client typing slower than
``delay`` would otherwise cause one failing save per keystroke) nor put it off (a
client typing faster would otherwise postpone it to the maximum wait). The back-off
ends with the next attempt (:meth:`cancel`, which the owner calls when a save starts).
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
        self._backing_off = False  # the timer is a retry after a failure: changes leave it alone

    @property
    def pending(self) -> bool:
        return self._timer is not None

    def changed(self) -> None:
        """A change happened: the save is due after ``delay`` quiet seconds, at most ``max_wait`` from now on.

        While a retry is pending (:meth:`retry`), the change waits for it.
        """
        if self._backing_off:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._first is None:
            self._first = now
        due = min(now + self.delay, self._first + self.max_wait)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._due)

    def retry(self, after: float) -> None:
        """The save failed: try again ``after`` seconds from now, whatever changes meanwhile."""
        loop = asyncio.get_running_loop()
        self.cancel()
        self._backing_off = True
        self._timer = loop.call_at(loop.time() + after, self._due)

    def cancel(self) -> None:
        """Forget the pending save (it is being done now, or is no longer needed)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._first = None
        self._backing_off = False

    def _due(self) -> None:
        self._timer = None
        self._first = None
        self._backing_off = False
        self._fire()
