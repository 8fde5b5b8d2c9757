"""A supervisor for the relay's background tasks: every task has a parent.

Failures stay where they happen: a task that raises is logged with its name and
does not cancel its siblings (one room's failure must never stop another room).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

__all__ = ["TaskSet"]

log = logging.getLogger("rtc_relay.tasks")


class TaskSet:
    """Owns tasks started with :meth:`spawn` until they end or :meth:`stop` cancels them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[object, object, object], name: str) -> asyncio.Task[object]:
        """Run ``coro`` as a child task; its exception, if any, is logged, not raised."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"cannot start {name!r}: the relay is stopping")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %r failed", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        """Cancel every task still running and wait for them to end."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
