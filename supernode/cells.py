"""Edits by cell id on one live notebook, for programs: what the REST notebook API does.

:class:`NotebookCells` acts on a :class:`~supernode.document.LiveDocument`'s shared notebook, the
one browsers edit: every change is one transaction, reaches every client at once and is saved like
a browser's edit. Positions in a source are Unicode code points (converted here to pycrdt's UTF-8
offsets), so no client does UTF-8 or UTF-16 arithmetic. A source is changed by the smallest edit
(the common prefix and suffix are kept), so a person typing elsewhere in the cell keeps their text
and their cursor.

Cells are found by id wherever collaborators moved them. Moving a cell and changing its type
replace its map by a copy with the same id, in one transaction, as JupyterLab does (Yjs cannot
move an item).

Preconditions: ``expected_version`` (the notebook's :attr:`NotebookCells.version`, as answered by
any call) fails with ``version_changed`` when anything in the notebook changed since;
``expected_source_hash`` (sha256 of the source's UTF-8) fails with ``source_changed`` when the
cell's source changed. Both are 409: the caller reads again and decides.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pycrdt import Map, Text

from rtc_common.text import index_to_utf8, minimal_edit

from .cell_json import cell_json
from .errors import ApiError
from .records import source_hash

if TYPE_CHECKING:
    from .document import LiveDocument

__all__ = ["CELL_TYPES", "NotebookCells", "SourceEdit", "set_text"]

CELL_TYPES = ("code", "markdown", "raw")
CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # nbformat 4.5
MERGE_SEPARATOR = "\n\n"  # what JupyterLab puts between the sources of merged cells

SourceEdit = Mapping[str, Any]  # {"start": int, "end": int, "text": str}, positions in code points


class NotebookCells:
    """The cells of ``live``'s notebook, by id."""

    def __init__(self, live: LiveDocument) -> None:
        self.live = live
        self.notebook = live.document

    @property
    def version(self) -> str:
        """Names the notebook's content in this load: any change (from any writer) gives a new version."""
        return f"{self.live.epoch[:8]}-{self.live.revision}"

    # -- reading --------------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """The notebook without its cells: path, version, metadata, format, cell count, unsaved changes."""
        meta = self.notebook._ymeta.to_py() or {}
        return {
            "path": self.live.path,
            "version": self.version,
            "nbformat": int(meta.get("nbformat", 4)),
            "nbformat_minor": int(meta.get("nbformat_minor", 5)),
            "metadata": meta.get("metadata", {}),
            "cell_count": len(self.notebook.ycells),
            "dirty": self.live.dirty,
        }

    def list(self, *, outputs: bool = True, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
        """Cells ``offset`` to ``offset + limit`` (all by default), each with its ``index``."""
        ycells = self.notebook.ycells
        meta = self.notebook._ymeta.to_py() or {}
        stop = len(ycells) if limit is None else min(len(ycells), offset + limit)
        cells = [self._json(ycells[i], i, meta, outputs) for i in range(offset, stop)]
        return {"path": self.live.path, "version": self.version, "count": len(ycells), "offset": offset, "cells": cells}

    def get(self, cell_id: str, *, outputs: bool = True) -> dict[str, Any]:
        index, ycell = self._find(cell_id)
        return self._json(ycell, index, None, outputs)

    def ids(self) -> list[str]:
        return [str(ycell.get("id")) for ycell in self.notebook.ycells]

    def index(self, cell_id: str) -> int:
        return self._find(cell_id)[0]

    # -- changing -------------------------------------------------------------------------------

    def insert(
        self,
        *,
        cell_type: str = "code",
        source: str = "",
        metadata: dict[str, Any] | None = None,
        before: str | None = None,
        index: int | None = None,
        cell_id: str | None = None,
        expected_version: str | None = None,
    ) -> dict[str, Any]:
        """Insert a new cell before cell ``before``, at ``index``, or at the end; answer it."""
        self._expect(expected_version)
        _check_type(cell_type)
        ycells = self.notebook.ycells
        if before is not None:
            position = self._find(before)[0]
        elif index is not None:
            if not 0 <= index <= len(ycells):
                raise ApiError("bad_request", f"index {index} is outside 0..{len(ycells)}")
            position = index
        else:
            position = len(ycells)
        if cell_id is not None and (not isinstance(cell_id, str) or not CELL_ID.fullmatch(cell_id)):
            raise ApiError("bad_request", "a cell id is 1 to 64 letters, digits, '-' and '_' (nbformat)")
        if cell_id is not None and cell_id in self.ids():
            raise ApiError("bad_request", f"a cell with id {cell_id!r} exists already")
        value: dict[str, Any] = {"cell_type": cell_type, "source": source, "metadata": metadata or {}}
        value["id"] = cell_id or _new_id()
        if cell_type == "code":
            value.update(outputs=[], execution_count=None)
        ycell = self.notebook.create_ycell(value)
        ycells.insert(position, ycell)
        return self.get(value["id"])

    def change(
        self,
        cell_id: str,
        *,
        source: str | None = None,
        edits: Iterable[SourceEdit] | None = None,
        cell_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        expected_version: str | None = None,
        expected_source_hash: str | None = None,
    ) -> dict[str, Any]:
        """Change cell ``cell_id`` in one transaction: its whole ``source``, or ``edits`` to it (positions in
        code points of the current source, not overlapping); its ``cell_type``; ``metadata`` keys (a value
        of None removes the key). Answer the cell."""
        self._expect(expected_version)
        if source is not None and edits is not None:
            raise ApiError("bad_request", "give 'source' or 'edits', not both")
        if cell_type is not None:
            _check_type(cell_type)
        index, ycell = self._find(cell_id)
        current = str(ycell["source"])
        self._expect_source(cell_id, current, expected_source_hash)
        if edits is not None:
            source = apply_edits(current, list(edits))
        with self.notebook.ydoc.transaction():
            if source is not None and source != current:
                set_text(ycell["source"], current, source)
            if metadata:
                ymeta = ycell["metadata"]
                for key, value in metadata.items():
                    if value is None:
                        if key in ymeta:
                            del ymeta[key]
                    else:
                        ymeta[key] = value
            if cell_type is not None and cell_type != ycell.get("cell_type"):
                self._replace(index, ycell, cell_type=cell_type)
        return self.get(cell_id)

    def move(
        self, cell_id: str, *, before: str | None = None, index: int | None = None, expected_version: str | None = None
    ) -> dict[str, Any]:
        """Move cell ``cell_id`` before cell ``before``, to ``index`` (counted without the cell), or to the end."""
        self._expect(expected_version)
        old, ycell = self._find(cell_id)
        count = len(self.notebook.ycells)
        if before is not None:
            if before == cell_id:
                raise ApiError("bad_request", "a cell cannot move before itself")
            target = self._find(before)[0]
            target -= 1 if target > old else 0
        elif index is not None:
            if not 0 <= index < count:
                raise ApiError("bad_request", f"index {index} is outside 0..{count - 1}")
            target = index
        else:
            target = count - 1
        if target != old:
            value = _copy(ycell)
            with self.notebook.ydoc.transaction():
                del self.notebook.ycells[old]
                self._put(target, value)
        return self.get(cell_id)

    def delete(
        self, cell_id: str, *, expected_version: str | None = None, expected_source_hash: str | None = None
    ) -> dict[str, Any]:
        """Delete cell ``cell_id``; answer what it was."""
        self._expect(expected_version)
        index, ycell = self._find(cell_id)
        self._expect_source(cell_id, str(ycell["source"]), expected_source_hash)
        cell = self._json(ycell, index, None, True)
        del self.notebook.ycells[index]
        return cell

    def split(self, cell_id: str, position: int, *, expected_version: str | None = None) -> list[dict[str, Any]]:
        """Split cell ``cell_id`` at code point ``position``: it keeps the source before, a new cell of the same
        type and metadata after it holds the rest. A code cell's outputs are cleared (they belong to neither
        half). Answer both cells."""
        self._expect(expected_version)
        index, ycell = self._find(cell_id)
        current = str(ycell["source"])
        if not 0 <= position <= len(current):
            raise ApiError("bad_request", f"position {position} is outside 0..{len(current)}")
        value = _copy(ycell)
        value.update(id=_new_id(), source=current[position:])
        value.pop("attachments", None)
        value.pop("execution_state", None)
        if value["cell_type"] == "code":
            value.update(outputs=[], execution_count=None)
        with self.notebook.ydoc.transaction():
            set_text(ycell["source"], current, current[:position])
            if ycell.get("cell_type") == "code":
                _clear_outputs(ycell)
            self._put(index + 1, value)
        return [self.get(cell_id), self.get(value["id"])]

    def merge(self, cell_id: str, *, expected_version: str | None = None) -> tuple[dict[str, Any], str]:
        """Merge the cell after ``cell_id`` into it (sources joined by a blank line, as JupyterLab does; a code
        cell's outputs cleared, attachments of both kept); answer the cell and the id of the one removed."""
        self._expect(expected_version)
        index, ycell = self._find(cell_id)
        if index + 1 >= len(self.notebook.ycells):
            raise ApiError("bad_request", f"cell {cell_id} is the last cell: there is no next cell to merge")
        following = self.notebook.ycells[index + 1]
        removed = str(following.get("id"))
        current = str(ycell["source"])
        with self.notebook.ydoc.transaction():
            set_text(ycell["source"], current, current + MERGE_SEPARATOR + str(following["source"]))
            attachments = following.get("attachments")
            if attachments and ycell.get("cell_type") in ("markdown", "raw"):
                ycell["attachments"] = {**(_py(ycell.get("attachments")) or {}), **_py(attachments)}
            if ycell.get("cell_type") == "code":
                _clear_outputs(ycell)
            del self.notebook.ycells[index + 1]
        return self.get(cell_id), removed

    def clear_outputs(self, cell_id: str | None = None, *, expected_version: str | None = None) -> list[str]:
        """Clear the outputs and execution count of cell ``cell_id``, or of every code cell; answer the ids of the
        cells that had something to clear."""
        self._expect(expected_version)
        if cell_id is not None:
            targets = [self._find(cell_id)[1]]
        else:
            targets = [ycell for ycell in self.notebook.ycells if ycell.get("cell_type") == "code"]
        cleared = []
        with self.notebook.ydoc.transaction():
            for ycell in targets:
                if ycell.get("cell_type") != "code":
                    continue
                if len(ycell["outputs"]) or ycell.get("execution_count") is not None:
                    _clear_outputs(ycell)
                    cleared.append(str(ycell.get("id")))
        return cleared

    # -- helpers --------------------------------------------------------------------------------

    def _find(self, cell_id: str) -> tuple[int, Map]:
        for i, ycell in enumerate(self.notebook.ycells):
            if ycell.get("id") == cell_id:
                return i, ycell
        raise ApiError("not_found", f"no cell {cell_id!r} in {self.live.path}")

    def _json(self, ycell: Map, index: int, meta: dict[str, Any] | None, outputs: bool) -> dict[str, Any]:
        cell = cell_json(self.notebook, ycell, meta=meta)
        if not outputs:
            cell.pop("outputs", None)
        cell["index"] = index
        cell["source_hash"] = source_hash(cell["source"])
        return cell

    def expect(self, expected_version: str | None) -> None:
        """Raise ``version_changed`` unless the notebook is at ``expected_version`` (None: any version)."""
        self._expect(expected_version)

    def _expect(self, expected_version: str | None) -> None:
        if expected_version is not None and expected_version != self.version:
            raise ApiError(
                "version_changed",
                f"{self.live.path} is at version {self.version}, not {expected_version}: read it again",
            )

    def _expect_source(self, cell_id: str, source: str, expected: str | None) -> None:
        if expected is not None and expected != source_hash(source):
            raise ApiError("source_changed", f"cell {cell_id} changed since: its source hash is {source_hash(source)}")

    def _put(self, index: int, value: dict[str, Any]) -> None:
        """Insert a cell made from ``value`` (a cell as :func:`_copy` gives it) at ``index``."""
        state = value.pop("execution_state", None)
        self.notebook.ycells.insert(index, self.notebook.create_ycell(value))
        if state and state != "idle" and value["cell_type"] == "code":
            self.notebook.ycells[index]["execution_state"] = state  # a running cell stays running where it moved

    def _replace(self, index: int, ycell: Map, *, cell_type: str) -> None:
        """Put a cell of ``cell_type`` with ``ycell``'s id, source and metadata at ``index`` (in a transaction)."""
        old = _copy(ycell)
        value = {"id": old["id"], "cell_type": cell_type, "source": old["source"], "metadata": old["metadata"]}
        if cell_type == "code":
            value.update(outputs=[], execution_count=None)
        elif old.get("attachments"):
            value["attachments"] = old["attachments"]
        del self.notebook.ycells[index]
        self.notebook.ycells.insert(index, self.notebook.create_ycell(value))


def apply_edits(source: str, edits: list[SourceEdit]) -> str:
    """``source`` with ``edits`` applied: each ``{"start", "end", "text"}`` in code points of ``source``; edits
    may come in any order but must not overlap (two inserts at one position apply in the order given)."""
    spans = []
    for n, edit in enumerate(edits):
        if not isinstance(edit, Mapping):
            raise ApiError("bad_request", f"edit {n} is not an object")
        start, end, text = edit.get("start"), edit.get("end", edit.get("start")), edit.get("text", "")
        if not (_is_int(start) and _is_int(end) and isinstance(text, str)):
            raise ApiError("bad_request", f"edit {n} needs integer 'start' and 'end' and a string 'text'")
        if not 0 <= start <= end <= len(source):
            raise ApiError("bad_request", f"edit {n} ({start}..{end}) is outside the source (0..{len(source)})")
        spans.append((start, end, n, text))
    spans.sort()
    for (_, end, n, _), (start, _, m, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise ApiError("bad_request", f"edits {n} and {m} overlap")
    out, at = [], 0
    for start, end, _, text in spans:
        out.append(source[at:start])
        out.append(text)
        at = end
    out.append(source[at:])
    return "".join(out)


def set_text(ytext: Text, current: str, new: str) -> None:
    """Make ``ytext`` (holding ``current``) hold ``new`` by the smallest edit."""
    start, end, inserted = minimal_edit(current, new)
    begin, stop = index_to_utf8(current, start), index_to_utf8(current, end)
    if stop > begin:
        del ytext[begin:stop]
    if inserted:
        ytext.insert(begin, inserted)


def _clear_outputs(ycell: Map) -> None:
    ycell["outputs"].clear()
    ycell["execution_count"] = None


def _copy(ycell: Map) -> dict[str, Any]:
    value = ycell.to_py()
    value["source"] = str(ycell["source"])
    return value


def _py(value: Any) -> Any:
    return value.to_py() if hasattr(value, "to_py") else value


def _check_type(cell_type: Any) -> None:
    if cell_type not in CELL_TYPES:
        raise ApiError("bad_request", f"cell_type must be one of {', '.join(CELL_TYPES)}, not {cell_type!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _new_id() -> str:
    return uuid.uuid4().hex[:16]
