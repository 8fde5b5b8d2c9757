"""jupyter-server-nbmodel's execution protocol, on our execution journal.

A client written for jupyter-server-nbmodel (its JupyterLab plugin, or a program) works unchanged
against this server. The shapes mirrored are those of jupyter-server-nbmodel 0.2.9
(``handlers.py``, ``execution_stack.py``, ``actions.py``; its frontend's ``requestServer.ts``):

- ``POST /api/kernels/{kernel_id}/execute`` ``{"code", "metadata"?: {"cell_id", "document_id",
  "document_path", "record_timing"}}`` → 202, ``Location: /api/kernels/{kernel_id}/requests/{request_id}``
  (``Access-Control-Expose-Headers: Location``), body :func:`accepted`. An unknown kernel → 404.
- ``GET /api/kernels/{kernel_id}/requests/{request_id}`` (:func:`answer`), every body carrying the
  request's context ``{request_id, kernel_id, request_url, cell_id, document_path}``:
  202 ``{pending: true, request_status: "queued"|"running", outputs}`` while it waits or runs;
  300 ``{parent_header, input_request: {prompt, password}, pending: true, request_status: "input"}`` with
  ``Location: /api/kernels/{kernel_id}/input`` while the code waits in ``input()``;
  200 ``{status: "ok"|"error", execution_count, outputs, pending: false, request_status: "complete"}``
  once the kernel replied (an exception in the code is a 200 with ``status: "error"`` and the error
  output); 500 ``{error: <why>, pending: false, request_status: "complete"}`` when it ended without a
  reply (the kernel died, was restarted or shut down, the request was cancelled, the server stopped).
  ``outputs`` is a JSON *string* of nbformat outputs, as jupyter-server-nbmodel sends it.
  An unknown request, or one made on another kernel → 404.
- Requests on one kernel behave as there: a request for a cell supersedes an earlier one for the same
  cell still queued (its poll answers 500 ``Superseded by a newer queued execution for the same
  cell_id.``), and a request that ends in an error cancels those queued on its kernel (500 ``Execution
  cancelled because a previous queued request failed.``).
- ``DELETE`` of the same URL → 204: a queued request is cancelled (its poll then answers 500), a
  running one interrupted (its poll then answers 200 with ``status: "error"``, ``KeyboardInterrupt``).
- ``GET /api/kernels/{kernel_id}/execute`` → ``{kernel_id, requests: [...]}``, its unfinished requests.
- ``POST /api/kernels/{kernel_id}/input`` ``{"input"}`` → 201: answers the ``input()`` a cell running on
  that kernel waits for.

Which code runs where, as there: ``code`` runs (not the cell's source). With a ``cell_id``, the cell is
looked for in the document named by ``document_id`` (a room name ``json:notebook:<fileId>``), then in
the one at ``document_path`` (a room id from before a server restart is stale; the path still names
it); the outputs go into the first that holds it, live and saved, with ``execution_count`` and
``execution_state`` like any execution, the cell's ``metadata.jupyter_server_nbmodel``
``{requestId, kernelId, requestUrl}`` while it runs, and, with ``record_timing``, JupyterLab's timings
in ``metadata.execution`` (:mod:`supernode.execution_timing`; without it that entry is removed).
Without a cell, or when no document holds it, the code runs on the kernel outside any notebook: its
outputs are in the answer (and the record) only.

Where this server differs, on purpose: a request is an execution record
(``GET /api/rtc/executions/{id}``, ``id`` being the request id without dashes), journalled, so reading
its result does not consume it and it outlives a server restart (a second poll answers the same); a
cell in a notebook queues behind that notebook's executions, code outside any notebook behind its
kernel's; a cell that is not a code cell is refused at once (400), not at the first poll; an ``input``
when nothing waits is refused (409 ``no_input_pending``); ``server`` (a kernel on another Jupyter
server) is refused (400). ``outputs`` are the cell's as the notebook shows them (consecutive stream
messages merged into one output, ``\r`` applied), not one output per message. Timings follow JupyterLab
(``shell.execute_reply`` after an error reply too; ``execution_failed`` only when no reply came), where
jupyter-server-nbmodel writes ``execution_failed`` for an error reply. Not served: its frontend's
output-recovery settings endpoint, and its ``cell_execution`` events on the server's event bus (ours are
``schema/events/execution.json``).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from .errors import ApiError
from .executions import ExecutionManager
from .executor import find_cell
from .keys import DocumentKey
from .records import CellRun, Execution

__all__ = ["StopOnError", "accepted", "answer", "execution_id", "pending", "request_id", "request_url", "submit"]

log = logging.getLogger("supernode.executions")


def request_id(execution_id: str) -> str:
    """The request id of an execution: its id as a dashed UUID (jupyter-server-nbmodel's form)."""
    return str(uuid.UUID(hex=execution_id))


def execution_id(request_id: str) -> str | None:
    """The execution of a request id (None: not a UUID)."""
    try:
        return uuid.UUID(request_id).hex
    except ValueError:
        return None


def request_url(kernel_id: str, request: str) -> str:
    """Where a request is polled (no base URL: its clients join it to theirs)."""
    return f"/api/kernels/{kernel_id}/requests/{request}"


def input_url(kernel_id: str) -> str:
    return f"/api/kernels/{kernel_id}/input"


async def submit(executions: ExecutionManager, file_ids: Any, kernel_id: str, body: dict[str, Any]) -> Execution:
    """Queue jupyter-server-nbmodel's request ``body`` on kernel ``kernel_id``.

    Raises ``ApiError``: ``bad_request`` (malformed body, ``server`` given, the cell is not code),
    ``not_found`` (no such kernel), ``journal_unavailable``.
    """
    code = body.get("code")
    metadata = body.get("metadata")
    if not isinstance(code, str):
        raise ApiError("bad_request", "'code' (the code to run) must be a string")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ApiError("bad_request", "'metadata' must be an object")
    if body.get("server") is not None:
        raise ApiError("bad_request", "'server' (a kernel of another Jupyter server) is not supported here")
    if kernel_id not in executions.kernel_manager:
        raise ApiError("not_found", f"Unknown kernel with id: {kernel_id}")
    cell_id, document_id, document_path = (metadata.get(k) for k in ("cell_id", "document_id", "document_path"))
    path = await _notebook_of(executions, file_ids, cell_id, document_id, document_path)
    context = {
        "kernel_id": kernel_id,
        "cell_id": cell_id if isinstance(cell_id, str) else None,
        "document_id": document_id if isinstance(document_id, str) else None,
        "document_path": document_path if isinstance(document_path, str) else None,
    }
    if path is None:
        execution = Execution(path="", cells=[CellRun("", code=code)], kernel_hint=kernel_id, kernel_request=context)
    else:
        execution = Execution(
            path=path,
            cells=[CellRun(cell_id, code=code)],
            kernel_hint=kernel_id,
            record_timing=bool(metadata.get("record_timing")),
            kernel_request=context,
        )
        request = request_id(execution.id)
        execution.running_metadata["jupyter_server_nbmodel"] = {
            "requestId": request,
            "kernelId": kernel_id,
            "requestUrl": request_url(kernel_id, request),
        }
    if context["cell_id"]:
        # A cell asked again while an earlier request for it still waits (Restart and Run All) runs once.
        for other in list(executions.active.values()):
            if _on_kernel(other, kernel_id) and other.kernel_request.get("cell_id") == context["cell_id"]:
                executions.cancel_queued(other, SUPERSEDED)
    await executions.enqueue(execution)
    return execution


SUPERSEDED = "Superseded by a newer queued execution for the same cell_id."
CANCELLED = "Execution cancelled because a previous queued request failed."


def _on_kernel(execution: Execution, kernel_id: str) -> bool:
    return execution.kernel_request is not None and execution.kernel_request["kernel_id"] == kernel_id


class StopOnError:
    """A watcher of execution records (:attr:`ExecutionManager.watchers`): when a request ends in an error,
    the requests queued on its kernel after it are cancelled (their polls answer 500 ``CANCELLED``), as
    jupyter-server-nbmodel and a kernel's ``stop_on_error`` do, so Run All stops at the first failing cell."""

    def __init__(self, executions: ExecutionManager) -> None:
        self.executions = executions

    def __call__(self, record: dict[str, Any]) -> None:
        asked = record.get("kernel_request")
        if asked is None or record["status"] != "error":
            return
        for other in list(self.executions.active.values()):
            if other.id != record["id"] and _on_kernel(other, asked["kernel_id"]):
                self.executions.cancel_queued(other, CANCELLED)


async def _notebook_of(
    executions: ExecutionManager, file_ids: Any, cell_id: Any, document_id: Any, document_path: Any
) -> str | None:
    """The path of the first notebook (by ``document_id``, then ``document_path``) holding code cell
    ``cell_id``; None if there is no cell id or no such notebook holds it (the code runs outside any)."""
    if not isinstance(cell_id, str) or not cell_id:
        return None
    candidates = []
    key = DocumentKey.parse(document_id) if isinstance(document_id, str) else None
    if key is not None and key.type == "notebook":
        candidates.append(file_ids.get_path(key.file_id))
    if isinstance(document_path, str) and document_path:
        candidates.append(document_path)
    for path in candidates:
        if not path:
            continue
        live = await executions.documents.document_for_path(path)
        ycell = find_cell(live.document, cell_id) if live is not None else None
        if ycell is None:
            continue
        if ycell.get("cell_type") != "code":
            raise ApiError("bad_request", f"cell {cell_id} of {path} is a {ycell.get('cell_type')} cell")
        return path
    log.warning(
        "no notebook (document %r, path %r) holds cell %s: its code runs outside any notebook",
        document_id,
        document_path,
        cell_id,
    )
    return None


def _context(record: dict[str, Any]) -> dict[str, Any]:
    asked = record["kernel_request"]
    request = request_id(record["id"])
    return {
        "request_id": request,
        "kernel_id": asked["kernel_id"],
        "request_url": request_url(asked["kernel_id"], request),
        "cell_id": asked.get("cell_id"),
        "document_path": asked.get("document_path"),
    }


def accepted(record: dict[str, Any]) -> dict[str, Any]:
    """The body of the 202 that accepts a request."""
    return {**_context(record), "pending": True, "request_status": "queued", "outputs": "[]"}


def pending(record: dict[str, Any]) -> dict[str, Any]:
    """An unfinished request, as a 202 poll (and the list of a kernel's requests) shows it."""
    cell = record["cells"][0]
    running = cell["status"] == "running"
    return {
        **_context(record),
        "pending": True,
        "request_status": "running" if running else "queued",
        "outputs": json.dumps(cell["outputs"]) if running else "[]",
    }


def answer(record: dict[str, Any], input_header: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """The status and body of a poll of ``record``'s request. ``input_header``: the header of the
    kernel's ``input_request`` the cell waits on (in memory only), sent back as ``parent_header``."""
    cell = record["cells"][0]
    if record["status"] in ("queued", "running"):
        if cell.get("input_request") is not None:
            return 300, {
                "parent_header": input_header or {},
                "input_request": cell["input_request"],
                **_context(record),
                "pending": True,
                "request_status": "input",
            }
        return 202, pending(record)
    done = {**_context(record), "pending": False, "request_status": "complete"}
    if cell["status"] in ("ok", "error") and cell.get("started") is not None:  # the kernel replied
        outputs = json.dumps(cell["outputs"])
        return 200, {"status": cell["status"], "execution_count": cell["execution_count"], "outputs": outputs, **done}
    error = record.get("abort_reason") or (cell.get("error") or {}).get("evalue") or f"the request {record['status']}"
    return 500, {"error": error, **done}
