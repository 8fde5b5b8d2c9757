"""The shared tables: one document, in the relay room ``supernode:tables``, that the supernode alone writes.

The document holds one top-level Map per table (``schema/tables/{table}.v1.json``
names them, their key field and row shape), row key -> row (a JSON object), and a
Map ``meta`` (``version``, and per table its schema file). Rows are replaced whole
when any field changes, inside one transaction per change set, so a client never
sees half a row or half a refresh.

:class:`SharedTables` is also the relay policy of that room: the relay stores it
like any plain room (so a client that reconnects after a server restart holds a
prefix of the same history and converges), and every remote connection is
read-only there — its updates are dropped and it is told so.

The room uses this writer's document itself (one copy in memory): the relay loads
the stored state into it, and sends every transaction written here to the clients.

Lifecycle: :meth:`start` joins the room through an in-process channel that keeps
the room open for the server's life and waits until the stored state is in (the
feeds then reconcile it with the server); :meth:`stop` leaves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from pycrdt import Doc, Map

from .table_schemas import ROOM, TABLES, schemas

__all__ = ["SharedTables"]

log = logging.getLogger("supernode.tables")

Row = dict[str, Any]


class SharedTables:
    """The tables document and its only writer (relay policy of room :data:`ROOM`)."""

    remote_writes = False  # the supernode is the only writer

    def __init__(self, relay: Any, *, sync_timeout: float = 30.0) -> None:
        self.relay = relay
        # The relay's store keeps the room, so clients' histories stay prefixes of ours across restarts.
        # A relay on Redis shares the rooms it stores with other servers: these tables are this server's
        # own, so there they live in memory and are rebuilt at each start.
        self.persist = not getattr(getattr(relay, "config", None), "redis_url", "")
        self.sync_timeout = sync_timeout
        self.doc = Doc()
        self.maps: dict[str, Map] = {}
        self.rows: dict[str, dict[str, Row]] = {table: {} for table in TABLES}  # mirror of what the doc holds
        self.invalid = 0  # rows refused by their schema (logged)
        self._connection: Any = None  # the room's DirectConnection
        self._schemas = schemas()
        self.on_demand: Callable[[], None] = lambda: None  # someone joins the room: start the tables now

    # -- relay policy -----------------------------------------------------------------------

    def claims(self, name: str) -> bool:
        return name == ROOM

    async def load(self, name: str) -> Doc:
        self.on_demand()  # a client joining before the tables started gets the stored rows, then the fresh ones
        return self.doc  # the room's document itself; the relay applies what its store holds to it

    def admit(self, name: str, params: Mapping[str, str]) -> None:
        return None  # everyone may read (remote connections are read-only: ``remote_writes``)

    async def recover(self, name: str, update: bytes, params: Mapping[str, str]) -> bool:
        return False  # never refuses anyone

    def on_custom(self, name: str, text: str, payload: bytes, reply: Callable[[dict], None], writer: bool) -> bool:
        return False

    def on_freed(self, name: str) -> None:
        return None

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the room and wait for its stored state; read the rows it holds into the mirror."""
        await self.relay.ensure_started()  # the host may start its extensions in any order
        connection = self._connection = self.relay.open_direct(ROOM, label="supernode tables")
        connection.hold("shared tables")  # the server's state is written here for as long as it runs
        try:
            await connection.ready(self.sync_timeout)  # loaded from the store
        except Exception as exc:
            await self.stop()
            raise RuntimeError(f"room {ROOM} could not be loaded: {exc}") from exc
        for table in TABLES:
            ymap = self.maps[table] = self.doc.get(table, type=Map)
            self.rows[table] = {key: dict(value) for key, value in ymap.items() if isinstance(value, dict)}
        meta = self.doc.get("meta", type=Map)
        described = {table: schema.file for table, schema in self._schemas.items()}
        if meta.get("version") != 1 or meta.get("schemas") != described:
            with self.doc.transaction():
                meta["version"] = 1
                meta["room"] = ROOM
                meta["schemas"] = described

    async def stop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    # -- writing ----------------------------------------------------------------------------

    def key_of(self, table: str, row: Row) -> str:
        return str(row[self._schemas[table].key])

    def _valid(self, table: str, row: Row) -> bool:
        errors = self._schemas[table].errors(row)
        if errors:
            self.invalid += 1
            log.error("%s row %r not written: %s", table, row.get(self._schemas[table].key), "; ".join(errors))
        return not errors

    def replace(self, table: str, rows: list[Row], within: Callable[[str], bool] | None = None) -> int:
        """Make the rows of ``table`` whose key is ``within`` (every row by default) exactly ``rows``.

        Rows are written only where they differ; rows that are gone are removed.
        One transaction. Returns how many rows were written or removed.
        """
        fresh = {self.key_of(table, row): row for row in rows}
        mirror = self.rows[table]
        stale = [key for key in mirror if key not in fresh and (within is None or within(key))]
        changed = [(key, row) for key, row in fresh.items() if mirror.get(key) != row and self._valid(table, row)]
        if not stale and not changed:
            return 0
        ymap = self.maps[table]
        with self.doc.transaction():
            for key in stale:
                del ymap[key]
                del mirror[key]
            for key, row in changed:
                ymap[key] = row
                mirror[key] = row
        return len(stale) + len(changed)

    def put(self, table: str, rows: list[Row]) -> int:
        """Write ``rows`` (those that differ from what the table holds); one transaction. Returns how many."""
        mirror = self.rows[table]
        changed = {}
        for row in rows:
            key = self.key_of(table, row)
            if mirror.get(key) != row and self._valid(table, row):
                changed[key] = row
        if changed:
            ymap = self.maps[table]
            with self.doc.transaction():
                for key, row in changed.items():
                    ymap[key] = row
                    mirror[key] = row
        return len(changed)

    def remove(self, table: str, keys: list[str]) -> int:
        """Remove the rows ``keys`` (those present); one transaction. Returns how many went."""
        mirror = self.rows[table]
        present = [key for key in keys if key in mirror]
        if present:
            ymap = self.maps[table]
            with self.doc.transaction():
                for key in present:
                    del ymap[key]
                    del mirror[key]
        return len(present)
