"""A live document's content read as plain data: what its ``get`` returns, faster for a large notebook.

:func:`snapshot` is the one reader of a document's content (saves, merges, versions); the parts it is
made of (:func:`notebook_meta`, :func:`notebook_cells`, :func:`notebook_content`) serve
:class:`~supernode.cell_cache.CellCache`, which reads only the cells changed since it last read them.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_ydoc import YNotebook
from jupyter_ydoc.utils import cast_all
from jupyter_ydoc.ybasedoc import YBaseDoc

from .keys import DocumentKey

__all__ = ["MANY_CELLS", "notebook_cells", "notebook_content", "notebook_meta", "reads_as_json", "snapshot"]

MANY_CELLS = 200  # from this many cells on, a notebook is read as JSON (see snapshot)


def snapshot(key: DocumentKey, document: YBaseDoc) -> Any:
    """The document's content as plain data (notebook dict, text, or bytes): what its ``get`` returns.

    A jupyter_ydoc notebook is read as JSON from the CRDT in one call per part and then given
    ``get``'s own touches (numbers made integers, no ``execution_state``, no ids in nbformat < 4.5, no
    empty attachments): ``get`` reads the cells one by one, each by its index, which costs seconds
    for thousands of cells (with fewer than ``MANY_CELLS`` cells, ``get`` is as fast). Cells with the
    same id go through ``get`` itself, which renames them.
    """
    if reads_as_json(document) and document.cell_number >= MANY_CELLS:
        meta = notebook_meta(document)
        cells = notebook_cells(document, meta)
        if cells is not None:
            return notebook_content(meta, cells)
    return document.get()


def reads_as_json(document: YBaseDoc) -> bool:
    """Whether ``document`` is a jupyter_ydoc notebook read as its own ``get`` reads it (no ``get`` of its own)."""
    return isinstance(document, YNotebook) and type(document).get is YNotebook.get


def notebook_meta(document: YNotebook) -> dict[str, Any]:
    """The notebook's top level but its cells (``metadata``, ``nbformat``, ...), numbers made integers."""
    return cast_all(json.loads(str(document._ymeta)), float, int)


def notebook_cells(document: YNotebook, meta: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Every cell as ``get`` gives it (``meta``: :func:`notebook_meta`), read as JSON in one call; None if
    two cells share an id (``get`` renames one of them)."""
    cells = json.loads(str(document._ycells))
    no_ids = int(meta.get("nbformat", 0)) == 4 and int(meta.get("nbformat_minor", 0)) <= 4
    seen: set[Any] = set()
    for cell in cells:
        cell.pop("execution_state", None)
        cast_all(cell, float, int)
        if no_ids:
            cell.pop("id", None)
        if "attachments" in cell and cell.get("cell_type") in ("raw", "markdown") and not cell["attachments"]:
            del cell["attachments"]
        cell_id = cell.get("id")
        if cell_id:
            if cell_id in seen:
                return None
            seen.add(cell_id)
    return cells


def notebook_content(meta: dict[str, Any], cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The notebook ``get`` gives, of its top level ``meta`` and ``cells``."""
    return {
        "cells": cells,
        "metadata": meta.get("metadata", {}),
        "nbformat": int(meta.get("nbformat", 0)),
        "nbformat_minor": int(meta.get("nbformat_minor", 0)),
    }
