"""Room names: the grammar of ``schema/room-name.json`` and the URL paths that carry them.

A room name is the whole URL path after the prefix (``/api/collaboration/room/`` or ``/``),
percent-decoded as UTF-8, as the reference y-websocket server takes it: ``/team/doc-1`` is room
``team/doc-1``, distinct from ``other/doc-1``. The query string is not part of it.

Error handling: a name that is empty, longer than the schema's ``maxLength`` (characters, once
decoded), not UTF-8 once decoded, or holding a control character raises
:class:`~rtc_relay.catalogue.RelayError` with :attr:`CloseCode.BAD_MESSAGE` (4400) and a reason
saying which (the reason goes to the client; the caller logs it with the path).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote_to_bytes

from .catalogue import CloseCode, RelayError
from .endpoints import ROOM_PREFIXES
from rtc_common.schema import schema_path

__all__ = ["MAX_ROOM_NAME", "check_room_name", "is_valid_room_name", "room_name_from_path"]


def _max_length() -> int:
    with open(schema_path("room-name.json"), encoding="utf-8") as f:
        return json.load(f)["maxLength"]


MAX_ROOM_NAME = _max_length()  # characters
_CONTROL = re.compile(r"[\u0000-\u001f\u007f-\u009f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # what surrogateescape makes of bytes that are not UTF-8


def check_room_name(name: str) -> str:
    """``name`` (percent-decoded; bytes that were not UTF-8 as surrogate escapes) if it is a valid
    room name; else raise :class:`RelayError` 4400 saying why."""
    if not name:
        raise RelayError(CloseCode.BAD_MESSAGE, "invalid room name: empty")
    if len(name) > MAX_ROOM_NAME:
        raise RelayError(CloseCode.BAD_MESSAGE, f"invalid room name: longer than {MAX_ROOM_NAME} characters")
    if _SURROGATE.search(name):
        raise RelayError(CloseCode.BAD_MESSAGE, "invalid room name: not UTF-8 once percent-decoded")
    control = _CONTROL.search(name)
    if control:
        raise RelayError(CloseCode.BAD_MESSAGE, f"invalid room name: control character U+{ord(control[0]):04X}")
    return name  # the schema's pattern says the same (tests/test_room_paths.py checks that they agree)


def is_valid_room_name(name: str) -> bool:
    """Whether ``name`` (percent-decoded) is a valid room name."""
    try:
        check_room_name(name)
    except RelayError:
        return False
    return True


def decode_path(raw: str) -> str:
    """A URL path as the request head carried it (its bytes as latin-1 characters: percent-encoded, or
    raw UTF-8 from a client that does not encode), decoded as UTF-8; bytes that are not UTF-8 are kept
    as surrogate escapes (so that :func:`check_room_name` refuses them with a reason)."""
    return unquote_to_bytes(raw.encode("latin-1", "replace")).decode("utf-8", "surrogateescape")


def room_name_from_path(raw_path: str) -> str:
    """The room a websocket path names: ``raw_path`` is the request's path as sent (percent-encoded,
    no query string). Raises :class:`RelayError` 4400 when it names no valid room."""
    path = decode_path(raw_path)
    for prefix in ROOM_PREFIXES:
        if path.startswith(prefix):
            return check_room_name(path[len(prefix) :])
    raise RelayError(CloseCode.BAD_MESSAGE, "invalid room name: the path does not start with /")
