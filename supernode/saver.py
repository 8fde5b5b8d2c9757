"""When to save: a debounce with a maximum wait, and a back-off after a failure.

Every change restarts a quiet-period timer of ``delay`` seconds, but a save is never
put off more than ``max_wait`` seconds after the first unsaved change: a document
that changes every second is still written every ``max_wait`` seconds.

The maximum wait grows with what a save costs when ``share`` is set: after a save (with its
read-back) that cost ``d`` CPU seconds (the owner reports it with :meth:`SaveSchedule.spent`: the
live document estimates it from the file's size, so it does not depend on what else the server
was doing meanwhile), changes put the next save off by at most
``max(max_wait, d / share)``. A document that keeps changing then costs at most ``share`` of a core
for its saves, however large it grows: a cell that
has printed for hours into a notebook of many megabytes is saved every ``d / share`` seconds rather
than every ``max_wait``, where each save would cost more the longer it ran (its outputs printed
meanwhile are in the output log, which survives a crash). JupyterLab's own autosave does the same
with a factor of 10 (``share`` 0.1). A quiet period still saves after ``delay``, and saves asked for
(Ctrl+S, an execution's end) are never put off.

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

    def __init__(self, fire: Callable[[], None], *, delay: float, max_wait: float, share: float = 0.0) -> None:
        self._fire = fire
        self.delay = delay
        self.max_wait = max(max_wait, delay)
        self.share = share  # 0: the maximum wait is max_wait, whatever a save costs
        self._spent = 0.0  # CPU seconds the last save cost
        self._first: float | None = None  # loop time of the first unsaved change
        self._timer: asyncio.TimerHandle | None = None
        self._backing_off = False  # the timer is a retry after a failure: changes leave it alone

    @property
    def pending(self) -> bool:
        return self._timer is not None

    @property
    def longest_wait(self) -> float:
        """Seconds a change may wait for its save while changes keep coming: ``max_wait``, or more when
        saves are costly (see the module docstring)."""
        if self.share > 0:
            return max(self.max_wait, self._spent / self.share)
        return self.max_wait

    def spent(self, seconds: float) -> None:
        """The last save (with its read-back) cost ``seconds`` of CPU."""
        self._spent = seconds

    def changed(self) -> None:
        """A change happened: the save is due after ``delay`` quiet seconds, at most :attr:`longest_wait` after
        the first unsaved change.

        While a retry is pending (:meth:`retry`), the change waits for it.
        """
        if self._backing_off:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._first is None:
            self._first = now
        due = min(now + self.delay, self._first + self.longest_wait)
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
