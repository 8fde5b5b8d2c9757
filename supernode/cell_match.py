"""Cell identity for notebooks whose file has no cell ids (nbformat < 4.5, or a tool that strips them).

A room needs an id for every cell: the clients address cells by id, and the merge of an edit on disk
(:mod:`supernode.merge`) pairs cells by id. When the file has none, ids are derived from each cell's
content (:func:`derived_id`), never from its position, so a cell inserted or deleted above another
does not change the other's id. An edit on disk to an id-less notebook is then matched against the
version last loaded or saved (:func:`adopt_ids`): cells with the same type and source are the same
cell, and between two such anchors, a cell of the disk and one of the base with the same type and a
similar source are the same cell changed (the merge then takes what changed field by field), so a
shifted or edited cell is never a delete plus an add.
"""

from __future__ import annotations

import hashlib
from difflib import SequenceMatcher
from typing import Any

__all__ = ["adopt_ids", "derived_id"]

# Two sources at least this similar (difflib's ratio) are one cell edited, when their gap holds
# different numbers of cells; with as many on each side, the cells pair in order whatever their text.
_SIMILAR = 0.5


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def derived_id(cell: Any, occurrence: int) -> str:
    """The id of an id-less cell: from its type and source, and ``occurrence`` (how many cells with the
    same type and source come before it), so identical cells get different ids."""
    key = f"{cell.get('cell_type', '')}\0{_source(cell)}\0{occurrence}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def adopt_ids(disk: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """``disk`` (a notebook some of whose cells have no id) with each id-less cell given the id of the cell
    of ``base`` (the room's last loaded or saved version, every cell with an id) it matches, if any.

    Cells left unmatched (new on disk) keep no id here; :func:`~supernode.content.normalize_notebook`
    derives theirs. ``disk`` is not modified.
    """
    cells = [dict(cell) for cell in disk.get("cells") or []]
    taken = {cell["id"] for cell in cells if cell.get("id")}
    base_cells = [cell for cell in base.get("cells") or [] if cell.get("id") not in taken]
    free = [i for i, cell in enumerate(cells) if not cell.get("id")]
    keys_disk = [(cells[i].get("cell_type"), _source(cells[i])) for i in free]
    keys_base = [(cell.get("cell_type"), _source(cell)) for cell in base_cells]
    blocks = SequenceMatcher(None, keys_base, keys_disk, autojunk=False).get_matching_blocks()
    b_at = d_at = 0
    for block in blocks:  # the last block is empty, at the ends: it closes the final gap
        _pair_changed(cells, free, base_cells, range(b_at, block.a), range(d_at, block.b))
        for k in range(block.size):
            cells[free[block.b + k]]["id"] = base_cells[block.a + k]["id"]
        b_at, d_at = block.a + block.size, block.b + block.size
    return {**disk, "cells": cells}


def _pair_changed(cells: list[dict], free: list[int], base_cells: list[Any], gap_base: range, gap_disk: range) -> None:
    """Between two anchors: give disk cells the ids of the base cells they are edits of (same type, and
    in order; similar sources when the gap does not hold as many cells on each side)."""
    in_order = len(gap_base) == len(gap_disk)
    next_disk = gap_disk.start
    for b in gap_base:
        before = base_cells[b]
        best, best_ratio = None, _SIMILAR
        for d in range(next_disk, gap_disk.stop):
            cell = cells[free[d]]
            if cell.get("cell_type") != before.get("cell_type"):
                continue
            if in_order:
                best = d
                break
            ratio = SequenceMatcher(None, _source(before), _source(cell), autojunk=False).ratio()
            if ratio >= best_ratio:
                best, best_ratio = d, ratio
        if best is not None:
            cells[free[best]]["id"] = before["id"]
            next_disk = best + 1
