"""A supervisor for background tasks: every task has a parent, every long-lived loop reports its death.

Two kinds of children:

* :meth:`TaskSet.spawn` — a short-lived task (a save, a load). Failures stay where they
  happen: a task that raises is logged with its name and does not cancel its siblings (one
  room's failure must never stop another room).
* :meth:`TaskSet.start` — a long-lived loop (a store writer, a Redis reader). It is started
  with a ready signal, as ``anyio``'s ``TaskGroup.start``: ``start`` returns once the loop
  said it is ready, or raises what the loop raised before that. A loop is meant to run until
  :meth:`TaskSet.stop`; if it ends earlier for any reason (it returned, raised, or was cancelled), its death
  is logged with the reason, recorded in :attr:`TaskSet.failed`, and every ``on_death``
  callback is called, so its owner can mark itself unhealthy and fail its waiters instead of
  leaving them waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["Ready", "TaskSet", "first_set"]

log = logging.getLogger(__name__)

Ready = Callable[[], None]
"""What a loop started by :meth:`TaskSet.start` calls once it serves."""


async def first_set(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return once any of ``events`` is set, or after ``timeout`` seconds (None: no limit); leaves no waiter
    behind."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


class TaskSet:
    """Owns tasks started with :meth:`spawn` or :meth:`start` until they end or :meth:`stop` cancels them.

    ``failed`` maps the name of every long-lived loop that died to the reason (empty while all is well).
    """

    def __init__(self, name: str) -> None:
        """``name`` says whose tasks these are in log lines and errors (``"relay"``, ``"supernode"``)."""
        self.name = name
        self.failed: dict[str, str] = {}
        self.on_death: list[Callable[[str, str], None]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loops: set[asyncio.Task[Any]] = set()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`stop` was called: no new task may start."""
        return self._closed

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a child task; its exception, if any, is logged, not raised.

        Raises ``RuntimeError`` (and closes ``coro``) once the set is stopping.
        """
        if self._closed:
            coro.close()
            raise RuntimeError(f"cannot start {name!r}: the {self.name} is stopping")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    async def start(self, loop_fn: Callable[[Ready], Coroutine[Any, Any, Any]], name: str) -> asyncio.Task[Any]:
        """Run the long-lived loop ``loop_fn(ready)``; return its task once it called ``ready()``.

        Error handling: what the loop raises before it is ready is raised here (the loop is then
        not running). If it ends after that for any reason other than :meth:`stop`, see the
        module docstring.
        """
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not started.done():
                started.set_result(None)

        async def supervised() -> None:
            try:
                await loop_fn(ready)
            except asyncio.CancelledError:
                if started.done():
                    self._died(name, "it was cancelled", None)  # by stop(), which _died ignores, or by a bug
                raise
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                    return
                self._died(name, f"{type(exc).__name__}: {exc}", exc)
            else:
                if not started.done():
                    started.set_exception(RuntimeError(f"{name} ended before it was ready"))
                    return
                self._died(name, "it returned", None)

        task = self.spawn(supervised(), name)
        self._loops.add(task)
        task.add_done_callback(self._loops.discard)
        try:
            await started
        except BaseException:
            task.cancel()
            raise
        return task

    def _died(self, name: str, reason: str, exc: BaseException | None) -> None:
        if self._closed:
            return
        self.failed[name] = reason
        log.error("%s: background loop %r stopped: %s", self.name, name, reason, exc_info=exc)
        for callback in list(self.on_death):
            try:
                callback(name, reason)
            except Exception:
                log.exception("%s: reporting the death of %r failed", self.name, name)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %r failed", task.get_name(), exc_info=task.exception())

    def cancel(self) -> None:
        """Refuse new tasks and cancel every task still running (:meth:`stop` then waits for them)."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()

    async def stop(self) -> None:
        """Cancel every task still running and wait for them to end."""
        self.cancel()
        tasks = list(self._tasks)
        if tasks:
            await asyncio.wait(tasks)
