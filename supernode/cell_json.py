"""A live notebook's cells as JSON: what programs are told a cell is (REST answers, the change feed).

A cell is its nbformat JSON as :meth:`jupyter_ydoc.YNotebook._cell_to_py` makes it (``id``,
``cell_type``, ``source`` as one string, ``metadata``; ``outputs`` and ``execution_count`` for code
cells; ``attachments`` when present) plus ``execution_state``: ``"running"`` or ``"idle"`` for a code
cell, None for the others. The ``id`` is kept even for a notebook of nbformat 4.4 or older (whose
file has none): programs address cells by it.

Must be called from normal code or from inside a pycrdt observer (reading only).
"""

from __future__ import annotations

from typing import Any

from jupyter_ydoc import YNotebook
from pycrdt import Map

__all__ = ["cell_json", "notebook_json"]


def cell_json(document: YNotebook, ycell: Map, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cell ``ycell`` of ``document`` as JSON (see the module docstring). ``meta``: the document's
    ``meta`` map as Python, when the caller reads many cells (read once instead of once per cell)."""
    cell = document._cell_to_py(ycell, meta)
    if "id" not in cell and ycell.get("id") is not None:
        cell["id"] = str(ycell.get("id"))
    cell["execution_state"] = (ycell.get("execution_state") or "idle") if cell.get("cell_type") == "code" else None
    return cell


def notebook_json(document: YNotebook) -> dict[str, Any]:
    """``{"cells": [cell_json ...], "metadata", "nbformat", "nbformat_minor"}`` of ``document`` now."""
    meta = document._ymeta.to_py() or {}
    return {
        "cells": [cell_json(document, ycell, meta) for ycell in document.ycells],
        "metadata": meta.get("metadata") or {},
        "nbformat": int(meta.get("nbformat", 4)),
        "nbformat_minor": int(meta.get("nbformat_minor", 5)),
    }
