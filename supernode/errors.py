"""The REST error catalogue (``schema/rest-errors.json``): one exception per documented code.

Managers raise :class:`ApiError` subclasses; handlers turn them into
``{"error": code, "message": text}`` with the catalogued HTTP status. Managers never
raise tornado's ``HTTPError``. The class lives in :mod:`rtc_common.rest_errors`, shared with the relay.
"""

from __future__ import annotations

from rtc_common.rest_errors import ApiError, api_error

__all__ = ["ApiError", "api_error"]
