"""A cell run's outputs as the kernel's messages made them: the model an output writer keeps.

An :class:`~supernode.output_writer.OutputWriter` changes its :class:`OutputModel` as it handles
each iopub message, and writes what changed into the document when it flushes. What the writer
reports comes from the model alone: ``writer.outputs``, a snapshot of them taken cheaply, and the
state the output log stores now and then instead of the messages (:meth:`OutputModel.state`, given
back to a new model by :meth:`OutputModel.restore`).

``entries``: the outputs in order. A stream output is a :class:`~supernode.stream_text.StreamText`,
into which more text of the same stream that directly follows is written; any other output is its
nbformat dict, replaced (never changed in place) when a display update changes it, so snapshots may
share it. ``displays``: for each display id, the indices of the entries that show it.
``clear_next``: a ``clear_output(wait=True)`` waits for the next output (the writer clears first,
since clearing touches the document too). ``shown``: the last ``(data, metadata)`` shown for each
display id, kept across clears.

Plain values: no document, no event loop, no I/O. Costs: adding O(the text added);
:attr:`~OutputModel.outputs` and :meth:`~OutputModel.state` O(the outputs);
:meth:`~OutputModel.snapshot` O(number of outputs).
"""

from __future__ import annotations

import copy
from typing import Any

from .outputs_snapshot import OutputsSnapshot, StreamView
from .stream_text import StreamText

__all__ = ["OutputModel"]


class OutputModel:
    """The outputs of one cell run, empty at first (see the module docstring)."""

    __slots__ = ("entries", "displays", "clear_next", "shown")

    def __init__(self) -> None:
        self.entries: list[StreamText | dict[str, Any]] = []
        self.displays: dict[str, list[int]] = {}
        self.clear_next = False
        # The last data shown for each display id, here or (through the DisplayIndex) in other cells.
        self.shown: dict[str, tuple[Any, Any]] = {}

    def clear(self) -> None:
        """No outputs, no clear waiting (``shown`` is kept)."""
        self.clear_next = False
        self.entries = []
        self.displays = {}

    def add_stream(self, name: str, text: str) -> None:
        last = self.entries[-1] if self.entries else None
        if isinstance(last, StreamText) and last.name == name:
            last.write(text)
        else:
            stream = StreamText(name)
            stream.write(text)
            self.entries.append(stream)

    def add_output(self, output: dict[str, Any], display_id: str | None = None) -> None:
        if display_id:
            self.displays.setdefault(display_id, []).append(len(self.entries))
        self.entries.append(output)

    def update_display(self, display_id: str, data: Any, metadata: Any) -> None:
        """``display_id`` was shown again: the outputs showing it take ``data`` and ``metadata``."""
        for index in self.displays.get(display_id, ()):
            entry = self.entries[index]
            assert isinstance(entry, dict)
            self.entries[index] = {**entry, "data": data, "metadata": metadata}

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs, nbformat-shaped (plain dicts, streams merged and processed)."""
        result = []
        for entry in self.entries:
            if isinstance(entry, StreamText):
                result.append({"output_type": "stream", "name": entry.name, "text": entry.text()})
            else:
                result.append(copy.deepcopy(entry))
        return result

    def snapshot(self) -> OutputsSnapshot:
        """The outputs as they are now, built later on any thread (:mod:`supernode.outputs_snapshot`)."""
        entries: list[StreamView | dict[str, Any]] = []
        for entry in self.entries:
            if isinstance(entry, StreamText):
                prefix, upto = entry.joined()
                entries.append(StreamView(entry.name, prefix, entry.head, upto, len(entry.head), entry.line))
            else:
                entries.append(entry)
        return OutputsSnapshot(entries)

    def state(self) -> dict[str, Any]:
        """The model as JSON values: a model given it by :meth:`restore` goes on exactly as this one."""
        model = [
            {"stream": entry.state()} if isinstance(entry, StreamText) else {"output": copy.deepcopy(entry)}
            for entry in self.entries
        ]
        return {
            "model": model,
            "displays": copy.deepcopy(self.displays),
            "clear_next": self.clear_next,
            "shown": copy.deepcopy(self.shown),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take the model of :meth:`state`."""
        self.entries = [
            StreamText.restore(entry["stream"]) if "stream" in entry else entry["output"] for entry in state["model"]
        ]
        self.displays = {key: list(value) for key, value in state["displays"].items()}
        self.clear_next = bool(state["clear_next"])
        self.shown = {key: (data, metadata) for key, (data, metadata) in state["shown"].items()}
