"""Write a code cell's outputs into a shared notebook as the kernel's iopub messages arrive.

The document is a :class:`jupyter_ydoc.YNotebook`; outputs are written in the shape the
JupyterLab 4 frontend (``@jupyter/ydoc`` 4.x) builds and observes itself:

- each output is a pycrdt ``Map`` in the cell's ``outputs`` Array;
- a stream output is ``{"output_type": "stream", "name": "stdout"|"stderr", "text": Text}``; more
  text of the same stream that directly follows is written into that ``Text`` (the frontend merges
  consecutive same-name streams and would otherwise show two outputs as one), as "delete a suffix,
  insert at the end", the only Text edits the frontend applies to its view;
- ``display_data`` / ``execute_result`` / ``error`` outputs hold plain JSON values (``data``,
  ``metadata``, ``execution_count``; ``ename``, ``evalue``, ``traceback``); ``transient`` is dropped.

API::

    displays = DisplayIndex.of(notebook)        # one per notebook, shared by its writers
    writer = OutputWriter(notebook, cell_id, displays)
    writer.start()                              # clears the cell's outputs now (one transaction)
    writer.handle(msg_type, content)            # per iopub message: cheap, updates the model
    writer.handle_msg(msg)                      # same, from a whole jupyter_client message
    writer.handle_many([(msg_type, content), ...])  # a batch, then one flush
    writer.flush()                              # write what is pending now (one transaction)
    writer.outputs                              # nbformat outputs so far (plain dicts)
    writer.snapshot()                           # the same, taken cheaply, built later on any thread

Batching: ``handle`` never writes to the document by itself. It updates the writer's model and
schedules one ``flush`` on the running event loop (``loop.call_soon``), so every message handled in
the same loop turn lands in a single transaction; more than ``max_pending_chars`` of pending
stream text flushes at once. Without a running loop (or with ``autoflush=False``) the caller calls
``flush()``. A flush writes the net effect only (text printed then cleared is never written) and
costs O(new text + length of the current line), not O(whole output): appends are cut into items of
at most 16 KiB in the stream's ``Text`` (:mod:`supernode.doc_stream`), since pycrdt's commit merges
one client's consecutive items at a cost proportional to their length (the whole stream, uncut).

Pacing (``min_interval`` seconds, 0 by default; :mod:`supernode.flush_pacer`): the scheduled flush
writes at once when the last write is at least that long ago, else at that moment, so output that
arrives faster is written in one transaction per interval (the first message of a quiet cell is never delayed). A display
updated 1,000 times a second, or a progress bar redrawn with ``\r``, then leaves one version per
interval in the document's history instead of one per message: collaborators see it move at that
rate, and the room's memory and traffic stay small. ``flush()`` always writes everything now.

Stream text is processed as a terminal (``\\r``, ``\\b``) does in JupyterLab 4, incrementally
(:mod:`supernode.stream_text`); the cursor carries over from one message to the next of the same
stream. pycrdt ``Text`` offsets are UTF-8 bytes; all offsets written here are byte offsets.

``clear_output``: ``wait=False`` clears now, ``wait=True`` clears when the next stream /
display_data / execute_result / error arrives (like JupyterLab and nbclient).

The outputs so far are the writer's model (:mod:`supernode.output_model`). Display ids
(``transient.display_id``) are tracked per notebook by :mod:`supernode.display_index`.

Collaborators: the cell is looked up by id at every write, so moves are fine. If it was deleted,
the writes are dropped and counted in ``writer.dropped`` (messages), nothing raises, and
``writer.outputs`` still records everything. If the trailing stream output was cleared or changed
by someone else, the stream goes on in a new output starting at the current line.

nbclient, for comparison: by default it appends one output per stream message, raw (no merging,
no ``\\r``/``\\b`` processing); with ``coalesce_streams=True`` it merges *all* same-name streams of a
cell into the first one (even across other outputs), erases text before a ``\\r`` that is not
followed by ``\\n`` (no overwrite), and swaps a stderr output followed by stdout. Merging
consecutive streams and applying :func:`collapse_stream_text` to nbclient's default output gives
``writer.outputs``.

Must be called from normal code, never inside a pycrdt observer callback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jupyter_ydoc import YNotebook
from pycrdt import Array

from .cell_outputs import DISPLAY_TYPES, item_id, locate_cell, outputs_of, to_ymap
from .display_index import DisplayIndex, DisplayTarget
from .doc_stream import DocStream
from .flush_pacer import FlushPacer
from .output_model import OutputModel
from .stream_text import StreamText

if TYPE_CHECKING:
    from .output_log import CellLog
    from .outputs_snapshot import OutputsSnapshot

__all__ = ["OutputWriter", "OUTPUT_MSG_TYPES"]

log = logging.getLogger("supernode.outputs")

#: iopub message types that :meth:`OutputWriter.handle` acts on.
OUTPUT_MSG_TYPES = frozenset(
    {"stream", "display_data", "execute_result", "error", "clear_output", "update_display_data"}
)


class OutputWriter:
    """Writes one execution's outputs into the cell ``cell_id`` of ``notebook``.

    See the module docstring. ``autoflush``: schedule a flush on the running loop after each
    message. ``max_pending_chars``: flush at once when this much stream text is pending.
    ``min_interval``: seconds between the transactions of scheduled flushes (pacing).
    ``log``: a :class:`~supernode.output_log.CellLog` of this run, or None; every output message
    is added to it as it is handled, and it is committed (or replaced by a snapshot of the model,
    when it asks for one) before each write into the document.
    """

    def __init__(
        self,
        notebook: YNotebook,
        cell_id: str,
        displays: DisplayIndex | None = None,
        *,
        autoflush: bool = True,
        max_pending_chars: int = 1 << 20,
        min_interval: float = 0.0,
        log: CellLog | None = None,
    ) -> None:
        self.notebook = notebook
        self.cell_id = cell_id
        self.displays = displays if displays is not None else DisplayIndex.of(notebook)
        self.autoflush = autoflush
        self.max_pending_chars = max_pending_chars
        self.log = log
        self._pacer = FlushPacer(self.flush, min_interval, f"cell {cell_id}")
        #: iopub messages (and start() calls) whose write was dropped: the cell was not in the document.
        self.dropped = 0
        #: transactions made on the document (one per flush that had something to write).
        self.transactions = 0
        self._model = OutputModel()
        self._cell_hint: int | None = None
        self._reset_pending()
        self._doc_synced = 0  # self._model.entries[:_doc_synced] has a Map in the document
        self._doc_stream: DocStream | None = None

    def _reset_pending(self) -> None:
        self._pending_msgs = 0
        self._pending_chars = 0
        self._pending_clear = False
        self._pending_updates: dict[str, tuple[Any, Any]] = {}

    # -- the model ------------------------------------------------------------------------

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs so far, nbformat-shaped (plain dicts, streams merged and processed)."""
        return self._model.outputs

    def snapshot(self) -> OutputsSnapshot:
        """The outputs so far, taken in O(number of outputs) and built later on any thread (see
        :mod:`supernode.outputs_snapshot`); ``outputs`` costs O(the outputs) on the caller's thread."""
        return self._model.snapshot()

    def model_state(self) -> dict[str, Any]:
        """The model as JSON values: a writer given it by :meth:`restore_model` goes on exactly as this one.

        Costs O(the outputs so far); the output log stores it now and then instead of the messages.
        """
        return self._model.state()

    def restore_model(self, state: dict[str, Any]) -> None:
        """Take the model of :meth:`model_state` (the document is not touched)."""
        self._model.restore(state)

    @property
    def shown(self) -> dict[str, tuple[Any, Any]]:
        """The last ``(data, metadata)`` this writer showed for each display id."""
        return self._model.shown

    def start(self) -> None:
        """A new execution: forget everything and clear the cell's outputs now."""
        self._pacer.cancel()
        self._model.clear()
        self._reset_pending()
        self._doc_synced = 0
        self._doc_stream = None
        self.displays.forget_cell(self.cell_id)
        with self.notebook.ydoc.transaction():
            ycell, self._cell_hint = locate_cell(self.notebook, self.cell_id, self._cell_hint)
            youtputs = outputs_of(ycell)
            if youtputs is None:
                self.dropped += 1
                log.warning("cell %s is not in the document: its outputs are not cleared", self.cell_id)
            elif len(youtputs):
                youtputs.clear()
        self.transactions += 1

    def handle(self, msg_type: str, content: dict[str, Any]) -> bool:
        """Take one iopub message; returns whether it concerns outputs (others are ignored)."""
        if self.log is not None and msg_type in OUTPUT_MSG_TYPES:
            self.log.add(msg_type, content)
        if msg_type == "stream":
            text = content.get("text", "")
            if not isinstance(text, str):
                text = "".join(text)
            self._add_stream(content.get("name", "stdout"), text)
            self._pending_chars += len(text)
        elif msg_type in DISPLAY_TYPES:
            output: dict[str, Any] = {
                "output_type": msg_type,
                "data": content.get("data", {}),
                "metadata": content.get("metadata", {}),
            }
            if msg_type == "execute_result":
                output["execution_count"] = content.get("execution_count")
            display_id = (content.get("transient") or {}).get("display_id")
            if display_id:  # as nbclient: showing an id again updates its earlier outputs
                self._update_display(display_id, output["data"], output["metadata"])
            self._add_output(output, display_id)
        elif msg_type == "error":
            self._add_output(
                {
                    "output_type": "error",
                    "ename": content.get("ename", ""),
                    "evalue": content.get("evalue", ""),
                    "traceback": list(content.get("traceback", [])),
                }
            )
        elif msg_type == "clear_output":
            if content.get("wait"):
                self._model.clear_next = True
            else:
                self._clear_now()
        elif msg_type == "update_display_data":
            display_id = (content.get("transient") or {}).get("display_id")
            if not display_id:
                return False
            self._update_display(display_id, content.get("data", {}), content.get("metadata", {}))
        else:
            return False
        self._pending_msgs += 1
        self._schedule()
        return True

    def handle_msg(self, msg: dict[str, Any]) -> bool:
        """:meth:`handle` for a whole message as jupyter_client gives it."""
        msg_type = msg.get("msg_type") or msg["header"]["msg_type"]
        return self.handle(msg_type, msg.get("content", {}))

    def handle_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Take ``(msg_type, content)`` pairs, then write them in one transaction."""
        autoflush, self.autoflush = self.autoflush, False
        try:
            for msg_type, content in messages:
                self.handle(msg_type, content)
        finally:
            self.autoflush = autoflush
        self.flush()

    def _add_stream(self, name: str, text: str) -> None:
        if self._model.clear_next:
            self._clear_now()
        self._model.add_stream(name, text)

    def _add_output(self, output: dict[str, Any], display_id: str | None = None) -> None:
        if self._model.clear_next:
            self._clear_now()
        self._model.add_output(output, display_id)

    def _clear_now(self) -> None:
        self._model.clear()
        self._doc_synced = 0
        self._doc_stream = None
        self._pending_clear = True
        self.displays.forget_cell(self.cell_id)

    def _update_display(self, display_id: str, data: Any, metadata: Any) -> None:
        self.update_model_display(display_id, data, metadata)
        self._pending_updates[display_id] = (data, metadata)
        self._model.shown[display_id] = (data, metadata)

    def update_model_display(self, display_id: str, data: Any, metadata: Any) -> None:
        """Another writer showed ``display_id`` again: update the model's outputs showing it.

        The document is not touched (the other writer's flush updates it through the DisplayIndex).
        """
        self._model.update_display(display_id, data, metadata)

    # -- writing ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._pending_chars > self.max_pending_chars:
            self.flush()
        elif self.autoflush:
            self._pacer.arm()

    def flush_paced(self) -> None:
        """Write what is pending now if the last write is ``min_interval`` old, else when it is."""
        if self._pending_msgs:
            self._pacer.paced()

    @property
    def pending(self) -> bool:
        """Whether something handled is not written yet."""
        return bool(self._pending_msgs)

    def flush(self) -> None:
        """Write everything handled so far into the document, in one transaction."""
        self._pacer.cancel()
        if not self._pending_msgs:
            return
        if self.log is not None:  # on disk before in the document: a save never holds what the log lacks
            if self.log.wants_snapshot():
                self.log.snapshot(self.model_state())
            else:
                self.log.commit()
        pending_msgs, pending_clear, updates = self._pending_msgs, self._pending_clear, self._pending_updates
        self._reset_pending()
        self._pacer.wrote()
        with self.notebook.ydoc.transaction():
            self.transactions += 1
            ycell, self._cell_hint = locate_cell(self.notebook, self.cell_id, self._cell_hint)
            youtputs = outputs_of(ycell)
            cells: dict[str, Any] = {self.cell_id: youtputs}
            for display_id, (data, metadata) in updates.items():
                self.displays._update(self.notebook, display_id, data, metadata, cells)
            if youtputs is None:
                self.dropped += pending_msgs
                log.warning(
                    "cell %s is not in the document: %d output message(s) not written", self.cell_id, pending_msgs
                )
                entries = self._model.entries
                self._doc_synced = len(entries)
                last = entries[-1] if entries else None
                self._doc_stream = DocStream(last, -1) if isinstance(last, StreamText) else None
                return
            if pending_clear and len(youtputs):
                youtputs.clear()
            synced = self._doc_stream
            if synced is not None:
                synced.sync(youtputs)
                self._doc_stream = None
            self._append_new(youtputs, synced)

    def _append_new(self, youtputs: Array, synced: DocStream | None) -> None:
        entries = self._model.entries
        new = entries[self._doc_synced :]
        self._doc_synced = len(entries)
        last = entries[-1] if entries else None
        if isinstance(last, StreamText):
            # The document's trailing stream: written now, or synced just above.
            text = last.text() if new else None
            self._doc_stream = DocStream(last, -1 if text is None else len(text.encode()))
            if text is None:
                self._doc_stream.nbytes = DocStream.trailing_nbytes(youtputs, last)
                if synced is not None and synced.stream is last:
                    self._doc_stream.run = synced.run
        if not new:
            return
        base = len(youtputs)
        maps = []
        for entry in new:
            if isinstance(entry, StreamText):
                maps.append(to_ymap({"output_type": "stream", "name": entry.name, "text": entry.text()}))
            else:
                maps.append(to_ymap(entry))
        youtputs.extend(maps)
        first = self._doc_synced - len(new)  # model index of new[0]
        for display_id, indices in self._model.displays.items():
            for index in indices:
                if index >= first:
                    position = base + index - first
                    target = DisplayTarget(self.cell_id, position, item_id(youtputs, position))
                    self.displays._add(display_id, target, entries[index]["data"])
