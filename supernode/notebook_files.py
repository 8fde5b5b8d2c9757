"""Notebooks as files, for programs: open, create, upload, rename, save, save as, close.

:class:`NotebookFiles` does each through Jupyter's contents manager and session manager, so the file
browser, the sessions API and the shared tables see what a program did as they see what a person did
in JupyterLab; the live document (:class:`~supernode.document.LiveDocument`) follows.

- **open** a notebook (its room loaded: the same document browsers edit), **create** an empty one
  (nbformat 4.5, the kernelspec asked for) or **upload** one (its nbformat JSON, validated), optionally
  starting its kernel session;
- **rename** it (the open document follows at once; no save goes to the old path; its kernel
  session follows too), **save** it now, **save as** (the live content, unsaved edits included, written
  to a new file, which is then opened), **close** it (saved now; its kernel session shut down when asked).

Errors from the catalogue: ``not_found`` (no such notebook), ``conflict`` (the target exists),
``bad_request`` (not a notebook, an invalid upload), ``save_failed`` (the file could not be written).
"""

from __future__ import annotations

import json
import logging
import posixpath
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async
from tornado.web import HTTPError

from .cells import NotebookCells
from .errors import ApiError

__all__ = ["NotebookFiles"]

log = logging.getLogger("supernode.documents")


