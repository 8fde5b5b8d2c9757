"""The ``contents`` table: the files and directories the server was asked about.

A hook on the contents manager's ``get`` records every file read and every directory listed (a
listing also removes the rows of children that are gone); contents events (save, rename, copy,
delete, upload, create) update the rows they name, and so do our document events for what other
programs did to a file a room holds (changed, moved or deleted on disk; :mod:`supernode.events`). A refresh re-reads every path the table holds
and lists the root (its files are known even if they were listed before the hook was in place), and removes what is gone; its rows go out in one transaction at its end.
"""

from __future__ import annotations

import asyncio
import posixpath
from typing import Any

from jupyter_core.utils import ensure_async
from tornado.web import HTTPError

from .events import DOCUMENT_EVENTS
from .feed import Feed, iso
from .tables import Row

__all__ = ["CONTENTS_EVENTS", "ContentsFeed"]

CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"


def _parent(path: str) -> str:
    return posixpath.dirname(path.strip("/"))


def _under(prefix: str):
    prefix = prefix.strip("/")
    return lambda key: key == prefix or key.startswith(prefix + "/")


class ContentsFeed(Feed):
    """One row per path seen (keyed by the path, without leading or trailing ``/``)."""

    table = "contents"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch: dict[str, Row] = {}  # rows read, to be written at the end of this loop turn
        self._flush: asyncio.Handle | None = None
        self._holding = False  # while a refresh re-reads every path: its rows go out at its end

    def start(self) -> None:
        self.hooks.wrap(self.app.contents_manager, "get", self._seen)
        self.hooks.listen(CONTENTS_EVENTS, self._on_contents_event)
        self.hooks.listen(DOCUMENT_EVENTS, self._on_document_event)

    async def read(self) -> None:
        """Re-read every path the table holds; what is gone is removed. The root is always listed."""
        paths = sorted(self.tables.rows["contents"]) or [""]
        if "" not in paths:
            paths.insert(0, "")
        self._holding = True
        try:
            for path in paths:
                if path != "" and path not in self.tables.rows["contents"]:
                    continue  # removed with its directory meanwhile
                await self._stat(path, listing=path == "")
        finally:
            self._holding = False
            self._flush_contents()

    async def _stat(self, path: str, *, listing: bool = False) -> None:
        """Read ``path`` through the hooked ``get`` (without content; a directory's children too with
        ``listing``); remove its rows if it is gone."""
        cm = self.app.contents_manager
        try:
            await ensure_async(cm.get(path, content=listing))
        except HTTPError as exc:
            if exc.status_code == 404:
                self.tables.replace("contents", [], _under(path))
            else:
                raise

    def _seen(self, model: Any) -> None:
        if not isinstance(model, dict) or "path" not in model:
            return
        path = str(model["path"]).strip("/")
        row = self._contents_row(model)
        self._batch[path] = row
        if self._flush is None and not self._holding:  # a listing reads each child first: one transaction
            self._flush = asyncio.get_running_loop().call_soon(self._flush_contents)
        if model.get("type") == "directory" and isinstance(model.get("content"), list):
            self._flush_contents()
            children = [self._contents_row(child) for child in model["content"] if isinstance(child, dict)]
            listed = {child["path"] for child in children}
            gone = [k for k in self.tables.rows["contents"] if k != path and _parent(k) == path and k not in listed]
            self.tables.replace("contents", [row, *children], lambda key: key == path or _parent(key) == path)
            for key in gone:  # what was below a child that is gone
                self.tables.replace("contents", [], _under(key))

    def _flush_contents(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._batch = self._batch, {}
        self.tables.put("contents", list(batch.values()))

    def _contents_row(self, model: dict[str, Any]) -> Row:
        path = str(model.get("path", "")).strip("/")
        fmt = model.get("format") if model.get("content") is not None else None
        if fmt is None:  # a listing does not say; keep what a read said
            fmt = (self.tables.rows["contents"].get(path) or {}).get("format")
        size = model.get("size")
        return {
            "path": path,
            "name": str(model.get("name", posixpath.basename(path))),
            "type": model.get("type") if model.get("type") in ("directory", "file", "notebook") else "file",
            "writable": bool(model.get("writable", False)),
            "created": iso(model.get("created")),
            "last_modified": iso(model.get("last_modified")),
            "size": int(size) if isinstance(size, int) and size >= 0 else None,
            "mimetype": model.get("mimetype"),
            "format": fmt,
        }

    async def _on_contents_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, path = data.get("action"), str(data.get("path", "")).strip("/")
        if action in ("rename", "delete"):
            source = str(data.get("source_path", "")).strip("/") if action == "rename" else path
            self.tables.replace("contents", [], _under(source))
        if action in ("save", "rename", "copy", "upload", "create"):
            await self._stat(path)
            parent = _parent(path)
            if parent in self.tables.rows["contents"]:
                await self._stat(parent)  # its last_modified changed

    async def _on_document_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        """A file a room holds changed outside Jupyter's contents API: update its row and its folder's."""
        action, path = data.get("action"), str(data.get("path", "")).strip("/")
        if action not in ("merged_from_disk", "renamed", "deleted"):
            return  # saves go through the contents manager, whose own events name them
        paths = [path]
        if action == "renamed":
            old = str(data.get("old_path", "")).strip("/")
            self.tables.replace("contents", [], _under(old))
            paths.append(_parent(old))
        paths.append(_parent(path))
        for each in dict.fromkeys(paths):
            if each == path or each in self.tables.rows["contents"]:
                await self._stat(each)
