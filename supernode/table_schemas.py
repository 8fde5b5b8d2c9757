"""The shared tables' row shapes: one JSON Schema per table in ``schema/tables/{table}.v1.json``.

Each schema names its table (``x-table``), the row field its key is taken from
(``x-key``) and its version (``x-version``). The supernode validates every row
before it writes it; clients read the same files.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from rtc_common.schema import schema_path

__all__ = ["ROOM", "TABLES", "TableSchema", "schemas"]

ROOM = "supernode:tables"
"""The relay room that holds the tables: one top-level Map per table, row key -> row (a JSON object)."""

TABLES = ("kernelspecs", "status", "terminals", "kernels", "sessions", "contents", "executions")


class TableSchema:
    """The schema of one table: its key field, version and validator."""

    def __init__(self, table: str) -> None:
        self.file = f"tables/{table}.v1.json"
        with open(schema_path(self.file), encoding="utf-8") as f:
            self.schema: dict[str, Any] = json.load(f)
        self.table = table
        self.key: str = self.schema["x-key"]
        self.version: int = self.schema["x-version"]
        self._validator = Draft202012Validator(self.schema)

    def errors(self, row: dict[str, Any]) -> list[str]:
        """What is wrong with ``row`` (empty when it is valid)."""
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '(row)'}: {e.message}" for e in self._validator.iter_errors(row)
        ]


_SCHEMAS: dict[str, TableSchema] = {}


def schemas() -> dict[str, TableSchema]:
    """Every table's schema, read once."""
    if not _SCHEMAS:
        _SCHEMAS.update((table, TableSchema(table)) for table in TABLES)
    return _SCHEMAS