class NotebookFiles:
    """Notebook files of the server: ``documents`` (the :class:`~supernode.documents.DocumentManager`),
    Jupyter's ``session_manager`` and ``kernel_spec_manager``."""

    def __init__(self, documents: Any, session_manager: Any, kernel_spec_manager: Any = None) -> None:
        self.documents = documents
        self.contents = documents.contents_manager
        self.sessions = session_manager
        self.kernel_specs = kernel_spec_manager

    async def open(self, path: str) -> NotebookCells:
        """The cells of notebook ``path`` (its room loaded if needed); ``not_found`` if there is none."""
        live = await self.documents.document_for_path(_clean(path))
        if live is None:
            raise ApiError("not_found", f"no notebook {path}")
        return NotebookCells(live)

    async def create(
        self, path: str, *, content: dict[str, Any] | None = None, kernel_name: str | None = None
    ) -> NotebookCells:
        """Write a new notebook at ``path``: ``content`` (nbformat JSON, validated) or an empty notebook with
        the kernelspec of ``kernel_name`` (the server's default kernel if None). ``conflict`` if it exists."""
        path = _clean(path)
        if not path.endswith(".ipynb"):
            raise ApiError("bad_request", f"a notebook's name ends in .ipynb: {path}")
        if await self._exists(path):
            raise ApiError("conflict", f"{path} exists already")
        if content is None:
            notebook = nbformat.v4.new_notebook()
            notebook.metadata["kernelspec"] = await self._kernelspec(kernel_name)
        else:
            notebook = _validated(content)
        directory = posixpath.dirname(path)
        if directory and not await ensure_async(self.contents.dir_exists(directory)):
            raise ApiError("not_found", f"no folder {directory}")
        await self._save_model(path, notebook)
        log.info("created %s", path)
        return await self.open(path)

    async def start_kernel(self, cells: NotebookCells, kernel_name: str | None = None) -> dict[str, Any]:
        """The notebook's kernel session, started (with ``kernel_name``, else the notebook's kernelspec) if it
        has none: ``{"id", "name"}`` of its kernel."""
        path = cells.live.path
        for session in await self.sessions.list_sessions():
            if session.get("path") == path and session.get("kernel"):
                return {"id": session["kernel"]["id"], "name": session["kernel"].get("name")}
        meta = cells.notebook._ymeta.to_py() or {}
        name = kernel_name or (meta.get("metadata", {}).get("kernelspec") or {}).get("name") or None
        try:
            model = await self.sessions.create_session(
                path=path, name=posixpath.basename(path), type="notebook", kernel_name=name
            )
        except Exception as exc:
            raise ApiError("kernel_unavailable", f"no kernel could be started for {path}: {exc}") from exc
        return {"id": model["kernel"]["id"], "name": model["kernel"].get("name")}

    async def rename(self, path: str, new_path: str) -> NotebookCells:
        """Rename notebook ``path`` to ``new_path`` through the contents manager, between saves (no save goes to
        the old path); its kernel session follows."""
        path, new_path = _clean(path), _clean(new_path)
        if not new_path.endswith(".ipynb"):
            raise ApiError("bad_request", f"a notebook's name ends in .ipynb: {new_path}")
        cells = await self.open(path)
        if await self._exists(new_path):
            raise ApiError("conflict", f"{new_path} exists already")
        try:  # between the document's saves (supernode.rename_guard)
            await ensure_async(self.contents.rename(path, new_path))
        except HTTPError as exc:
            raise _contents_error(exc, f"renaming {path} to {new_path}") from exc
        self.documents.renamed(path, new_path)
        for session in await self.sessions.list_sessions():
            if session.get("path") == path:
                await self.sessions.update_session(session["id"], path=new_path, name=posixpath.basename(new_path))
        log.info("renamed %s to %s", path, new_path)
        return cells

    async def save(self, path: str) -> NotebookCells:
        """Write notebook ``path`` now; return once a save that started after this call has ended."""
        from .document import SaveFailed

        cells = await self.open(path)
        try:
            await cells.live.save("saved on request")
        except SaveFailed as exc:
            raise ApiError("save_failed", f"{path} could not be written: {exc}") from exc
        return cells

    async def save_as(self, path: str, new_path: str) -> NotebookCells:
        """Write the live content of ``path`` (unsaved edits included) to the new notebook ``new_path``; open it."""
        cells = await self.open(path)
        new_path = _clean(new_path)
        if not new_path.endswith(".ipynb"):
            raise ApiError("bad_request", f"a notebook's name ends in .ipynb: {new_path}")
        if await self._exists(new_path):
            raise ApiError("conflict", f"{new_path} exists already")
        await self._save_model(new_path, nbformat.from_dict(cells.notebook.get()))
        log.info("saved %s as %s", cells.live.path, new_path)
        return await self.open(new_path)

    async def close(self, path: str, *, shutdown_kernel: bool = False) -> dict[str, Any]:
        """Save notebook ``path`` now; end its kernel session if ``shutdown_kernel``. The room itself is freed by
        the relay once no client is left (a browser that has it open keeps it)."""
        cells = await self.save(path)
        ended = []
        if shutdown_kernel:
            for session in await self.sessions.list_sessions():
                if session.get("path") == cells.live.path:
                    await self.sessions.delete_session(session["id"])
                    ended.append(session["kernel"]["id"] if session.get("kernel") else session["id"])
        return {"path": cells.live.path, "saved": True, "kernels_shut_down": ended}

    # -- helpers --------------------------------------------------------------------------------

    async def _exists(self, path: str) -> bool:
        try:
            return bool(await ensure_async(self.contents.exists(path)))
        except HTTPError:
            return False

    async def _kernelspec(self, kernel_name: str | None) -> dict[str, Any]:
        specs = self.kernel_specs
        name = kernel_name or (getattr(specs, "default_kernel_name", None) if specs else None) or "python3"
        if specs is None:
            return {"name": name, "display_name": name}
        try:
            spec = await ensure_async(specs.get_kernel_spec(name))
        except Exception:
            raise ApiError("bad_request", f"no kernel named {name!r}") from None
        return {"name": name, "display_name": spec.display_name, "language": spec.language}

    async def _save_model(self, path: str, notebook: nbformat.NotebookNode) -> None:
        try:
            await ensure_async(self.contents.save({"type": "notebook", "format": "json", "content": notebook}, path))
        except HTTPError as exc:
            raise _contents_error(exc, f"writing {path}") from exc


def _clean(path: Any) -> str:
    if not isinstance(path, str) or not path.strip("/"):
        raise ApiError("bad_request", "a notebook path is required")
    return path.strip("/")


def _validated(content: Any) -> nbformat.NotebookNode:
    """``content`` as a notebook, upgraded to nbformat 4 and validated; ``bad_request`` saying why not."""
    if not isinstance(content, dict):
        raise ApiError("bad_request", "'content' must be a notebook (nbformat JSON)")
    try:
        notebook = nbformat.reads(json.dumps(content), as_version=4)
        nbformat.validate(notebook)
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ApiError("bad_request", f"'content' is not a valid notebook: {message}") from None
    return notebook


def _contents_error(exc: HTTPError, doing: str) -> ApiError:
    why = exc.log_message or str(exc)
    if exc.status_code == 404:
        return ApiError("not_found", f"{doing}: {why}")
    if exc.status_code == 409:
        return ApiError("conflict", f"{doing}: {why}")
    if exc.status_code in (400, 403):
        return ApiError("bad_request", f"{doing}: {why}")
    return ApiError("save_failed", f"{doing}: {why}")
