"""REST handlers of the shared tables (rows in ``schema/tables/{table}.v1.json``; errors in ``schema/rest-errors.json``).

- ``GET /api/rtc/tables`` → the room that holds the tables and, per table, its schema file, key field and version.
- ``GET /api/rtc/tables/{table}`` → ``{"table", "rows": {key: row}}`` as the shared document holds them now.
- ``POST /api/rtc/tables/{table}/refresh`` → re-reads the table from the server first, then answers as ``GET``.

The live way to read the tables is the relay room (read-only for every client); these
answer scripts that only speak HTTP, and force a re-read on demand.
"""

from __future__ import annotations

from typing import Any

from tornado import web

from .errors import ApiError
from .execution_handlers import ApiBase
from .table_feeds import TableFeeds
from .table_schemas import ROOM, TABLES, schemas

__all__ = ["HANDLERS"]


class _TablesBase(ApiBase):
    async def prepare(self) -> None:
        await super().prepare()
        started = self.settings.get("supernode_services_started")
        if started is not None:  # the tables start a moment after the server, or when first needed
            await started()

    @property
    def feeds(self) -> TableFeeds:
        feeds = self.settings.get("supernode_tables")
        if feeds is None:
            raise ApiError("unavailable", "the shared tables are not running")
        return feeds

    def _rows(self, table: str) -> dict[str, Any]:
        if table not in TABLES:
            raise ApiError("not_found", f"no table {table!r}; the tables are {', '.join(TABLES)}")
        return {"table": table, "rows": self.feeds.tables.rows[table]}


class TablesHandler(_TablesBase):
    @web.authenticated
    async def get(self) -> None:
        await self._allow("read")
        described = {
            table: {"schema": schema.file, "key": schema.key, "version": schema.version}
            for table, schema in schemas().items()
        }
        self._reply(200, {"room": ROOM, "tables": described})


class TableHandler(_TablesBase):
    @web.authenticated
    async def get(self, table: str) -> None:
        await self._allow("read")
        self._reply(200, self._rows(table))


class TableRefreshHandler(_TablesBase):
    @web.authenticated
    async def post(self, table: str) -> None:
        await self._allow("read")
        self._rows(table)  # not_found before any work
        await self.feeds.refresh(table)
        self._reply(200, self._rows(table))


_TABLE = r"(?P<table>[^/]+)"  # any segment: an unknown table answers a JSON not_found
HANDLERS = [
    (r"/api/rtc/tables", TablesHandler),
    (rf"/api/rtc/tables/{_TABLE}", TableHandler),
    (rf"/api/rtc/tables/{_TABLE}/refresh", TableRefreshHandler),
]
