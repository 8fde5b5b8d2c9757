"""Where the shared JSON schemas of ``schema/`` are: inside the wheel, or beside the packages in a checkout."""

from __future__ import annotations

from pathlib import Path

__all__ = ["schema_path"]

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE / "schema", _HERE.parent / "schema")


def schema_path(name: str) -> Path:
    """Path of the schema file ``name`` (e.g. ``"close-codes.json"``, ``"events/document.json"``).

    Raises ``FileNotFoundError`` naming the places searched.
    """
    for folder in _CANDIDATES:
        path = folder / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"schema file {name!r} not found in {[str(c) for c in _CANDIDATES]}")
