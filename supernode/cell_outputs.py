"""A code cell's ``outputs`` Array in a shared notebook (:class:`jupyter_ydoc.YNotebook`).

Outputs are in the shape the JupyterLab 4 frontend (``@jupyter/ydoc`` 4.x) builds and observes itself:

- each output is a pycrdt ``Map`` in the cell's ``outputs`` Array;
- a stream output is ``{"output_type": "stream", "name": "stdout"|"stderr", "text": Text}``;
- ``display_data`` / ``execute_result`` / ``error`` outputs hold plain JSON values (``data``,
  ``metadata``, ``execution_count``; ``ename``, ``evalue``, ``traceback``).

The functions here find a cell by id (wherever collaborators moved it), build an output ``Map``,
name an element by its CRDT item id, and replace an output in place. Those that write are called
inside a transaction, from normal code, never inside a pycrdt observer callback.
"""

from __future__ import annotations

import copy
from typing import Any

from jupyter_ydoc import YNotebook
from pycrdt import Array, Assoc, Map, Text

__all__ = ["DISPLAY_TYPES", "item_id", "locate_cell", "outputs_of", "replace_output", "to_ymap"]

#: output types that show a display (``data``/``metadata``, maybe a display id).
DISPLAY_TYPES = ("display_data", "execute_result")
# A display update re-creates the outputs after the updated one when they are at most this big.
_TAIL_REWRITE_MAX_CHARS = 64 * 1024
_TAIL_REWRITE_MAX_OUTPUTS = 32


def locate_cell(notebook: YNotebook, cell_id: str, hint: int | None = None) -> tuple[Map | None, int | None]:
    """The cell Map with this id and its index (``hint`` is checked first, never trusted)."""
    ycells = notebook.ycells
    if hint is not None and 0 <= hint < len(ycells):
        ycell = ycells[hint]
        if ycell.get("id") == cell_id:
            return ycell, hint
    for index, ycell in enumerate(ycells):
        if ycell.get("id") == cell_id:
            return ycell, index
    return None, None


def outputs_of(ycell: Map | None) -> Array | None:
    """The cell's ``outputs`` Array, or None (no cell, or not a code cell)."""
    if ycell is None:
        return None
    youtputs = ycell.get("outputs")
    return youtputs if isinstance(youtputs, Array) else None


def item_id(array: Array, index: int) -> tuple[int, int] | None:
    """The CRDT id of the element at ``index`` (stable while it lives; a copy gets a new one)."""
    if not 0 <= index < len(array):  # pycrdt panics on a sticky index at the end
        return None
    item = array.sticky_index(index, Assoc.AFTER).to_json().get("item")
    return (item["client"], item["clock"]) if item else None


def to_ymap(output: dict[str, Any]) -> Map:
    """A new output ``Map`` for an nbformat output (a copy; stream text as ``Text``)."""
    if output.get("output_type") == "stream":
        return Map(
            {"output_type": "stream", "name": output.get("name", "stdout"), "text": Text(output.get("text", ""))}
        )
    return Map(copy.deepcopy(output))


def _approx_size(output: dict[str, Any]) -> int:
    size = 0
    for key in ("text", "data", "traceback"):
        value = output.get(key)
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, dict):
            size += sum(len(v) if isinstance(v, str) else 64 for v in value.values())
        elif isinstance(value, list):
            size += sum(len(v) if isinstance(v, str) else 64 for v in value)
    return size


def replace_output(youtputs: Array, index: int, output: dict[str, Any]) -> None:
    """Replace the output at ``index`` by a new Map, re-creating the small tail after it."""
    end = len(youtputs)
    tail: list[dict[str, Any]] = []
    if index + 1 < end and end - index - 1 <= _TAIL_REWRITE_MAX_OUTPUTS:
        tail = [youtputs[i].to_py() for i in range(index + 1, end)]
        if sum(_approx_size(out) for out in tail) > _TAIL_REWRITE_MAX_CHARS:
            tail = []
    if index + 1 == end or tail:
        del youtputs[index:end]
        youtputs.extend([to_ymap(output), *(to_ymap(out) for out in tail)])
    else:
        del youtputs[index]
        youtputs.insert(index, to_ymap(output))
