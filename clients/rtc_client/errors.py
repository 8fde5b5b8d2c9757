"""Errors of the client library.

ClientError
└── ConnectionClosed  — the relay closed the connection (``code``, ``reason``)
"""

from __future__ import annotations


class ClientError(Exception):
    """Base class of every error this library raises."""


class ConnectionClosed(ClientError):
    """The connection to the relay is closed; ``code`` and ``reason`` are the relay's close frame."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason
