"""The server's shared tables, live: kernelspecs, status, terminals, kernels, sessions, contents, executions.

Usage::

    async with JupyterClient(url, token) as server:
        async with await server.tables() as tables:
            print(tables.rows("kernels"))                 # {kernel id: row}
            async for change in tables.changes():         # every row added, changed or removed
                print(change.table, change.key, change.row)

The tables are one document in the relay room ``supernode:tables``: one top-level map per table, row
key -> row (a JSON object; ``schema/tables/{table}.v1.json`` gives each row's shape and key). The
supernode is its only writer; this client is read-only there. Numbers come back as Python ints where
they are whole (Yjs keeps every number as a float).

Resource handling: the :class:`LiveTables` owns its :class:`~rtc_client.room.RoomClient`; close it (or
use ``async with``). :meth:`LiveTables.changes` feeds a bounded queue per iterator: an iterator that
falls more than ``maxsize`` changes behind gets :class:`TablesOverflow` rather than growing without bound.
"""

from __future__ import annotations

import asyncio
from functools import partial
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Map

from .errors import ClientError
from .room import RoomClient

__all__ = ["ROOM", "TABLES", "Change", "LiveTables", "TablesOverflow"]

ROOM = "supernode:tables"
TABLES = ("kernelspecs", "status", "terminals", "kernels", "sessions", "contents", "executions")


class TablesOverflow(ClientError):
    """A :meth:`LiveTables.changes` iterator fell too far behind the server's changes."""


@dataclass(frozen=True)
class Change:
    """A row of ``table`` added or changed (``row`` is the new row) or removed (``row`` is None)."""

    table: str
    key: str
    row: dict[str, Any] | None


def plain(value: Any) -> Any:
    """``value`` with whole floats as ints, recursively (rows as their schemas describe them)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class LiveTables:
    """The tables of the server behind ``client`` (a client of room :data:`ROOM`, synced)."""

    def __init__(self, client: RoomClient) -> None:
        self.client = client
        self._maps = {table: client.doc.get(table, type=Map) for table in TABLES}
        self._listeners: list[Callable[[Change], None]] = []
        self._subscriptions = [
            (ymap, ymap.observe(partial(self._changed, table)))  # pycrdt passes the transaction to 2-arg callbacks
            for table, ymap in self._maps.items()
        ]

    async def __aenter__(self) -> LiveTables:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for ymap, subscription in self._subscriptions:
            ymap.unobserve(subscription)
        self._subscriptions.clear()
        await self.client.close()

    def rows(self, table: str) -> dict[str, dict[str, Any]]:
        """A copy of ``table``'s rows, key -> row."""
        return {key: plain(row) for key, row in self._map(table).items()}

    def row(self, table: str, key: str) -> dict[str, Any] | None:
        """One row of ``table``, or None."""
        row = self._map(table).get(key)
        return plain(row) if row is not None else None

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every table: table -> key -> row."""
        return {table: self.rows(table) for table in TABLES}

    def on_change(self, listener: Callable[[Change], None]) -> Callable[[], None]:
        """Call ``listener(change)`` for every row change from now on; returns the function that stops it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    async def changes(self, maxsize: int = 10_000) -> AsyncIterator[Change]:
        """Every row change from now on, in the order the document received them."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue(maxsize)

        def put(change: Change) -> None:
            try:
                queue.put_nowait(change)
            except asyncio.QueueFull:
                stop()
                queue._queue.clear()  # type: ignore[attr-defined]  # make room for the end marker
                queue.put_nowait(None)

        stop = self.on_change(put)
        try:
            while True:
                change = await queue.get()
                if change is None:
                    raise TablesOverflow(f"more than {maxsize} table changes were not read")
                yield change
        finally:
            stop()

    def _map(self, table: str) -> Map:
        try:
            return self._maps[table]
        except KeyError:
            raise ValueError(f"no table {table!r}; the tables are {', '.join(TABLES)}") from None

    def _changed(self, table: str, event: Any) -> None:
        if not self._listeners:
            return
        for key, delta in event.keys.items():
            row = None if delta.get("action") == "delete" else plain(delta.get("newValue"))
            change = Change(table, key, row)
            for listener in list(self._listeners):
                listener(change)
