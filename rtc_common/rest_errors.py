"""The REST error catalogue (``schema/rest-errors.json``): one exception per documented code.

Both halves raise :class:`ApiError` (the supernode's managers, the relay's HTTP document API); their
handlers turn it into ``{"error": code, "message": text}`` with the catalogued HTTP status. A code used
anywhere must be documented there.
"""

from __future__ import annotations

import json

from .schema import schema_path

__all__ = ["ApiError", "api_error", "status_of"]


def _catalogue() -> dict[str, int]:
    with open(schema_path("rest-errors.json"), encoding="utf-8") as f:
        return {entry["error"]: entry["status"] for entry in json.load(f)["errors"]}


_STATUS = _catalogue()


def status_of(code: str) -> int:
    """The HTTP status of catalogued error ``code``."""
    return _STATUS[code]


class ApiError(Exception):
    """An error the client is told about: ``code`` (catalogued), ``status`` (HTTP), ``message``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in _STATUS:
            raise ValueError(f"error code {code!r} is not in schema/rest-errors.json")
        super().__init__(message)
        self.code = code
        self.status = _STATUS[code]
        self.message = message

    def body(self) -> dict[str, str]:
        """The JSON body of the answer (``schema/rest-error.json``)."""
        return {"error": self.code, "message": self.message}


def api_error(code: str, message: str) -> ApiError:
    return ApiError(code, message)
