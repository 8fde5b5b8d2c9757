"""The REST notebook API of a jupyter-rtc server: cells by id on the live notebook, without joining its room.

Usage::

    async with JupyterClient(url, token) as server:
        cells = await server.notebooks.cells("analysis.ipynb", outputs=False)
        change = await server.notebooks.insert("analysis.ipynb", source="1 + 1")
        await server.notebooks.change("analysis.ipynb", change["cell"]["id"], edits=[{"start": 0, "end": 1, "text": "2"}])

Each method is one request to ``/api/rtc/notebooks/{path}/…`` and answers its JSON body (``schema/notebook-cells.json``,
``schema/cell-change.json``, ``schema/execution-record.json``); positions in ``edits`` are code points. Errors are the
:mod:`rtc_client.errors` classes (``NotFound``, ``Forbidden``, ``Conflict`` for a failed ``expected_version`` or
``SourceChanged`` for a failed ``expected_source_hash``, ``BadRequest``).
"""

from __future__ import annotations

from typing import Any

from .rest import RestClient, quote_path

__all__ = ["NotebookApi"]


def _present(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


class NotebookApi:
    """The notebook routes of the server ``rest`` talks to."""

    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def _call(self, method: str, path: str, *parts: str, body: Any = None, **params: Any) -> Any:
        url = "/".join(["api/rtc/notebooks", quote_path(path.strip("/")), *(quote_path(p) for p in parts)])
        query = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in params.items()}
        _, answer, _ = await self.rest.request(method, url, body, params=_present(**query) or None)
        return answer

    async def describe(self, path: str) -> dict[str, Any]:
        """The notebook without its cells (``schema/notebook-info.json``)."""
        return await self._call("GET", path)

    async def cells(
        self, path: str, *, offset: int = 0, limit: int | None = None, outputs: bool = True
    ) -> dict[str, Any]:
        """A page of cells: ``{"path", "version", "count", "offset", "cells"}``."""
        params = _present(offset=offset, limit=limit, outputs=outputs)
        return await self._call("GET", path, "cells", **params)

    async def cell(self, path: str, cell_id: str, *, outputs: bool = True) -> dict[str, Any]:
        return await self._call("GET", path, "cells", cell_id, outputs=outputs)

    async def insert(
        self,
        path: str,
        *,
        source: str = "",
        cell_type: str = "code",
        before: str | None = None,
        index: int | None = None,
        metadata: dict[str, Any] | None = None,
        cell_id: str | None = None,
        expected_version: str | None = None,
    ) -> dict[str, Any]:
        """Insert a cell before cell ``before``, at ``index`` or at the end: ``{"cell", "version"}``."""
        body = _present(
            source=source,
            cell_type=cell_type,
            before=before,
            index=index,
            metadata=metadata,
            id=cell_id,
            expected_version=expected_version,
        )
        return await self._call("POST", path, "cells", body=body)

    async def change(
        self,
        path: str,
        cell_id: str,
        *,
        source: str | None = None,
        edits: list[dict[str, Any]] | None = None,
        cell_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        expected_version: str | None = None,
        expected_source_hash: str | None = None,
    ) -> dict[str, Any]:
        """Replace or patch a cell's source, change its type or metadata: ``{"cell", "version"}``."""
        body = _present(
            source=source,
            edits=edits,
            cell_type=cell_type,
            metadata=metadata,
            expected_version=expected_version,
            expected_source_hash=expected_source_hash,
        )
        return await self._call("PATCH", path, "cells", cell_id, body=body)

    async def delete(
        self,
        path: str,
        cell_id: str,
        *,
        expected_version: str | None = None,
        expected_source_hash: str | None = None,
    ) -> dict[str, Any]:
        """Delete a cell: ``{"cell" (as it was), "version"}``."""
        guards = _present(expected_version=expected_version, expected_source_hash=expected_source_hash)
        return await self._call("DELETE", path, "cells", cell_id, **guards)

    async def move(
        self,
        path: str,
        cell_id: str,
        *,
        before: str | None = None,
        index: int | None = None,
        expected_version: str | None = None,
    ) -> dict[str, Any]:
        """Move a cell before cell ``before``, to ``index`` or to the end: ``{"cell", "version"}``."""
        body = _present(before=before, index=index, expected_version=expected_version)
        return await self._call("POST", path, "cells", cell_id, "move", body=body)

    async def execute_cell(
        self, path: str, cell_id: str, *, source: str | None = None, expected_source_hash: str | None = None
    ) -> dict[str, Any]:
        """Set a cell's source (if given) and run it: the execution record (queued)."""
        body = _present(source=source, expected_source_hash=expected_source_hash)
        return await self._call("POST", path, "cells", cell_id, "execute", body=body)
