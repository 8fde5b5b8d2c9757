"""A cell of a live notebook as JSON, for programs: what the REST API answers and the change feed sends.

The cell is the nbformat cell as it would be saved now (``YNotebook._cell_to_py``: ``id``, ``cell_type``,
``source`` as one string, ``metadata``, ``outputs`` and ``execution_count`` for code cells, ``attachments``
when present), plus ``execution_state`` (``idle``, ``running``) for code cells, which the file does not hold.
"""

from __future__ import annotations

from typing import Any

from jupyter_ydoc import YNotebook
from pycrdt import Map

__all__ = ["cell_json", "notebook_json"]


def cell_json(notebook: YNotebook, ycell: Map, *, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Cell ``ycell`` of ``notebook`` as JSON. ``meta``: the notebook's metadata map as Python (read once
    by a caller converting many cells)."""
    cell = notebook._cell_to_py(ycell, meta)
    cell.setdefault("id", ycell.get("id"))  # nbformat < 4.5 files carry no ids; the live document has them
    if cell.get("cell_type") == "code":
        cell["execution_state"] = ycell.get("execution_state") or "idle"
    return cell


def notebook_json(notebook: YNotebook) -> dict[str, Any]:
    """``{"cells": [cell_json ...], "metadata", "nbformat", "nbformat_minor"}`` of ``notebook`` now (the
    change feed's ``snapshot`` and ``resync``)."""
    meta = notebook._ymeta.to_py() or {}
    return {
        "cells": [cell_json(notebook, ycell, meta=meta) for ycell in notebook.ycells],
        "metadata": meta.get("metadata") or {},
        "nbformat": int(meta.get("nbformat", 4)),
        "nbformat_minor": int(meta.get("nbformat_minor", 5)),
    }
