"""REST handlers of notebooks as files (:mod:`supernode.notebook_files`) and of questions to their kernel
(:mod:`supernode.kernel_queries`). Bodies in ``schema/notebook-request.json``; errors from the catalogue.

- ``GET /api/rtc/notebooks/{path}`` → the notebook without its cells (``contents:read``).
- ``PUT /api/rtc/notebooks/{path}`` ``{"content"?, "kernel"?: {"name"?}, "exists"?: "open"|"fail"}``: open the
  notebook, or create it (empty, or the uploaded ``content``) → 201; with ``kernel``, start its kernel session
  too (``contents:write``; ``kernels:execute`` for the kernel).
- ``PATCH /api/rtc/notebooks/{path}`` ``{"path": new}``: rename (``contents:write``).
- ``DELETE /api/rtc/notebooks/{path}?kernel=shutdown``: close: save now, end its kernel session if asked.
- ``POST …/save``: save now; ``POST …/copy`` ``{"path": new}``: save as (the live content, unsaved edits
  included), then open the copy.
- ``POST …/scratch`` ``{"code"}``: run code in no cell on the notebook's kernel → 202 and the execution record
  (its outputs there only) (``kernels:execute``).
- ``POST …/complete`` and ``POST …/inspect`` ``{"cell_id" | "code", "position", "detail_level"?}``: the
  kernel's completions / inspection at a code point position (``kernels:execute``).
"""

from __future__ import annotations

from typing import Any

from tornado import web

from .errors import ApiError
from .kernel_queries import KernelQueries
from .notebook_files import NotebookFiles
from .notebook_handlers import NotebookApi, _integer, _object, _string
from .records import CellRun, Execution

__all__ = ["HANDLERS"]


class NotebookFileApi(NotebookApi):
    @property
    def files(self) -> NotebookFiles:
        return self.settings["supernode_notebook_files"]

    def _new_path(self, body: dict[str, Any]) -> str:
        new_path = _string(body, "path")
        if not new_path:
            raise ApiError("bad_request", "'path' (the new path) is required")
        return new_path


class NotebookHandler(NotebookFileApi):
    @web.authenticated
    async def get(self, path: str) -> None:
        await self._allow("read")
        self._reply(200, (await self.files.open(path)).describe())

    @web.authenticated
    async def put(self, path: str) -> None:
        await self._allow("write")
        body = self._body()
        content, kernel = _object(body, "content"), body.get("kernel")
        exists = body.get("exists", "open")
        if exists not in ("open", "fail"):
            raise ApiError("bad_request", "'exists' must be open or fail")
        if kernel is not None and not isinstance(kernel, dict):
            raise ApiError("bad_request", "'kernel' must be an object ({} or {\"name\": ...})")
        if kernel is not None:
            await self._allow("execute", "kernels")
            if kernel.get("name") is not None and not isinstance(kernel.get("name"), str):
                raise ApiError("bad_request", "'kernel.name' must be a string")
        name = (kernel or {}).get("name")
        status = 200
        try:
            cells = await self.files.open(path)
            if exists == "fail" or content is not None:
                raise ApiError("conflict", f"{path} exists already")
        except ApiError as exc:
            if exc.code != "not_found":
                raise
            cells = await self.files.create(path, content=content, kernel_name=name)
            status = 201
        answer = cells.describe()
        if kernel is not None:
            answer["kernel"] = await self.files.start_kernel(cells, name)
        self._reply(status, answer)

    @web.authenticated
    async def patch(self, path: str) -> None:
        await self._allow("write")
        cells = await self.files.rename(path, self._new_path(self._body()))
        self._reply(200, cells.describe())

    @web.authenticated
    async def delete(self, path: str) -> None:
        await self._allow("write")
        kernel = self.get_query_argument("kernel", None)
        if kernel not in (None, "keep", "shutdown"):
            raise ApiError("bad_request", "'kernel' must be keep or shutdown")
        if kernel == "shutdown":
            await self._allow("execute", "kernels")
        self._reply(200, await self.files.close(path, shutdown_kernel=kernel == "shutdown"))


class SaveHandler(NotebookFileApi):
    @web.authenticated
    async def post(self, path: str) -> None:
        await self._allow("write")
        self._reply(200, (await self.files.save(path)).describe())


class CopyHandler(NotebookFileApi):
    @web.authenticated
    async def post(self, path: str) -> None:
        await self._allow("write")
        cells = await self.files.save_as(path, self._new_path(self._body()))
        self._reply(201, cells.describe())


class KernelQueryHandler(NotebookFileApi):
    """``POST …/complete`` and ``POST …/inspect``: the query is the route's."""

    def initialize(self, query: str) -> None:
        self.query = query

    @property
    def queries(self) -> KernelQueries:
        return self.settings["supernode_kernel_queries"]

    @web.authenticated
    async def post(self, path: str) -> None:
        await self._allow("execute", "kernels")
        body = self._body()
        cell_id, code = _string(body, "cell_id"), _string(body, "code")
        if (cell_id is None) == (code is None):
            raise ApiError("bad_request", "give 'cell_id' (a cell's source) or 'code', not both")
        cells = await self.files.open(path)
        if cell_id is not None:
            await self._allow("read")
            code = cells.get(cell_id, outputs=False)["source"]
        assert code is not None
        position = _integer(body, "position")
        position = len(code) if position is None else position
        if position > len(code):
            raise ApiError("bad_request", f"position {position} is outside 0..{len(code)}")
        if self.query == "complete":
            self._reply(200, await self.queries.complete(cells, code, position))
        else:
            detail = _integer(body, "detail_level") or 0
            if detail not in (0, 1):
                raise ApiError("bad_request", "'detail_level' must be 0 or 1")
            self._reply(200, await self.queries.inspect(cells, code, position, detail))


class ScratchHandler(NotebookFileApi):
    """``POST …/scratch`` ``{"code"}``: run code that is in no cell on the notebook's kernel (started if it has
    none); its outputs are in the execution record only, never in the notebook."""

    @web.authenticated
    async def post(self, path: str) -> None:
        await self._allow("execute", "kernels")
        code = _string(self._body(), "code")
        if code is None:
            raise ApiError("bad_request", "'code' (the code to run) is required")
        cells = await self.files.open(path)
        kernel = await self.files.start_kernel(cells)
        execution = Execution(path="", cells=[CellRun("", code=code)], kernel_hint=kernel["id"])
        await self.executions.enqueue(execution)
        self._reply(202, execution.to_json(), self._location(execution.id))


_PATH = r"(?P<path>.+)"
HANDLERS = [
    (rf"/api/rtc/notebooks/{_PATH}/scratch", ScratchHandler),
    (rf"/api/rtc/notebooks/{_PATH}/save", SaveHandler),
    (rf"/api/rtc/notebooks/{_PATH}/copy", CopyHandler),
    *(
        (rf"/api/rtc/notebooks/{_PATH}/{query}", KernelQueryHandler, {"query": query})
        for query in ("complete", "inspect")
    ),
    (rf"/api/rtc/notebooks/{_PATH}", NotebookHandler),  # last: takes any path
]
