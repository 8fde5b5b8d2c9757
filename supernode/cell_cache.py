"""A live notebook's cells as a save last read them: their plain data, and the file text written for them.

A save reads the whole notebook from the CRDT (:func:`~supernode.snapshot.snapshot`) and writes its
whole text. Both cost in proportion to the notebook (for 50 MB of outputs, ~110 ms of reading on the
event loop and ~230 ms of text), though an edit between two saves touches a cell or two.
:class:`CellCache` follows the cells array (``observe_deep``): a cell no change has touched since it was
last read is given again as the very dict read then, and the text written for that dict is written
again as it was (:class:`~supernode.notebook_writer.CellTexts`).

What counts as a change to a cell: any event under it (a path that starts with its index), its
insertion (an insert in the array's delta: a moved cell is a new one), a change of its ``id``. An
event the cache does not follow, a cells array that does not have the length it expects, or a cell
whose id is not the one it expects drops what it holds: the next read reads every cell.

Contract: :meth:`CellCache.read` returns what :func:`~supernode.snapshot.snapshot` returns. The cell
dicts in it are shared with later reads and must never be changed (as
:meth:`~supernode.document.LiveDocument.saved_content`'s are not). Notebooks it does not follow (a
document class with a ``get`` of its own, nbformat before 4.5, which has no ids, two cells with one id)
are read by ``snapshot`` every time. Events come on the event loop, where :meth:`read` runs.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Map

from .keys import DocumentKey
from .notebook_writer import CellText
from .snapshot import MANY_CELLS, notebook_cells, notebook_content, notebook_meta, reads_as_json, snapshot

__all__ = ["CellCache"]

log = logging.getLogger("supernode.cell_cache")

_FEW = 64  # cells read one by one at most (and a twentieth of the notebook): more are read all at once


class _Lost(Exception):
    """An event the cache cannot follow."""


class CellCache:
    """The cells of ``document`` (a live notebook of ``key``) as last read. One per live document;
    :meth:`close` stops following it."""

    def __init__(self, key: DocumentKey, document: YBaseDoc) -> None:
        self._key = key
        self._document = document
        self._ids: list[Any] | None = None  # the cells' ids in order (None: not known, read every cell)
        self._cells: dict[str, dict[str, Any]] = {}  # by id: the cell as last read
        self._changed: set[Any] = set()  # ids of cells changed since they were read
        self._texts: dict[int, tuple[dict[str, Any], CellText]] = {}  # by id() of a cell read: it, its file text
        self._subscription: Any = None

    def close(self) -> None:
        """Stop following the document and drop what is held."""
        if self._subscription is not None:
            self._document._ycells.unobserve(self._subscription)
            self._subscription = None
        self._forget()

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> Any:
        """The document's content, as :func:`~supernode.snapshot.snapshot` gives it (the cells unchanged since
        the last read are the same dicts: never to be changed)."""
        document = self._document
        if not reads_as_json(document):
            return snapshot(self._key, document)
        meta = notebook_meta(document)
        if int(meta.get("nbformat", 0)) != 4 or int(meta.get("nbformat_minor", 0)) < 5:
            self._forget()
            return snapshot(self._key, document)
        if self._subscription is None:
            self._subscription = document._ycells.observe_deep(self._on_events)
        ids = self._ids
        if (
            ids is None
            or len(ids) != len(document._ycells)
            or len(self._changed) > max(_FEW, len(ids) // 20)
            or len(set(ids)) != len(ids)  # two cells with one id (``get`` renames one), or ids not known
        ):
            return self._read_all(meta)
        ycells = document._ycells
        cells: list[dict[str, Any]] = []
        for index, cell_id in enumerate(ids):
            cell = None if cell_id in self._changed else self._cells.get(cell_id)
            if cell is None:
                cell = document._cell_to_py(ycells[index], meta)
                if cell_id is None or cell.get("id") != cell_id:
                    log.debug("cell %d of %s is not %r: reading every cell", index, self._key.room, cell_id)
                    return self._read_all(meta)
                self._cells[cell_id] = cell
            cells.append(cell)
        self._changed.clear()
        if len(self._cells) > len(ids):
            self._cells = {cell["id"]: cell for cell in cells}
        return notebook_content(meta, cells)

    def _read_all(self, meta: dict[str, Any]) -> Any:
        document = self._document
        if document.cell_number >= MANY_CELLS:
            cells = notebook_cells(document, meta)
        else:  # as ``snapshot`` reads them: one by one (fewer, larger cells are read faster so)
            cells = [document._cell_to_py(ycell, meta) for ycell in document._ycells]
            if len({cell.get("id") for cell in cells}) != len(cells):
                cells = None
        if cells is None or not all(isinstance(cell.get("id"), str) for cell in cells):
            self._forget()  # two cells with one id: ``get`` renames one (and its document follows)
            return snapshot(self._key, document)
        self._ids = [cell["id"] for cell in cells]
        self._cells = {cell["id"]: cell for cell in cells}
        self._changed.clear()
        return notebook_content(meta, cells)

    def _forget(self) -> None:
        self._ids = None
        self._cells = {}
        self._changed.clear()
        self._texts = {}

    # -- following changes -----------------------------------------------------------------

    def _on_events(self, events: list[Any]) -> None:
        if self._ids is None:
            return  # the next read reads every cell
        try:
            for event in sorted(events, key=lambda event: len(event.path)):  # the array's own event first
                self._follow(event)
        except _Lost as exc:
            log.debug("%s: %s; the next save reads every cell", self._key.room, exc)
            self._forget()

    def _follow(self, event: Any) -> None:
        ids = self._ids
        assert ids is not None
        path = event.path
        if not path:
            self._ids = self._moved(ids, event.delta)
            return
        index = path[0]
        if type(index) is not int or not 0 <= index < len(ids):
            raise _Lost(f"an event at {path!r}")
        self._changed.add(ids[index])
        if len(path) == 1 and "id" in event.keys:  # the cell's id itself
            ids[index] = event.keys["id"].get("newValue")
            self._changed.add(ids[index])

    def _moved(self, ids: list[Any], delta: list[dict[str, Any]]) -> list[Any]:
        """``ids`` after the cells array's ``delta`` (retain, delete, insert: a cell inserted is changed)."""
        out: list[Any] = []
        at = 0
        for step in delta:
            if "retain" in step:
                out += ids[at : at + step["retain"]]
                at += step["retain"]
            elif "delete" in step:
                at += step["delete"]
            elif "insert" in step:
                for item in step["insert"]:
                    cell_id = item.get("id") if isinstance(item, Map) else None
                    out.append(cell_id)
                    self._changed.add(cell_id)
            else:
                raise _Lost(f"a step {sorted(step)!r} in the cells' delta")
        if at > len(ids):
            raise _Lost("a delta longer than the cells")
        return out + ids[at:]

    # -- file texts (CellTexts) ------------------------------------------------------------

    def text_of(self, cell: dict[str, Any]) -> CellText | None:
        """The file text written for ``cell`` (this very dict), if any. Called from the writer's thread."""
        known = self._texts.get(id(cell))
        return known[1] if known is not None and known[0] is cell else None

    def wrote(self, texts: list[tuple[dict[str, Any], CellText]]) -> None:
        """A save wrote each cell of ``texts`` as its text: those still as read are kept."""
        current = self._cells
        self._texts = {id(cell): (cell, text) for cell, text in texts if current.get(cell.get("id")) is cell}
