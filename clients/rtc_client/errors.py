"""Errors of the client library: one hierarchy, each raised with the server's own message.

::

    ClientError                    every error this library raises
    ├── ConnectionFailed           the server cannot be reached (refused, unreachable, TLS, bad URL)
    ├── ConnectionClosed           the relay closed the connection (``code``, ``reason``: its close frame)
    │   └── SessionExpired         1003 unknown_session: the document was reloaded; open it again
    ├── ApiError                   the server refused a request (``status``, ``code``, ``message``)
    │   ├── BadRequest             400 bad_request, close 4400
    │   ├── Unauthorized           401, close 4401: no or wrong token
    │   ├── Forbidden              403 forbidden: a permission is missing
    │   │   └── ReadOnly           the connection may read the document, not change it
    │   ├── NotFound               404 not_found, close 4404: no such notebook, cell, execution or room
    │   ├── Conflict               409 (not_cancellable, not_running, no_input_pending)
    │   │   └── SourceChanged      409 source_changed: a cell changed since its source was read
    │   └── ServerFailure          5xx (kernel_unavailable, internal errors), close 4500/1011
    ├── ExecutionFailed            a cell raised (``record``: the execution record; ``cell``: the failed cell)
    └── DeadlineExceeded           a wait ran out of time (also a ``TimeoutError``)

REST error bodies are ``{"error": code, "message"}`` (``schema/rest-errors.json``); close codes are
``schema/close-codes.json``. :func:`error_for_status` and :func:`error_for_close` build the right class.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "BadRequest",
    "ClientError",
    "Conflict",
    "ConnectionClosed",
    "ConnectionFailed",
    "DeadlineExceeded",
    "ExecutionFailed",
    "Forbidden",
    "NotFound",
    "ReadOnly",
    "ServerFailure",
    "SessionExpired",
    "SourceChanged",
    "Unauthorized",
    "error_for_close",
    "error_for_connect",
    "error_for_status",
]


class ClientError(Exception):
    """Base class of every error this library raises."""


class ConnectionFailed(ClientError):
    """The server could not be reached; the message says why (the OS's or the library's words)."""


class ConnectionClosed(ClientError):
    """The connection to the relay is closed; ``code`` and ``reason`` are the relay's close frame."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"connection closed: {code} {reason}".rstrip())
        self.code = code
        self.reason = reason


class SessionExpired(ConnectionClosed):
    """The server reloaded the document since this client joined (close 1003, ``unknown_session``).

    The client's copy belongs to an earlier load and is not merged: open the document again.
    When that copy held edits the room lacks, the server kept it beside the file (a conflict copy)
    and told the client with a ``{"type": "conflict", "reason": "unknown_session"}`` notice instead of closing: the client then
    closes itself with this error (``code`` 1003, ``reason`` the notice), :attr:`conflict` True.
    """

    @property
    def conflict(self) -> bool:
        """Whether the server kept this client's edits in a conflict copy beside the file."""
        return '"conflict"' in self.reason


class ApiError(ClientError):
    """The server refused a request. ``status``: HTTP status (``None`` for a websocket close);
    ``code``: the error code (``schema/rest-errors.json``) or ``None``; ``message``: the server's text;
    ``close_code``: the websocket close code when the refusal came as one."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None, close_code=None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.close_code = close_code


class BadRequest(ApiError):
    """The request (or a websocket message) was malformed."""


class Unauthorized(ApiError):
    """No token, or a wrong one."""


class Forbidden(ApiError):
    """The user lacks a permission (e.g. ``kernels:execute``)."""


class ReadOnly(Forbidden):
    """The connection may read the document but not change it (the relay said ``access: read``)."""


class NotFound(ApiError):
    """No such notebook, cell, execution or room."""


class Conflict(ApiError):
    """The request conflicts with the current state (see ``code``)."""


class SourceChanged(Conflict):
    """A cell's source no longer matches the hash sent with the request: someone edited it since."""


class ServerFailure(ApiError):
    """The server failed (5xx), or could not start a kernel (``kernel_unavailable``)."""


class ExecutionFailed(ClientError):
    """A cell raised. ``record`` is the execution record, ``cell`` the failed cell's entry in it."""

    def __init__(self, record: dict[str, Any]) -> None:
        failed = next((c for c in record.get("cells", []) if c.get("status") == "error"), None)
        error = (failed or {}).get("error") or {}
        where = f"cell {failed['cell_id']}" if failed else "execution"
        super().__init__(f"{where} failed: {error.get('ename') or ''}: {error.get('evalue') or ''}".rstrip(": "))
        self.record = record
        self.cell = failed


class DeadlineExceeded(ClientError, TimeoutError):
    """A wait ran out of time."""


_BY_CODE: dict[str, type[ApiError]] = {
    "bad_request": BadRequest,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "read_only": ReadOnly,
    "not_found": NotFound,
    "source_changed": SourceChanged,
    "not_cancellable": Conflict,
    "not_running": Conflict,
    "no_input_pending": Conflict,
    "kernel_unavailable": ServerFailure,
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
}


def error_for_status(status: int, body: Any, fallback: str = "") -> ApiError:
    """The error for an HTTP error answer; ``body`` is its decoded JSON (any shape) or text."""
    code = message = None
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        message = body.get("message") or body.get("reason")
    elif isinstance(body, str) and body.strip():
        message = body.strip()
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(status) or (ServerFailure if status >= 500 else ApiError)
    return cls(str(message or fallback or f"HTTP {status}"), status=status, code=code)


_CLOSE: dict[int, type[ApiError]] = {4400: BadRequest, 4401: Unauthorized, 4404: NotFound, 4500: ServerFailure}


def error_for_close(code: int | None, reason: str) -> ClientError:
    """The error for a connection the relay closed with ``code`` and ``reason``."""
    if code == 1003 and "unknown_session" in reason:
        return SessionExpired(code, reason)
    cls = _CLOSE.get(code or 0)
    if cls is not None:
        return cls(reason or f"closed with {code}", close_code=code)
    return ConnectionClosed(code, reason)


def error_for_connect(exc: BaseException, url: str) -> ClientError:
    """The error for a failed attempt to open a connection to ``url`` (websocket or HTTP)."""
    if isinstance(exc, ClientError):
        return exc
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):  # websockets' InvalidStatus: the server refused the upgrade
        body = getattr(exc.response, "body", b"") or b""  # type: ignore[attr-defined]
        text = body.decode("utf-8", "replace")
        try:
            import json

            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        return error_for_status(status, parsed, f"{url}: HTTP {status}")
    return ConnectionFailed(f"cannot connect to {url}: {exc}")
