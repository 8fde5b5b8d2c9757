"""What keeps the shared tables true: one feed per table, and the poll that drives them.

Each table has its feed (``feed_{table}.py``), which reads it from the Jupyter server and
installs the hooks and listeners that tell it of changes:

- ``kernels`` (:class:`KernelFeed`): kernel action events, a restart callback per kernel, the poll.
- ``sessions`` (:class:`SessionFeed`): a hook on the session manager, the poll.
- ``contents`` (:class:`ContentsFeed`): a hook on the contents manager's ``get``, contents events.
- ``status`` and ``terminals``: the poll. ``kernelspecs``: every ``kernelspec_every``-th poll.
- ``executions`` (:class:`ExecutionFeed`): the records the execution manager journals.

Every feed writes through :meth:`SharedTables.replace` / ``put``, which write only rows that
changed: an idle server writes nothing. :class:`TableFeeds` runs the feeds: one read of a table
at a time, tables in a fixed order within a turn (kernels before the sessions that name them).

Lifecycle: :meth:`TableFeeds.start` installs every feed's hooks, reconciles every table with the
server (rows of things that are gone are removed) and starts the poll; :meth:`TableFeeds.stop`
undoes all of it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rtc_common.tasks import Ready, TaskSet

from .errors import ApiError
from .feed import Feed
from .feed_contents import ContentsFeed
from .feed_executions import ExecutionFeed
from .feed_kernels import KernelFeed
from .feed_kernelspecs import KernelspecFeed
from .feed_sessions import SessionFeed
from .feed_status import StatusFeed
from .feed_terminals import TerminalFeed
from .server_hooks import ServerHooks
from .table_schemas import TABLES
from .tables import Row, SharedTables

__all__ = ["TableFeeds"]

log = logging.getLogger("supernode.tables")


class TableFeeds:
    """Feeds ``tables`` from ``serverapp``; ``poll_interval`` seconds between polls; the executions
    table lists the ``executions_limit`` newest records of ``executions`` (the execution manager)."""

    def __init__(
        self,
        tables: SharedTables,
        serverapp: Any,
        executions: Any,
        *,
        poll_interval: float = 1.0,
        kernelspec_every: int = 10,
        executions_limit: int = 100,
        tasks: TaskSet | None = None,
    ) -> None:
        """``tasks``: the supervisor the poll loop runs under (its death is logged), the extension's."""
        self.tables = tables
        self._tasks = tasks or TaskSet("supernode tables")
        self.app = serverapp
        self.executions = executions
        self.poll_interval = poll_interval
        self.kernelspec_every = max(1, kernelspec_every)
        self.hooks = ServerHooks(serverapp)
        common = (tables, serverapp, self.hooks, self.soon)
        self.kernels = KernelFeed(*common)
        feeds: list[Feed] = [
            KernelspecFeed(*common),
            StatusFeed(*common),
            TerminalFeed(*common),
            self.kernels,
            SessionFeed(*common),
            ContentsFeed(*common),
            ExecutionFeed(*common, executions=executions, limit=executions_limit),
        ]
        self.feeds: dict[str, Feed] = {feed.table: feed for feed in feeds}
        assert tuple(self.feeds) == TABLES, "one feed per table, in the tables' order"
        self._due: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._refreshing: dict[str, asyncio.Lock] = {table: asyncio.Lock() for table in TABLES}

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        for feed in self.feeds.values():
            feed.start()
        self.executions.kernel_restarts = self.kernels.restart_count
        for table in TABLES:
            try:
                await self.refresh(table)
            except Exception:
                log.exception("tables: the first read of %s failed", table)
        self._task = await self._tasks.start(self._poll, "supernode tables poll")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self.hooks.undo()

    def soon(self, *tables: str) -> None:
        """Refresh ``tables`` at the next turn of the poll loop (coalesced)."""
        self._due.update(tables)
        self._wake.set()

    async def refresh(self, table: str) -> dict[str, Row]:
        """Re-read ``table`` from the server now; its rows afterwards. Unknown table: ApiError not_found."""
        feed = self.feeds.get(table)
        if feed is None:
            raise ApiError("not_found", f"no table {table!r}; the tables are {', '.join(TABLES)}")
        async with self._refreshing[table]:
            await feed.read()
        return self.tables.rows[table]

    async def _poll(self, ready: Ready) -> None:
        polled = {feed.table for feed in self.feeds.values() if feed.polled}
        turn = 0
        ready()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                due, self._due = self._due, set()
                self._wake.clear()
            except asyncio.TimeoutError:
                turn += 1
                due = {*polled, *self._due, *(("kernelspecs",) if turn % self.kernelspec_every == 0 else ())}
                self._due.clear()
            for table in TABLES:  # a fixed order: kernels before the sessions that name them
                if table in due:
                    try:
                        await self.refresh(table)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("tables: refreshing %s failed", table)
