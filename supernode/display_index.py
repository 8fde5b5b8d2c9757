"""Display ids: where the outputs shown with each ``transient.display_id`` are, in one notebook.

Like nbclient, ``update_display_data`` *and* a new ``display_data``/``execute_result`` with a known
id replace ``data``/``metadata`` of every output shown with that id, in any cell of the notebook.
The :class:`DisplayIndex` knows where those outputs are (cell id, position, CRDT item id) and checks
at write time that the output is still there (same item; or, after a collaborator moved the cell,
which copies it, the same position with the data last written); a cell's entries are forgotten when
a writer clears it. An updated output is replaced by a new ``Map`` (the frontend does not observe
keys of an output ``Map``); when it is not the last output, the outputs after it are re-created too
if they are small (≤ 64 KiB), because JupyterLab 4 appends remotely inserted outputs at the end of
its view (:func:`supernode.cell_outputs.replace_output`).

Written by the :class:`supernode.output_writer.OutputWriter` instances of the notebook, inside
their transactions.
"""

from __future__ import annotations

import weakref
from typing import Any

from jupyter_ydoc import YNotebook
from pycrdt import Array, Map

from .cell_outputs import DISPLAY_TYPES, item_id, locate_cell, outputs_of, replace_output

__all__ = ["DisplayIndex", "DisplayTarget"]


class DisplayTarget:
    """One output showing a display: its cell, its position in the cell's outputs, its CRDT item id."""

    __slots__ = ("cell_id", "index", "item")

    def __init__(self, cell_id: str, index: int, item: tuple[int, int] | None) -> None:
        self.cell_id = cell_id
        self.index = index
        self.item = item


class DisplayIndex:
    """Where the outputs shown with each display id are, in one notebook's document.

    Shared by all :class:`OutputWriter` of a notebook (``DisplayIndex.of(notebook)`` gives the
    notebook's one). Entries are written by writers when they write a display output, and are
    checked at use: an output deleted, cleared or replaced by a collaborator is dropped.
    """

    _registry: weakref.WeakKeyDictionary[YNotebook, DisplayIndex] = weakref.WeakKeyDictionary()

    def __init__(self) -> None:
        self._targets: dict[str, list[DisplayTarget]] = {}
        self._data: dict[str, Any] = {}  # the data last written for each display id

    @classmethod
    def of(cls, notebook: YNotebook) -> DisplayIndex:
        """The index of this notebook (created on first use, dropped with the notebook)."""
        index = cls._registry.get(notebook)
        if index is None:
            index = cls._registry[notebook] = cls()
        return index

    def __contains__(self, display_id: str) -> bool:
        return display_id in self._targets

    def __len__(self) -> int:
        return len(self._targets)

    def targets(self, display_id: str) -> list[tuple[str, int]]:
        """``(cell_id, output index)`` of the outputs last known to show ``display_id``."""
        return [(t.cell_id, t.index) for t in self._targets.get(display_id, [])]

    def forget_cell(self, cell_id: str) -> None:
        """The outputs of ``cell_id`` were cleared: none of them shows a display any more."""
        for display_id in list(self._targets):
            kept = [t for t in self._targets[display_id] if t.cell_id != cell_id]
            if kept:
                self._targets[display_id] = kept
            else:
                del self._targets[display_id]
                self._data.pop(display_id, None)

    def _add(self, display_id: str, target: DisplayTarget, data: Any) -> None:
        self._targets.setdefault(display_id, []).append(target)
        self._data[display_id] = data

    def _update(self, notebook: YNotebook, display_id: str, data: Any, metadata: Any, cells: dict[str, Any]) -> int:
        """Write ``data``/``metadata`` into every output showing ``display_id``; returns how many.

        Called inside a transaction. ``cells`` caches cell lookups for the transaction.
        """
        targets = self._targets.get(display_id)
        if not targets:
            return 0
        expected = self._data.get(display_id)
        kept: list[DisplayTarget] = []
        written = 0
        for target in targets:
            if target.cell_id not in cells:
                cells[target.cell_id] = outputs_of(locate_cell(notebook, target.cell_id)[0])
            youtputs = cells[target.cell_id]
            if youtputs is None or not self._locate(youtputs, target, expected):
                continue  # the cell or the output is gone: forget it
            old = youtputs[target.index].to_py()
            replace_output(youtputs, target.index, {**old, "data": data, "metadata": metadata})
            target.item = item_id(youtputs, target.index)
            kept.append(target)
            written += 1
        if kept:
            self._targets[display_id] = kept
            self._data[display_id] = data
        else:
            del self._targets[display_id]
            self._data.pop(display_id, None)
        return written

    @staticmethod
    def _locate(youtputs: Array, target: DisplayTarget, expected: Any) -> bool:
        if not 0 <= target.index < len(youtputs):
            return False
        if target.item is not None and item_id(youtputs, target.index) == target.item:
            return True
        # Not the same CRDT item: the cell was copied (a move), or its outputs were replaced.
        youtput = youtputs[target.index]
        return (
            isinstance(youtput, Map)
            and youtput.get("output_type") in DISPLAY_TYPES
            and youtput.get("data") == expected
        )
