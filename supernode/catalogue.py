"""The shared catalogues of ``schema/`` (close codes), read where the supernode is installed.

The supernode does not import the relay; both read the same JSON files.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["close_code", "schema_path"]

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE / "schema", _HERE.parent / "schema")


def schema_path(name: str) -> Path:
    """Path of the schema file ``name``, inside the wheel or beside the package in a checkout."""
    for folder in _CANDIDATES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"schema file {name!r} not found in {[str(c) for c in _CANDIDATES]}")


def _codes() -> dict[str, int]:
    with open(schema_path("close-codes.json"), encoding="utf-8") as f:
        return {entry["name"]: entry["code"] for entry in json.load(f)["codes"]}


_CODES = _codes()


def close_code(name: str) -> int:
    """The close code named ``name`` in ``schema/close-codes.json`` (KeyError if undocumented)."""
    return _CODES[name]
