"""The REST error catalogue (``schema/rest-errors.json``): one exception per documented code.

Managers raise :class:`ApiError` subclasses; handlers turn them into
``{"error": code, "message": text}`` with the catalogued HTTP status. Managers never
raise tornado's ``HTTPError``.
"""

from __future__ import annotations

import json

from rtc_common.schema import schema_path

__all__ = ["ApiError", "api_error"]


def _catalogue() -> dict[str, int]:
    with open(schema_path("rest-errors.json"), encoding="utf-8") as f:
        return {entry["error"]: entry["status"] for entry in json.load(f)["errors"]}


_STATUS = _catalogue()


class ApiError(Exception):
    """An error the client is told about: ``code`` (catalogued), ``status`` (HTTP), ``message``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in _STATUS:
            raise ValueError(f"error code {code!r} is not in schema/rest-errors.json")
        super().__init__(message)
        self.code = code
        self.status = _STATUS[code]
        self.message = message


def api_error(code: str, message: str) -> ApiError:
    return ApiError(code, message)
