"""The base of a table feed: what reads one shared table from the Jupyter server.

A :class:`Feed` owns one table (``table``). :meth:`Feed.read` re-reads it from the server and
writes it through :class:`~supernode.tables.SharedTables` (which writes only rows that changed);
:meth:`Feed.start` installs the feed's hooks and listeners on the server (taken back by
:class:`~supernode.server_hooks.ServerHooks`). A feed that learns of a change it does not read
at once asks for a refresh with ``soon(*tables)``; :class:`~supernode.table_feeds.TableFeeds`
runs reads one at a time per table.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, ClassVar

from .server_hooks import ServerHooks
from .tables import SharedTables

__all__ = ["Feed", "iso"]


def iso(value: Any) -> str | None:
    """A timestamp as ISO 8601 UTC (``...Z``); strings pass through; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


class Feed:
    """Reads table ``table`` of ``tables`` from ``app`` (the jupyter_server ``ServerApp``)."""

    table: ClassVar[str]
    polled: ClassVar[bool] = False  # re-read at every turn of the poll (things without events)

    def __init__(self, tables: SharedTables, app: Any, hooks: ServerHooks, soon: Callable[..., None]) -> None:
        self.tables = tables
        self.app = app
        self.hooks = hooks
        self.soon = soon

    def start(self) -> None:
        """Install this feed's hooks and listeners (none by default)."""

    async def read(self) -> None:
        """Re-read the table from the server and write it."""
        raise NotImplementedError
