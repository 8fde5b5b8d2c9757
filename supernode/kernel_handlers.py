"""REST handlers under ``/api/kernels/{kernel_id}/``: server-side execution as the stock JupyterLab frontend
and jupyter-server-nbmodel's clients ask for it (bodies in ``schema/kernel-execute.json``,
``schema/kernel-request.json``, ``schema/kernel-requests.json``, ``schema/kernel-input.json``).

- ``POST …/execute`` with the stock frontend's body ``{"cell_id", "document_id"}`` (``serverSideExecution``;
  the frontend ignores the answer): the cell's current source runs, 202 with our execution record and
  ``Location: /api/rtc/executions/{id}``. With jupyter-server-nbmodel's body ``{"code", "metadata"?}``:
  its protocol (:mod:`supernode.nbmodel`), 202 and ``Location: /api/kernels/{kernel_id}/requests/{request_id}``.
- ``GET …/execute``, ``GET``/``DELETE …/requests/{request_id}``, ``POST …/input``: jupyter-server-nbmodel's.

Permissions: ``kernels:execute`` to run, cancel and answer; ``kernels:read`` to poll and list.
"""

from __future__ import annotations

from tornado import web

from . import nbmodel
from .errors import ApiError
from .execution_handlers import ApiBase
from .keys import DocumentKey

__all__ = ["HANDLERS"]


class KernelExecuteHandler(ApiBase):
    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        await self._allow("execute")
        body = self._body()
        if "code" in body:
            execution = await nbmodel.submit(self.executions, self.settings["file_id_manager"], kernel_id, body)
            record = execution.to_json()
            self.set_header("Access-Control-Expose-Headers", "Location")  # readable by a page of another origin
            self._reply(202, nbmodel.accepted(record), nbmodel.request_url(kernel_id, nbmodel.request_id(record["id"])))
            return
        cell_id, document_id = body.get("cell_id"), body.get("document_id")
        if not isinstance(cell_id, str) or not isinstance(document_id, str):
            raise ApiError(
                "bad_request", "'cell_id' and 'document_id' (or jupyter-server-nbmodel's 'code') are required"
            )
        key = DocumentKey.parse(document_id)
        path = self.settings["file_id_manager"].get_path(key.file_id) if key else None
        if path is None:
            raise ApiError("not_found", f"no document {document_id}")
        execution = await self.executions.submit(path, [cell_id], kernel_id=kernel_id)
        self._reply(202, execution.to_json(), self._location(execution.id))

    @web.authenticated
    async def get(self, kernel_id: str) -> None:
        await self._allow("read")
        requests = [
            nbmodel.pending(execution.to_json())
            for execution in list(self.executions.active.values())
            if not execution.finished_ and (execution.kernel_request or {}).get("kernel_id") == kernel_id
        ]
        self._reply(200, {"kernel_id": kernel_id, "requests": requests})


class KernelRequestHandler(ApiBase):
    async def _record(self, kernel_id: str, request_id: str) -> dict:
        execution_id = nbmodel.execution_id(request_id)
        record = await self.executions.get(execution_id) if execution_id else None  # (raises not_found)
        if record is None or (record.get("kernel_request") or {}).get("kernel_id") != kernel_id:
            raise ApiError("not_found", f"Execution request {request_id} for kernel {kernel_id} does not exist")
        return record

    @web.authenticated
    async def get(self, kernel_id: str, request_id: str) -> None:
        await self._allow("read")
        record = await self._record(kernel_id, request_id)
        execution = self.executions.active.get(record["id"])
        status, body = nbmodel.answer(record, execution.cells[0].input_header if execution else None)
        if status == 300:
            self.set_header("Access-Control-Expose-Headers", "Location")
        self._reply(status, body, nbmodel.input_url(kernel_id) if status == 300 else None)

    @web.authenticated
    async def delete(self, kernel_id: str, request_id: str) -> None:
        await self._allow("execute")
        record = await self._record(kernel_id, request_id)
        if record["status"] == "queued":
            try:
                await self.executions.cancel(record["id"])
            except ApiError as exc:
                if exc.code != "not_cancellable":
                    raise
                record = await self.executions.get(record["id"])  # it started meanwhile: interrupt it
        if record["status"] == "running":
            try:
                await self.executions.interrupt(record["id"])
            except ApiError as exc:
                if exc.code not in ("not_running", "not_found"):
                    raise  # (it ended meanwhile: nothing left to stop)
        self.set_status(204)
        self.finish()


class KernelInputHandler(ApiBase):
    @web.authenticated
    async def post(self, kernel_id: str) -> None:
        await self._allow("execute")
        if kernel_id not in self.executions.kernel_manager:
            raise ApiError("not_found", f"Unknown kernel with id: {kernel_id}")
        value = self._body().get("input")
        if not isinstance(value, str):
            raise ApiError("bad_request", "'input' (the text to answer) is required")
        self.executions.answer_kernel(kernel_id, value)
        self.set_status(201)
        self.finish()


_KERNEL = r"/api/kernels/(?P<kernel_id>[^/]+)"
# Any request segment reaches the handler, so a malformed id is answered in JSON (404 not_found) like an unknown one.
HANDLERS = [
    (rf"{_KERNEL}/execute", KernelExecuteHandler),
    (rf"{_KERNEL}/requests/(?P<request_id>[^/]+)", KernelRequestHandler),
    (rf"{_KERNEL}/input", KernelInputHandler),
]
