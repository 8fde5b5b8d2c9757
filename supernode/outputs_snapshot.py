"""A running cell's outputs as they are at one moment, taken cheaply, copied out later on any thread.

The record of a running execution is journalled every ``record_interval`` seconds with its cells'
outputs so far. Joining a long stream's text and encoding it as JSON costs O(the output), which on
the event loop would make every room wait longer the longer a cell has printed. An
:class:`OutputsSnapshot` is taken on the loop in O(number of outputs) by
:meth:`~supernode.output_writer.OutputWriter.snapshot`; :meth:`OutputsSnapshot.to_json` builds the
nbformat outputs from it, on whatever thread asks (the journal's, while it encodes the record).

Why that is safe: a stream's complete lines (``StreamText.head``) are only ever appended to, and
the writer replaces an output it changes instead of mutating it, so what a snapshot refers to does
not change under it. The lists and dicts :meth:`to_json` returns share the writer's values: read
them, never change them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["OutputsSnapshot", "StreamView"]


class StreamView:
    """A stream output as it was: ``prefix`` + ``head[upto:count]`` joined + ``line``."""

    __slots__ = ("name", "prefix", "head", "upto", "count", "line")

    def __init__(self, name: str, prefix: str, head: list[str], upto: int, count: int, line: str) -> None:
        self.name = name
        self.prefix = prefix  # the stream's head[:upto], already joined
        self.head = head  # appended to after this was taken: only [:count] is ours
        self.upto = upto
        self.count = count
        self.line = line

    def text(self) -> str:
        return self.prefix + "".join(self.head[self.upto : self.count]) + self.line


class OutputsSnapshot:
    """The outputs of a cell at one moment: plain output dicts and :class:`StreamView` s, in order."""

    __slots__ = ("_entries",)

    def __init__(self, entries: list[StreamView | dict[str, Any]]) -> None:
        self._entries = entries

    def to_json(self) -> list[dict[str, Any]]:
        """The nbformat outputs (streams merged and processed, as the writer's ``outputs``); O(the outputs)."""
        return [
            {"output_type": "stream", "name": entry.name, "text": entry.text()}
            if isinstance(entry, StreamView)
            else entry
            for entry in self._entries
        ]
