"""REST handlers of live notebooks by path and cells by id (:mod:`supernode.cells` does the work).

Bodies in ``schema/cell-request.json``, answers in ``schema/notebook-info.json``, ``schema/notebook-cells.json``
and ``schema/cell-change.json``; errors from ``schema/rest-errors.json``. Reading needs ``contents:read``,
changing ``contents:write``, running ``kernels:execute`` (and ``contents:write`` when the call also sets a
source). ``{path}`` may hold slashes; a cell id never does.

- the notebook itself (open, create, rename, save, close, completion): :mod:`supernode.notebook_file_handlers`.
- ``GET …/cells?outputs=&offset=&limit=`` → a page of cells; ``POST …/cells`` inserts one (201).
- ``GET|PATCH|DELETE …/cells/{cell_id}``; ``POST …/cells/{cell_id}/move|split|merge``.
- ``DELETE …/cells/{cell_id}/outputs``, ``DELETE …/outputs`` (every cell).
- ``POST …/cells/{cell_id}/execute`` (edit and run), ``POST …/execute`` (all, above, below) → 202 and the
  execution record (``/api/rtc/executions/{id}``).
"""

from __future__ import annotations

from typing import Any

from tornado import web

from .cells import NotebookCells
from .errors import ApiError
from .execution_handlers import ApiBase
from .records import source_hash

__all__ = ["HANDLERS"]


class NotebookApi(ApiBase):
    auth_resource = "contents"

    async def cells(self, path: str) -> NotebookCells:
        live = await self.settings["supernode_documents"].document_for_path(path.strip("/"))
        if live is None:
            raise ApiError("not_found", f"no notebook {path}")
        return NotebookCells(live)

    def _reply_change(self, notebook: NotebookCells, status: int = 200, **answer: Any) -> None:
        self._reply(status, {**answer, "version": notebook.version})

    def _flag(self, name: str, default: bool) -> bool:
        value = self.get_query_argument(name, None)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes"):
            return True
        if value.lower() in ("0", "false", "no"):
            return False
        raise ApiError("bad_request", f"'{name}' must be true or false")

    def _count(self, name: str, default: int | None) -> int | None:
        value = self.get_query_argument(name, None)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ApiError("bad_request", f"'{name}' must be a whole number") from None
        if number < 0:
            raise ApiError("bad_request", f"'{name}' must not be negative")
        return number

    def _guards(self, body: dict[str, Any], *names: str) -> dict[str, str | None]:
        """The preconditions among ``names`` from the body (or the query, for DELETE), checked as strings."""
        guards = {}
        for name in names:
            value = body.get(name, self.get_query_argument(name, None))
            if value is not None and not isinstance(value, str):
                raise ApiError("bad_request", f"'{name}' must be a string")
            guards[name] = value
        return guards


class CellsHandler(NotebookApi):
    @web.authenticated
    async def get(self, path: str) -> None:
        await self._allow("read")
        cells = await self.cells(path)
        outputs = self._flag("outputs", True)
        offset, limit = self._count("offset", 0), self._count("limit", None)
        self._reply(200, cells.list(outputs=outputs, offset=offset or 0, limit=limit))

    @web.authenticated
    async def post(self, path: str) -> None:
        await self._allow("write")
        body = self._body()
        cells = await self.cells(path)
        cell = cells.insert(
            cell_type=body.get("cell_type", "code"),
            source=_string(body, "source", ""),
            metadata=_object(body, "metadata"),
            before=_string(body, "before"),
            index=_integer(body, "index"),
            cell_id=body.get("id"),
            **self._guards(body, "expected_version"),
        )
        self._reply_change(cells, 201, cell=cell)


class CellHandler(NotebookApi):
    @web.authenticated
    async def get(self, path: str, cell_id: str) -> None:
        await self._allow("read")
        cells = await self.cells(path)
        self._reply_change(cells, cell=cells.get(cell_id, outputs=self._flag("outputs", True)))

    @web.authenticated
    async def patch(self, path: str, cell_id: str) -> None:
        await self._allow("write")
        body = self._body()
        edits = body.get("edits")
        if edits is not None and not isinstance(edits, list):
            raise ApiError("bad_request", "'edits' must be a list of {start, end, text}")
        cells = await self.cells(path)
        cell = cells.change(
            cell_id,
            source=_string(body, "source"),
            edits=edits,
            cell_type=body.get("cell_type"),
            metadata=_object(body, "metadata"),
            **self._guards(body, "expected_version", "expected_source_hash"),
        )
        self._reply_change(cells, cell=cell)

    @web.authenticated
    async def delete(self, path: str, cell_id: str) -> None:
        await self._allow("write")
        cells = await self.cells(path)
        cell = cells.delete(cell_id, **self._guards({}, "expected_version", "expected_source_hash"))
        self._reply_change(cells, cell=cell)


