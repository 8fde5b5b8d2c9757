"""REST handlers of executions (bodies in ``schema/execution-request.json`` and
``schema/execution-record.json``; errors in ``schema/rest-errors.json``).

- ``POST /api/rtc/executions`` ``{"path", "cell_ids"?: [...], "source_hashes"?: {cell_id: sha256}}`` → 202,
  ``Location`` of the record (no ``cell_ids``: every code cell, in order).
- ``GET /api/rtc/executions?path=`` → ``{"executions": [...]}``, newest first.
- ``GET /api/rtc/executions/{id}`` → the record; ``DELETE`` cancels it while queued.
- ``POST /api/rtc/executions/{id}/interrupt``; ``POST /api/rtc/executions/{id}/input`` ``{"value"}``.
- ``POST /api/rtc/kernels/restart`` ``{"path", "run_all"?: bool}`` → 200, or 202 with the run-all record.

Server-side execution under ``/api/kernels/{kernel_id}/`` (the stock frontend's, jupyter-server-nbmodel's):
:mod:`supernode.kernel_handlers`.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .errors import ApiError
from .executions import ExecutionManager

__all__ = ["HANDLERS", "ApiBase"]


class ApiBase(APIHandler):
    """JSON in and out, errors from the catalogue (:class:`ApiError`), permissions on ``auth_resource``."""

    auth_resource = "kernels"

    @property
    def executions(self) -> ExecutionManager:
        return self.settings["supernode_executions"]

    async def _allow(self, action: str, resource: str | None = None) -> None:
        resource = resource or self.auth_resource
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, action, resource)):
            raise ApiError("forbidden", f"{resource}:{action} is required")

    def _body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise ApiError("bad_request", f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError("bad_request", "the body must be a JSON object")
        return body

    def _reply(self, status: int, body: dict[str, Any], location: str | None = None) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        if location:
            self.set_header("Location", location)
        self.finish(json.dumps(body))

    def _location(self, execution_id: str) -> str:
        return f"{self.base_url}api/rtc/executions/{execution_id}"

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": exc.code, "message": exc.message}))
        else:
            super().write_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb) -> None:  # type: ignore[override]
        if isinstance(value, ApiError):
            self.log.info("%s %s: %s %s", self.request.method, self.request.uri, value.code, value.message)
        else:
            super().log_exception(typ, value, tb)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        super().send_error(exc.status if isinstance(exc, ApiError) else status_code, **kwargs)


class ExecutionsHandler(ApiBase):
    @web.authenticated
    async def post(self) -> None:
        await self._allow("execute")
        body = self._body()
        path = body.get("path")
        cell_ids = body.get("cell_ids")
        hashes = body.get("source_hashes")
        if not isinstance(path, str) or not path:
            raise ApiError("bad_request", "'path' (the notebook's path) is required")
        if cell_ids is not None and (not isinstance(cell_ids, list) or not all(isinstance(c, str) for c in cell_ids)):
            raise ApiError("bad_request", "'cell_ids' must be a list of cell ids")
        if hashes is not None and not isinstance(hashes, dict):
            raise ApiError("bad_request", "'source_hashes' must map cell ids to hashes")
        execution = await self.executions.submit(path, cell_ids, hashes)
        self._reply(202, execution.to_json(), self._location(execution.id))

    @web.authenticated
    async def get(self) -> None:
        await self._allow("read")
        self._reply(200, {"executions": await self.executions.list(self.get_argument("path", None))})


class ExecutionHandler(ApiBase):
    @web.authenticated
    async def get(self, execution_id: str) -> None:
        await self._allow("read")
        self._reply(200, await self.executions.get(execution_id))

    @web.authenticated
    async def delete(self, execution_id: str) -> None:
        await self._allow("execute")
        self._reply(200, await self.executions.cancel(execution_id))


class InterruptHandler(ApiBase):
    @web.authenticated
    async def post(self, execution_id: str) -> None:
        await self._allow("execute")
        self._reply(200, await self.executions.interrupt(execution_id))


class InputHandler(ApiBase):
    @web.authenticated
    async def post(self, execution_id: str) -> None:
        await self._allow("execute")
        value = self._body().get("value")
        if not isinstance(value, str):
            raise ApiError("bad_request", "'value' (the text to answer) is required")
        self._reply(200, await self.executions.answer(execution_id, value))


class RestartHandler(ApiBase):
    @web.authenticated
    async def post(self) -> None:
        await self._allow("execute")
        body = self._body()
        path = body.get("path")
        if not isinstance(path, str) or not path:
            raise ApiError("bad_request", "'path' (the notebook's path) is required")
        execution = await self.executions.restart(path, bool(body.get("run_all")))
        if execution is None:
            self._reply(200, {"path": path, "restarted": True})
        else:
            self._reply(202, execution.to_json(), self._location(execution.id))


# Any segment reaches the handlers, so a malformed id is answered in JSON (404 not_found) like an unknown one.
_ID = r"(?P<execution_id>[^/]+)"
HANDLERS = [
    (r"/api/rtc/executions", ExecutionsHandler),
    (rf"/api/rtc/executions/{_ID}", ExecutionHandler),
    (rf"/api/rtc/executions/{_ID}/interrupt", InterruptHandler),
    (rf"/api/rtc/executions/{_ID}/input", InputHandler),
    (r"/api/rtc/kernels/restart", RestartHandler),
]
