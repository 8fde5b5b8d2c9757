"""The close-code catalogue: every websocket close code the relay sends, with its meaning.

The codes live in ``schema/close-codes.json`` (read by :mod:`rtc_common.close_codes`), shared
with the supernode, the clients and the tests; this module turns them into :class:`CloseCode`
and checks that the two agree, so a code cannot be used by the relay without being documented.
"""

from __future__ import annotations

import enum

from rtc_common.close_codes import check, describe

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
    RATE_LIMITED = 4430
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


check(CloseCode)  # a code cannot be used by the relay without being documented


MAX_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 of them the code


def close_reason(text: str) -> str:
    """``text`` cut to fit a close frame (at most 123 bytes of UTF-8, never in the middle of a character)."""
    data = text.encode("utf-8")
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."
