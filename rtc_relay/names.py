"""Room names: the grammar of ``schema/room-name.json`` and the URL paths that carry them."""

from __future__ import annotations

import json
import re

from .endpoints import ROOM_PREFIXES
from rtc_common.schema import schema_path

__all__ = ["is_valid_room_name", "room_name_from_path"]


def _grammar() -> tuple[re.Pattern[str], int]:
    with open(schema_path("room-name.json"), encoding="utf-8") as f:
        spec = json.load(f)
    return re.compile(spec["pattern"]), spec["maxLength"]


_PATTERN, _MAX = _grammar()


def is_valid_room_name(name: str) -> bool:
    """Whether ``name`` (percent-decoded) is a valid room name."""
    return len(name) <= _MAX and _PATTERN.fullmatch(name) is not None


def room_name_from_path(path: str) -> str | None:
    """The room a websocket path names (already percent-decoded), or None if it is not valid."""
    for prefix in ROOM_PREFIXES:
        if path.startswith(prefix):
            name = path[len(prefix) :]
            return name if is_valid_room_name(name) else None
    return None
