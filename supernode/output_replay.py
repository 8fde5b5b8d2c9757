"""Replaying an output log: the outputs a cell run's logged messages stand for.

The files of :mod:`supernode.output_log` hold, per cell run, a header line, then the run's iopub
output messages and now and then a snapshot of the writer's model. :func:`parse` rebuilds the
outputs they stand for with the model of an :class:`~supernode.output_writer.OutputWriter`, as
the running cell's writer did (nothing is written into any document), so the result is what that
writer had: streams merged by name, ``\\r``/``\\b`` applied, ``clear_output`` and display updates.
Pure: no I/O, no event loop; :meth:`~supernode.output_log.OutputLog.replay` reads the files and
writes the outputs into the notebooks.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_ydoc import YNotebook

__all__ = ["parse"]


def parse(texts: list[str]) -> tuple[str | None, dict[str, list[dict[str, Any]]]]:
    """The notebook path and each cell's outputs (nbformat dicts) logged by one execution.

    ``texts``: the files of its cell runs, in run order. A torn last line (a write cut by a power
    loss) is ignored. A cell run twice keeps its last run. A display id shown again or updated
    changes the earlier outputs of this execution that show it, as the writers do in the document;
    outputs of earlier executions are not changed.
    """
    from .output_writer import OutputWriter

    path: str | None = None
    scratch = YNotebook()  # the writers' models alone are used: nothing is ever flushed into it
    writers: dict[str, OutputWriter] = {}  # by cell id: its last run so far
    for text in texts:
        writer: OutputWriter | None = None
        for line in text.split("\n"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn last line
            if isinstance(entry, list) and len(entry) == 2 and writer is not None:
                msg_type, content = entry
                writer.handle(msg_type, content)
                display_id = (content.get("transient") or {}).get("display_id")
                if display_id and msg_type in ("display_data", "execute_result", "update_display_data"):
                    _show(writers, writer, display_id, content.get("data", {}), content.get("metadata", {}))
            elif isinstance(entry, dict) and "snapshot" in entry and writer is not None:
                writer.restore_model(entry["snapshot"])
                for display_id, (data, metadata) in writer.shown.items():
                    _show(writers, writer, display_id, data, metadata)
            elif isinstance(entry, dict) and "execution" in entry and writer is None:
                path = entry["path"]
                writer = OutputWriter(scratch, entry["cell"], autoflush=False, max_pending_chars=1 << 62)
                writers.pop(entry["cell"], None)
                writers[entry["cell"]] = writer
    return path, {cell_id: writer.outputs for cell_id, writer in writers.items()}


def _show(writers: dict[str, Any], writer: Any, display_id: str, data: Any, metadata: Any) -> None:
    """As in the document (the DisplayIndex): the earlier cells' outputs showing ``display_id`` change too."""
    for other in writers.values():
        if other is not writer:
            other.update_model_display(display_id, data, metadata)
