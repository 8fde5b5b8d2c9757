"""The close-code catalogue: every websocket close code the relay sends, with its meaning.

The codes live in ``schema/close-codes.json``, shared with the clients and tests;
this module turns them into :class:`CloseCode` and checks that the two agree, so a
code cannot be used by the relay without being documented.
"""

from __future__ import annotations

import enum
import json

from .schema import schema_path

__all__ = ["CloseCode", "RelayError", "close_reason", "describe"]


class CloseCode(enum.IntEnum):
    """Close codes, named as in ``schema/close-codes.json``."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    BAD_MESSAGE = 4400
    UNAUTHORIZED = 4401
    ROOM_NOT_FOUND = 4404
    TIMEOUT = 4408
    SLOW_CONSUMER = 4429
    ROOM_ERROR = 4500


class RelayError(Exception):
    """An error that ends one connection with a catalogued close code.

    ``reason`` is the short text sent to the client in the close frame (at most
    123 bytes); the log line carries the longer story.
    """

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{code.name.lower()} ({int(code)}): {reason}")
        self.code = code
        self.reason = reason


def _load() -> dict[int, dict]:
    with open(schema_path("close-codes.json"), encoding="utf-8") as f:
        entries = json.load(f)["codes"]
    return {entry["code"]: entry for entry in entries}


_CATALOGUE = _load()
_missing = {int(c) for c in CloseCode} ^ set(_CATALOGUE)
if _missing:  # pragma: no cover - guards against editing one side only
    raise RuntimeError(f"close codes out of sync with schema/close-codes.json: {sorted(_missing)}")
for _code in CloseCode:
    if _CATALOGUE[int(_code)]["name"] != _code.name.lower():  # pragma: no cover
        raise RuntimeError(f"close code {int(_code)} is named differently in the schema")


MAX_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 of them the code


def close_reason(text: str) -> str:
    """``text`` cut to fit a close frame (at most 123 bytes of UTF-8, never in the middle of a character)."""
    data = text.encode("utf-8")
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


def describe(code: int) -> str:
    """The documented meaning of ``code`` (or a note that it is not ours)."""
    entry = _CATALOGUE.get(code)
    return entry["meaning"] if entry else f"close code {code} is not in the catalogue"
