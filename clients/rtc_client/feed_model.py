"""A notebook rebuilt from its change feed alone (no Yjs): apply each event, read the cells.

Usage::

    model = FeedModel()
    async for event in server.notebook_events(path):
        model.apply(event)
        print(model.cell_ids, model.cell(cell_id)["source"])

``cells`` are the cells' JSON as the feed gives them (``schema/notebook-event.json``: id, cell_type,
source, metadata, outputs, execution_count, execution_state). ``snapshot`` and ``resync`` replace
everything; the other document events change what they name; execution and kernel events change
nothing (they describe runs, whose effects arrive as document events).

Error handling: an event that names a cell the model does not hold raises ``KeyError``; a caller that
can carry on asks the server for the notebook again (reconnect with ``since=0``).
"""

from __future__ import annotations

from typing import Any

from .text import apply_edits

__all__ = ["FeedModel"]


class FeedModel:
    """The notebook as the events applied so far describe it; ``last_id`` is the newest event's id."""

    def __init__(self) -> None:
        self.cells: list[dict[str, Any]] = []
        self.metadata: dict[str, Any] = {}
        self.last_id: int | None = None

    @property
    def cell_ids(self) -> list[str]:
        return [cell["id"] for cell in self.cells]

    def cell(self, cell_id: str) -> dict[str, Any]:
        for cell in self.cells:
            if cell["id"] == cell_id:
                return cell
        raise KeyError(cell_id)

    def apply(self, event: dict[str, Any]) -> None:
        kind, data = event["event"], event["data"]
        if event.get("id") is not None:
            self.last_id = event["id"]
        if kind in ("snapshot", "resync"):
            self.cells = [dict(cell) for cell in data["notebook"]["cells"]]
            self.metadata = data["notebook"]["metadata"]
        elif kind == "cell_added":
            self.cells.insert(data["index"], dict(data["cell"]))
        elif kind == "cell_removed":
            del self.cells[data["index"]]
        elif kind == "cell_moved":
            del self.cells[data["from"]]
            self.cells.insert(data["to"], dict(data["cell"]))
        elif kind == "source_changed":
            cell = self.cell(data["cell_id"])
            cell["source"] = apply_edits(cell["source"], data["edits"])
        elif kind == "outputs_changed":
            outputs = self.cell(data["cell_id"]).setdefault("outputs", [])
            outputs[data["index"] : data["index"] + data["delete"]] = data["outputs"]
        elif kind == "output_text":
            output = self.cell(data["cell_id"])["outputs"][data["index"]]
            output["text"] = apply_edits(output.get("text", ""), data["edits"])
        elif kind == "metadata_changed":
            self.cell(data["cell_id"])["metadata"] = data["metadata"]
        elif kind == "execution_state_changed":
            cell = self.cell(data["cell_id"])
            cell["execution_state"], cell["execution_count"] = data["execution_state"], data["execution_count"]
        elif kind == "cell_changed":
            self.cell(data["cell_id"]).update(data["fields"])
        elif kind == "notebook_metadata_changed":
            self.metadata = data["metadata"]