class CellActionHandler(NotebookApi):
    """``POST …/cells/{cell_id}/{action}``: the action is the route's (move, split, merge, execute)."""

    def initialize(self, action: str) -> None:
        self.action = action

    @web.authenticated
    async def post(self, path: str, cell_id: str) -> None:
        action = self.action
        body = self._body()
        if action == "execute":
            await self._edit_and_run(path, cell_id, body)
            return
        await self._allow("write")
        cells = await self.cells(path)
        guards = self._guards(body, "expected_version")
        if action == "move":
            cell = cells.move(cell_id, before=_string(body, "before"), index=_integer(body, "index"), **guards)
            self._reply_change(cells, cell=cell)
        elif action == "split":
            position = _integer(body, "position")
            if position is None:
                raise ApiError("bad_request", "'position' (a code point offset in the source) is required")
            self._reply_change(cells, cells=cells.split(cell_id, position, **guards))
        else:
            cell, removed = cells.merge(cell_id, **guards)
            self._reply_change(cells, cell=cell, removed=removed)

    async def _edit_and_run(self, path: str, cell_id: str, body: dict[str, Any]) -> None:
        """Set the source (if given) and queue the cell with the hash of the source it must run."""
        await self._allow("execute", "kernels")
        source = _string(body, "source")
        guards = self._guards(body, "expected_version", "expected_source_hash")
        cells = await self.cells(path)
        if source is not None:
            await self._allow("write")
            cell = cells.change(cell_id, source=source, **guards)
        else:
            cells.expect(guards["expected_version"])
            cell = cells.get(cell_id, outputs=False)
            if guards["expected_source_hash"] not in (None, cell["source_hash"]):
                raise ApiError(
                    "source_changed", f"cell {cell_id} changed since: its source hash is {cell['source_hash']}"
                )
        executions = self.executions
        execution = await executions.submit(cells.live.path, [cell_id], {cell_id: source_hash(cell["source"])})
        self._reply(202, execution.to_json(), self._location(execution.id))


class OutputsHandler(NotebookApi):
    @web.authenticated
    async def delete(self, path: str, cell_id: str | None = None) -> None:
        await self._allow("write")
        cells = await self.cells(path)
        cleared = cells.clear_outputs(cell_id, **self._guards({}, "expected_version"))
        self._reply_change(cells, cleared=cleared)


class NotebookExecuteHandler(NotebookApi):
    @web.authenticated
    async def post(self, path: str) -> None:
        await self._allow("execute", "kernels")
        body = self._body()
        which = body.get("cells", "all")
        if which not in ("all", "above", "below"):
            raise ApiError("bad_request", "'cells' must be all, above or below")
        cells = await self.cells(path)
        listed = cells.list(outputs=False)["cells"]
        code = [cell["id"] for cell in listed if cell["cell_type"] == "code"]
        if which != "all":
            anchor = _string(body, "cell_id")
            if anchor is None:
                raise ApiError("bad_request", f"'cell_id' is required to run the cells {which} it")
            at = cells.index(anchor)
            code = [
                cell["id"]
                for cell in listed
                if cell["cell_type"] == "code" and (cell["index"] < at) == (which == "above")
            ]
        if not code:
            raise ApiError("bad_request", f"no code cell to run ({which})")
        execution = await self.executions.submit(cells.live.path, code)
        self._reply(202, execution.to_json(), self._location(execution.id))


def _string(body: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = body.get(name, default)
    if value is not None and not isinstance(value, str):
        raise ApiError("bad_request", f"'{name}' must be a string")
    return value


def _integer(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ApiError("bad_request", f"'{name}' must be a whole number")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is not None and not isinstance(value, dict):
        raise ApiError("bad_request", f"'{name}' must be an object")
    return value


# ``{path}`` is greedy: ``a/cells/b.ipynb/cells`` is the cells of ``a/cells/b.ipynb``. Any segment after ``cells/``
# reaches the cell handlers, so a malformed cell id is answered in JSON (404 not_found) like an unknown one; a
# notebook in a folder named ``cells`` is read through its ``/cells`` (``GET a/cells/b.ipynb`` names cell b.ipynb of a).
_PATH = r"(?P<path>.+)"
_CELL = r"(?P<cell_id>[^/]+)"
HANDLERS = [
    *(
        (rf"/api/rtc/notebooks/{_PATH}/cells/{_CELL}/{action}", CellActionHandler, {"action": action})
        for action in ("move", "split", "merge", "execute")
    ),
    (rf"/api/rtc/notebooks/{_PATH}/cells/{_CELL}/outputs", OutputsHandler),
    (rf"/api/rtc/notebooks/{_PATH}/cells/{_CELL}", CellHandler),
    (rf"/api/rtc/notebooks/{_PATH}/cells", CellsHandler),
    (rf"/api/rtc/notebooks/{_PATH}/outputs", OutputsHandler),
    (rf"/api/rtc/notebooks/{_PATH}/execute", NotebookExecuteHandler),
]  # before supernode.notebook_file_handlers.HANDLERS, whose last route takes any path
