"""The close-code catalogue (``schema/close-codes.json``), read once for every part that needs it.

The relay turns it into its :class:`~rtc_relay.catalogue.CloseCode` enum (checked against it at
import); the supernode names the codes its rooms are refused with; clients and tests read the same
file. A code used anywhere must be documented there.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from .schema import schema_path

__all__ = ["check", "close_code", "describe", "entries"]


def _load() -> dict[int, dict[str, Any]]:
    with open(schema_path("close-codes.json"), encoding="utf-8") as f:
        return {entry["code"]: entry for entry in json.load(f)["codes"]}


_ENTRIES = _load()
_BY_NAME = {entry["name"]: code for code, entry in _ENTRIES.items()}


def entries() -> dict[int, dict[str, Any]]:
    """Every documented code → its entry (``code``, ``name``, ``meaning``, …)."""
    return dict(_ENTRIES)


def close_code(name: str) -> int:
    """The code named ``name`` (e.g. ``"room_not_found"``). Raises KeyError if it is not documented."""
    return _BY_NAME[name]


def describe(code: int) -> str:
    """The documented meaning of ``code`` (or a note that it is not ours)."""
    entry = _ENTRIES.get(code)
    return entry["meaning"] if entry else f"close code {code} is not in the catalogue"


def check(codes: type[enum.IntEnum]) -> None:
    """Raise RuntimeError unless ``codes`` names exactly the documented codes, each by its documented name."""
    missing = {int(c) for c in codes} ^ set(_ENTRIES)
    if missing:
        raise RuntimeError(f"close codes out of sync with schema/close-codes.json: {sorted(missing)}")
    for code in codes:
        if _ENTRIES[int(code)]["name"] != code.name.lower():
            raise RuntimeError(f"close code {int(code)} is named differently in the schema")
