"""Three-way merge of notebooks by cell id, for files edited on disk while a room is open.

``base`` is the notebook as last loaded or saved, ``disk`` the file now, ``live``
the shared document now. A cell the disk did not touch stays as it is live,
including cells collaborators added since; a cell the disk deleted goes; a cell
the disk added comes in. A cell both changed is merged field by field: each field
the disk changed (source, metadata, outputs, ...) comes from the disk, every other
field stays live, so an edit on disk to a cell's source keeps the outputs a kernel
wrote into it meanwhile. A cell whose type the disk changed is taken from the disk.

The one thing this cannot merge is text typed in a cell whose source (or type) the disk changed
too, or deleted: :func:`conflicting_cells` names those cells, so that the caller keeps what was
typed elsewhere (a conflict copy) and tells who typed it.

The outputs and execution count of a *running* cell (``running``: the ids of the
cells a kernel is executing now) always stay live: the disk cannot know more of
them than the room, and a program that writes the file from a copy read a moment
earlier would otherwise take back the lines printed since.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

__all__ = ["conflicting_cells", "merge_notebooks"]

Cell = dict[str, Any]

_MISSING = object()
# Owned by the kernel while a cell runs.
_RUNNING_FIELDS = frozenset({"outputs", "execution_count"})


def _comparable_metadata(metadata: Any) -> Any:
    # The contents manager marks code cells ``metadata.trusted`` on every read, by a signature that
    # our own saves change: not an edit.
    if isinstance(metadata, dict) and "trusted" in metadata:
        return {k: v for k, v in metadata.items() if k != "trusted"}
    return metadata


def _field(cell: Cell, key: str) -> Any:
    value = cell.get(key, _MISSING)
    return _comparable_metadata(value) if key == "metadata" else value


def _comparable(cell: Cell) -> Cell:
    # The shared model carries a transient execution state that is never on disk.
    out = {k: v for k, v in cell.items() if k != "execution_state"}
    if "metadata" in out:
        out["metadata"] = _comparable_metadata(out["metadata"])
    return out


def _merge_cell(base: Cell, disk: Cell, live: Cell, running: bool) -> Cell:
    """``live`` with every field the disk changed since ``base`` taken from the disk."""
    if disk.get("cell_type") != base.get("cell_type"):
        return disk
    merged = dict(live)
    for key in (disk.keys() | base.keys()) - {"id", "execution_state"}:
        if running and key in _RUNNING_FIELDS:
            continue
        if _field(disk, key) == _field(base, key):
            continue
        if key in disk:
            merged[key] = disk[key]
        else:
            merged.pop(key, None)
    return merged


def merge_notebooks(base: dict, disk: dict, live: dict, running: Collection[str] = ()) -> dict:
    """The notebook to set as the room's content (see the module docstring)."""
    base_cells = {c["id"]: c for c in base["cells"] if "id" in c}
    live_cells = {c["id"]: c for c in live["cells"] if "id" in c}
    disk_ids = {c["id"] for c in disk["cells"] if "id" in c}

    merged: list[Cell] = []
    for cell in disk["cells"]:
        cid = cell.get("id")
        before = base_cells.get(cid)
        now = live_cells.get(cid)
        if before is None:
            merged.append(now if cid in running and now is not None else cell)  # new on disk
        elif _comparable(before) == _comparable(cell):
            if now is not None:
                merged.append(now)  # untouched on disk: the live version
            # else: deleted live, untouched on disk: stays deleted
        elif now is None:
            merged.append(cell)  # deleted live, changed on disk: the disk's edit is kept
        else:
            merged.append(_merge_cell(before, cell, now, cid in running))
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


def conflicting_cells(base: dict, disk: dict, live: dict) -> list[str]:
    """Ids of the cells whose live source the merge would lose: typed since ``base`` in a cell the disk
    deleted, gave another type, or gave a source of its own (different from the live one)."""
    disk_cells = {c["id"]: c for c in disk["cells"] if "id" in c}
    live_cells = {c["id"]: c for c in live["cells"] if "id" in c}
    conflicts = []
    for before in base["cells"]:
        cid = before.get("id")
        now = live_cells.get(cid)
        if now is None or now.get("source") == before.get("source"):
            continue  # deleted live, or nothing typed in it
        after = disk_cells.get(cid)
        if (
            after is None
            or after.get("cell_type") != before.get("cell_type")
            or after.get("source") not in (before.get("source"), now.get("source"))
        ):
            conflicts.append(cid)
    return conflicts
