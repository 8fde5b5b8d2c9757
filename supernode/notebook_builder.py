"""Building a notebook's shared document from its content in time linear in its size.

jupyter_ydoc's ``YNotebook.set`` inserts the cells one by one, each at its index: the CRDT walks the
list of cells to find the index every time, so loading a notebook costs time quadratic in its
number of cells (20,000 cells: 12 s; 5,000: 0.9 s, most of a first open). :func:`build_notebook`
gives the same document, the same shared types holding the same values, as ``set`` on an empty
document:

* ``meta``: ``nbformat``, ``nbformat_minor`` and ``metadata`` (with ``language_info`` and
  ``kernelspec`` defaulted), numbers as floats, as ``set`` writes them;
* ``cells``: one map per cell as ``YNotebook.create_ycell`` makes it (``source`` a text, ``metadata``
  a map, a code cell's ``outputs`` an array of maps whose stream ``text`` is a text, its
  ``execution_state`` "idle", no empty attachments on markdown and raw cells).

The cells are inserted last first, each at the head of the list (no walk), through pycrdt's
integrated types directly (none of the per-value wrappers and transactions of its Python layer).
So the items are not ``set``'s (another order of clocks), but they are the same for the same
content every time: loads stay deterministic (see :mod:`supernode.content`). The caller owns the
transaction and the content (it is not copied).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from jupyter_ydoc import YNotebook
from jupyter_ydoc.ynotebook import NBFORMAT_MAJOR_VERSION, NBFORMAT_MINOR_VERSION
from jupyter_ydoc.utils import cast_all
from pycrdt import Map

__all__ = ["build_notebook", "building", "builds_notebook"]


def _source(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else value


def _cell_entries(cell: dict[str, Any]) -> dict[str, Any]:
    """The entries of a cell's map, in ``create_ycell``'s order (markers for the shared types)."""
    entries = dict(cell)
    entries["source"] = _source(entries["source"])
    entries["metadata"] = entries.get("metadata", {})
    cell_type = entries["cell_type"]
    if cell_type in ("raw", "markdown"):
        if "attachments" in entries and not entries["attachments"]:
            del entries["attachments"]
    elif cell_type == "code":
        entries["outputs"] = entries.get("outputs", [])
        entries["execution_state"] = "idle"
    return entries


def _fill_output(ymap: Any, txn: Any, output: dict[str, Any]) -> None:
    stream = output.get("output_type") == "stream"
    for key, value in output.items():
        if stream and key == "text":
            ymap.insert_text_prelim(txn, key).insert(txn, 0, _source(value))
        else:
            ymap.insert(txn, key, value)


def _fill_cell(ymap: Any, txn: Any, entries: dict[str, Any]) -> None:
    for key, value in entries.items():
        if key == "source":
            ymap.insert_text_prelim(txn, key).insert(txn, 0, value)
        elif key == "metadata":
            ymeta = ymap.insert_map_prelim(txn, key)
            for name, item in value.items():
                ymeta.insert(txn, name, item)
        elif key == "outputs" and entries.get("cell_type") == "code":
            youtputs = ymap.insert_array_prelim(txn, key)
            for index, output in enumerate(value):
                _fill_output(youtputs.insert_map_prelim(txn, index), txn, output)
        else:
            ymap.insert(txn, key, value)


def builds_notebook(notebook: Any) -> bool:
    """Whether :func:`build_notebook` gives ``notebook``'s ``set``: a jupyter_ydoc notebook whose class
    does not change how a notebook is set."""
    cls = type(notebook)
    return isinstance(notebook, YNotebook) and cls.set is YNotebook.set and cls.create_ycell is YNotebook.create_ycell


def build_notebook(notebook: YNotebook, value: dict[str, Any]) -> None:
    """Set the content of ``notebook`` (an empty document, in a transaction the caller holds) to
    ``value`` (a notebook dict with at least one cell, every cell with an id)."""
    for _ in building(notebook, value):
        pass


def building(notebook: YNotebook, value: dict[str, Any], every: int = 500) -> Iterator[None]:
    """:func:`build_notebook`, yielding after every ``every`` cells (the caller may give the event
    loop a turn there, keeping the transaction)."""
    meta = copy.deepcopy({key: item for key, item in value.items() if key != "cells"})
    cast_all(meta, int, float)  # as YNotebook.set: Yjs numbers are floats
    ymeta = notebook._ymeta
    ymeta["nbformat"] = meta.get("nbformat", NBFORMAT_MAJOR_VERSION)
    ymeta["nbformat_minor"] = meta.get("nbformat_minor", NBFORMAT_MINOR_VERSION)
    metadata = meta.get("metadata", {})
    metadata.setdefault("language_info", {"name": ""})
    metadata.setdefault("kernelspec", {"name": "", "display_name": ""})
    ymeta["metadata"] = Map(metadata)
    ycells = notebook._ycells
    txn = ycells.doc._txn._txn
    integrated = ycells.integrated
    for done, cell in enumerate(reversed(value["cells"]), 1):
        _fill_cell(integrated.insert_map_prelim(txn, 0), txn, _cell_entries(cell))
        if done % every == 0:
            yield
