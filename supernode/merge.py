"""Three-way merge of notebooks by cell id, for files edited on disk while a room is open.

``base`` is the notebook as last loaded or saved, ``disk`` the file now, ``live``
the shared document now. The result takes every cell the disk changed (added,
edited, deleted) from the disk, and keeps every cell the disk did not touch as it
is live — including cells collaborators added since — so concurrent edits to other
cells survive.
"""

from __future__ import annotations

from typing import Any

__all__ = ["merge_notebooks"]

Cell = dict[str, Any]


def _comparable(cell: Cell) -> Cell:
    # The shared model carries a transient execution state that is never on disk, and the contents
    # manager marks code cells ``metadata.trusted`` on every read, by a signature that our own saves
    # change: neither is an edit.
    out = {k: v for k, v in cell.items() if k != "execution_state"}
    metadata = out.get("metadata")
    if isinstance(metadata, dict) and "trusted" in metadata:
        out["metadata"] = {k: v for k, v in metadata.items() if k != "trusted"}
    return out


def merge_notebooks(base: dict, disk: dict, live: dict) -> dict:
    """The notebook to set as the room's content (see the module docstring)."""
    base_cells = {c["id"]: c for c in base["cells"] if "id" in c}
    live_cells = {c["id"]: c for c in live["cells"] if "id" in c}
    disk_ids = {c["id"] for c in disk["cells"] if "id" in c}

    merged: list[Cell] = []
    for cell in disk["cells"]:
        cid = cell.get("id")
        before = base_cells.get(cid)
        if before is not None and _comparable(before) == _comparable(cell) and cid in live_cells:
            merged.append(live_cells[cid])  # untouched on disk: keep the live version
        elif before is not None and cid not in live_cells and _comparable(before) == _comparable(cell):
            continue  # deleted live, untouched on disk: stays deleted
        else:
            merged.append(cell)  # new or changed on disk
    # Cells added live since the base, placed after the cell that precedes them live.
    position = {c.get("id"): i for i, c in enumerate(merged)}
    previous: str | None = None
    for cell in live["cells"]:
        cid = cell.get("id")
        if cid not in base_cells and cid not in disk_ids:
            at = position[previous] + 1 if previous in position else 0
            merged.insert(at, cell)
            position = {c.get("id"): i for i, c in enumerate(merged)}
        if cid in position:
            previous = cid

    metadata = disk.get("metadata", {}) if disk.get("metadata") != base.get("metadata") else live.get("metadata", {})
    return {
        "nbformat": disk.get("nbformat", live.get("nbformat", 4)),
        "nbformat_minor": disk.get("nbformat_minor", live.get("nbformat_minor", 5)),
        "metadata": metadata,
        "cells": merged,
    }
