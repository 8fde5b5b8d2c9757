"""Scratch notebooks: where code that belongs to no notebook runs.

A scratch notebook is a :class:`jupyter_ydoc.YNotebook` of one code cell, attached to no room and
never saved. Running code there through the same :class:`~supernode.output_writer.OutputWriter` as a
notebook's cell shapes its outputs exactly like a cell's (streams merged, ``\\r`` applied, displays
updated); the record keeps them, and the notebook is dropped when the run ends.
"""

from __future__ import annotations

from typing import Any

from jupyter_ydoc import YNotebook

__all__ = ["SCRATCH_CELL", "scratch_notebook"]

SCRATCH_CELL = "scratch"
"""The id of a scratch notebook's cell."""


def scratch_notebook(code: str) -> YNotebook:
    """A scratch notebook whose cell (``SCRATCH_CELL``) holds ``code``."""
    notebook = YNotebook()
    cell: dict[str, Any] = {
        "cell_type": "code",
        "id": SCRATCH_CELL,
        "source": code,
        "metadata": {},
        "outputs": [],
        "execution_count": None,
    }
    notebook.append_cell(cell)
    return notebook
