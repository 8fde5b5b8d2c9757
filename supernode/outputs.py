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

Batching: ``handle`` never writes to the document by itself. It updates the writer's model and
schedules one ``flush`` on the running event loop (``loop.call_soon``), so every message handled in
the same loop turn lands in a single transaction; more than ``max_pending_chars`` of pending
stream text flushes at once. Without a running loop (or with ``autoflush=False``) the caller calls
``flush()``. A flush writes the net effect only (text printed then cleared is never written) and
costs O(new text + length of the current line), not O(whole output).

Pacing (``min_interval`` seconds, 0 by default): the scheduled flush writes at once when the last
write is at least that long ago, else at that moment, so output that arrives faster is written in
one transaction per interval (the first message of a quiet cell is never delayed). A display
updated 1,000 times a second, or a progress bar redrawn with ``\r``, then leaves one version per
interval in the document's history instead of one per message: collaborators see it move at that
rate, and the room's memory and traffic stay small. ``flush()`` always writes everything now.

Terminal processing is JupyterLab 4's (``@jupyterlab/outputarea`` ``processText``): ``\\r`` moves
the cursor to the start of the line and later text overwrites from there ("50%\\r100%\\n" ->
"100%\\n", "abc\\rX\\n" -> "Xbc\\n"); ``\\b`` deletes the character before the cursor (and, as in
JupyterLab, the one under it: "abc\\b\\bX" -> "aX"); ``\\n`` ends the line. The cursor carries over
from one message to the next of the same stream. Unlike JupyterLab this works on code points (JS
works on UTF-16 units and can split a surrogate pair). pycrdt ``Text`` offsets are UTF-8 bytes;
all offsets written here are byte offsets.

``clear_output``: ``wait=False`` clears now, ``wait=True`` clears when the next stream /
display_data / execute_result / error arrives (like JupyterLab and nbclient).

Display ids (``transient.display_id``): like nbclient, ``update_display_data`` *and* a new
``display_data``/``execute_result`` with a known id replace ``data``/``metadata`` of every output
shown with that id, in any cell of the notebook. The :class:`DisplayIndex` knows where those
outputs are (cell id, position, CRDT item id) and checks at write time that the output is still
there (same item; or, after a collaborator moved the cell, which copies it, the same position with
the data last written); a cell's entries are forgotten when a writer clears it. An updated output
is replaced by a new ``Map`` (the frontend does not observe keys of an output ``Map``); when it is
not the last output, the outputs after it are re-created too if they are small (≤ 64 KiB), because
JupyterLab 4 appends remotely inserted outputs at the end of its view.

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

import asyncio
import copy
import logging
import re
import weakref
from collections.abc import Iterable
from typing import Any

from jupyter_ydoc import YNotebook
from pycrdt import Array, Assoc, Map, Text

__all__ = ["DisplayIndex", "OutputWriter", "collapse_stream_text", "OUTPUT_MSG_TYPES"]

log = logging.getLogger("supernode.outputs")

#: iopub message types that :meth:`OutputWriter.handle` acts on.
OUTPUT_MSG_TYPES = frozenset(
    {"stream", "display_data", "execute_result", "error", "clear_output", "update_display_data"}
)

_CONTROL = re.compile(r"[\r\b\n]")
_DISPLAY_TYPES = ("display_data", "execute_result")
# A display update re-creates the outputs after the updated one when they are at most this big.
_TAIL_REWRITE_MAX_CHARS = 64 * 1024
_TAIL_REWRITE_MAX_OUTPUTS = 32


# ---------------------------------------------------------------------------------------------
# Stream text: JupyterLab's terminal processing, incrementally.


class _StreamText:
    """The processed text of one stream output: complete lines, then the current line and cursor.

    ``\\r`` and ``\\b`` only ever change the current (last) line, so appending a message costs
    O(len(message)) plus O(len(current line)) when it contains control characters.
    """

    __slots__ = ("name", "head", "parts", "line_len", "cursor", "_joined", "_joined_upto")

    def __init__(self, name: str) -> None:
        self.name = name
        self.head: list[str] = []  # complete lines, in pieces that each end with "\n"
        self.parts: list[str] = []  # the current line, in pieces
        self.line_len = 0
        self.cursor = 0  # in the current line
        self._joined = ""  # "".join(self.head[:self._joined_upto])
        self._joined_upto = 0

    @property
    def line(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def text(self) -> str:
        if self._joined_upto < len(self.head):
            self._joined += "".join(self.head[self._joined_upto :])
            self._joined_upto = len(self.head)
        return self._joined + self.line

    def write(self, text: str) -> None:
        if not text:
            return
        if self.cursor == self.line_len and "\r" not in text and "\b" not in text:
            # Fast path: plain text at the end of the line.
            nl = text.rfind("\n")
            if nl < 0:
                self.parts.append(text)
                self.line_len += len(text)
            else:
                self.parts.append(text[: nl + 1])
                self.head.append("".join(self.parts))
                rest = text[nl + 1 :]
                self.parts = [rest] if rest else []
                self.line_len = len(rest)
            self.cursor = self.line_len
            return
        line, cur, pos = self.line, self.cursor, 0
        for match in _CONTROL.finditer(text):
            chunk = text[pos : match.start()]
            if chunk:  # overwrite from the cursor
                line = line[:cur] + chunk + line[cur + len(chunk) :]
                cur += len(chunk)
            char = match.group()
            if char == "\n":  # JupyterLab appends the newline at the end of the line
                self.head.append(line + "\n")
                line, cur = "", 0
            elif char == "\r":
                cur = 0
            elif cur > 0:  # "\b": as JupyterLab, drops the character before the cursor and the one under it
                line = line[: cur - 1] + line[cur + 1 :]
                cur -= 1
            pos = match.end()
        chunk = text[pos:]
        if chunk:
            line = line[:cur] + chunk + line[cur + len(chunk) :]
            cur += len(chunk)
        self.parts = [line] if line else []
        self.line_len = len(line)
        self.cursor = cur


def collapse_stream_text(text: str | Iterable[str]) -> str:
    """``text`` (or its chunks, in order) as JupyterLab 4 shows it: ``\\r`` and ``\\b`` applied."""
    stream = _StreamText("")
    for chunk in [text] if isinstance(text, str) else text:
        stream.write(chunk)
    return stream.text()


# ---------------------------------------------------------------------------------------------
# Helpers on the document.


def _find_cell(notebook: YNotebook, cell_id: str, hint: int | None = None) -> tuple[Map | None, int | None]:
    """The cell Map with this id and its index (``hint`` is checked first, never trusted)."""
    ycells = notebook.ycells
    if hint is not None and 0 <= hint < len(ycells):
        ycell = ycells[hint]
        if ycell.get("id") == cell_id:
            return ycell, hint
    for index, ycell in enumerate(ycells):
        if ycell.get("id") == cell_id:
            return ycell, index
    return None, None


def _outputs_of(ycell: Map | None) -> Array | None:
    if ycell is None:
        return None
    youtputs = ycell.get("outputs")
    return youtputs if isinstance(youtputs, Array) else None


def _item_id(array: Array, index: int) -> tuple[int, int] | None:
    """The CRDT id of the element at ``index`` (stable while it lives; a copy gets a new one)."""
    if not 0 <= index < len(array):  # pycrdt panics on a sticky index at the end
        return None
    item = array.sticky_index(index, Assoc.AFTER).to_json().get("item")
    return (item["client"], item["clock"]) if item else None


def _to_ymap(output: dict[str, Any]) -> Map:
    if output.get("output_type") == "stream":
        return Map(
            {"output_type": "stream", "name": output.get("name", "stdout"), "text": Text(output.get("text", ""))}
        )
    return Map(copy.deepcopy(output))


def _approx_size(output: dict[str, Any]) -> int:
    size = 0
    for key in ("text", "data", "traceback"):
        value = output.get(key)
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, dict):
            size += sum(len(v) if isinstance(v, str) else 64 for v in value.values())
        elif isinstance(value, list):
            size += sum(len(v) if isinstance(v, str) else 64 for v in value)
    return size


def _replace_output(youtputs: Array, index: int, output: dict[str, Any]) -> None:
    """Replace the output at ``index`` by a new Map, re-creating the small tail after it."""
    end = len(youtputs)
    tail: list[dict[str, Any]] = []
    if index + 1 < end and end - index - 1 <= _TAIL_REWRITE_MAX_OUTPUTS:
        tail = [youtputs[i].to_py() for i in range(index + 1, end)]
        if sum(_approx_size(out) for out in tail) > _TAIL_REWRITE_MAX_CHARS:
            tail = []
    if index + 1 == end or tail:
        del youtputs[index:end]
        youtputs.extend([_to_ymap(output), *(_to_ymap(out) for out in tail)])
    else:
        del youtputs[index]
        youtputs.insert(index, _to_ymap(output))


# ---------------------------------------------------------------------------------------------
# Display ids.


class _Target:
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
        self._targets: dict[str, list[_Target]] = {}
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

    def _add(self, display_id: str, target: _Target, data: Any) -> None:
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
        kept: list[_Target] = []
        written = 0
        for target in targets:
            if target.cell_id not in cells:
                cells[target.cell_id] = _outputs_of(_find_cell(notebook, target.cell_id)[0])
            youtputs = cells[target.cell_id]
            if youtputs is None or not self._locate(youtputs, target, expected):
                continue  # the cell or the output is gone: forget it
            old = youtputs[target.index].to_py()
            _replace_output(youtputs, target.index, {**old, "data": data, "metadata": metadata})
            target.item = _item_id(youtputs, target.index)
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
    def _locate(youtputs: Array, target: _Target, expected: Any) -> bool:
        if not 0 <= target.index < len(youtputs):
            return False
        if target.item is not None and _item_id(youtputs, target.index) == target.item:
            return True
        # Not the same CRDT item: the cell was copied (a move), or its outputs were replaced.
        youtput = youtputs[target.index]
        return (
            isinstance(youtput, Map)
            and youtput.get("output_type") in _DISPLAY_TYPES
            and youtput.get("data") == expected
        )


# ---------------------------------------------------------------------------------------------
# The writer.


class _DocStream:
    """What the document's trailing stream Text holds of a model stream."""

    __slots__ = ("stream", "head_upto", "line", "nbytes")

    def __init__(self, stream: _StreamText, nbytes: int) -> None:
        self.stream = stream
        self.head_upto = len(stream.head)  # stream.head[:head_upto] is in the document
        self.line = stream.line  # the document's text after that head
        self.nbytes = nbytes  # the Text's length (bytes); -1: unknown


class OutputWriter:
    """Writes one execution's outputs into the cell ``cell_id`` of ``notebook``.

    See the module docstring. ``autoflush``: schedule a flush on the running loop after each
    message. ``max_pending_chars``: flush at once when this much stream text is pending.
    ``min_interval``: seconds between the transactions of scheduled flushes (pacing).
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
    ) -> None:
        self.notebook = notebook
        self.cell_id = cell_id
        self.displays = displays if displays is not None else DisplayIndex.of(notebook)
        self.autoflush = autoflush
        self.max_pending_chars = max_pending_chars
        self.min_interval = min_interval
        self._last_write = float("-inf")  # loop time of the last transaction
        #: iopub messages (and start() calls) whose write was dropped: the cell was not in the document.
        self.dropped = 0
        #: transactions made on the document (one per flush that had something to write).
        self.transactions = 0
        self._model: list[_StreamText | dict[str, Any]] = []
        self._model_displays: dict[str, list[int]] = {}
        self._clear_next = False
        self._cell_hint: int | None = None
        self._reset_pending()
        self._doc_synced = 0  # self._model[:_doc_synced] has a Map in the document
        self._doc_stream: _DocStream | None = None
        self._flush_handle: asyncio.Handle | None = None

    def _reset_pending(self) -> None:
        self._pending_msgs = 0
        self._pending_chars = 0
        self._pending_clear = False
        self._pending_updates: dict[str, tuple[Any, Any]] = {}

    # -- the model ------------------------------------------------------------------------

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs so far, nbformat-shaped (plain dicts, streams merged and processed)."""
        result = []
        for entry in self._model:
            if isinstance(entry, _StreamText):
                result.append({"output_type": "stream", "name": entry.name, "text": entry.text()})
            else:
                result.append(copy.deepcopy(entry))
        return result

    def start(self) -> None:
        """A new execution: forget everything and clear the cell's outputs now."""
        self._cancel_flush()
        self._model = []
        self._model_displays = {}
        self._clear_next = False
        self._reset_pending()
        self._doc_synced = 0
        self._doc_stream = None
        self.displays.forget_cell(self.cell_id)
        with self.notebook.ydoc.transaction():
            ycell, self._cell_hint = _find_cell(self.notebook, self.cell_id, self._cell_hint)
            youtputs = _outputs_of(ycell)
            if youtputs is None:
                self.dropped += 1
                log.warning("cell %s is not in the document: its outputs are not cleared", self.cell_id)
            elif len(youtputs):
                youtputs.clear()
        self.transactions += 1

    def handle(self, msg_type: str, content: dict[str, Any]) -> bool:
        """Take one iopub message; returns whether it concerns outputs (others are ignored)."""
        if msg_type == "stream":
            text = content.get("text", "")
            if not isinstance(text, str):
                text = "".join(text)
            self._add_stream(content.get("name", "stdout"), text)
            self._pending_chars += len(text)
        elif msg_type in _DISPLAY_TYPES:
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
                self._clear_next = True
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
        if self._clear_next:
            self._clear_now()
        last = self._model[-1] if self._model else None
        if isinstance(last, _StreamText) and last.name == name:
            last.write(text)
        else:
            stream = _StreamText(name)
            stream.write(text)
            self._model.append(stream)

    def _add_output(self, output: dict[str, Any], display_id: str | None = None) -> None:
        if self._clear_next:
            self._clear_now()
        if display_id:
            self._model_displays.setdefault(display_id, []).append(len(self._model))
        self._model.append(output)

    def _clear_now(self) -> None:
        self._clear_next = False
        self._model = []
        self._model_displays = {}
        self._doc_synced = 0
        self._doc_stream = None
        self._pending_clear = True
        self.displays.forget_cell(self.cell_id)

    def _update_display(self, display_id: str, data: Any, metadata: Any) -> None:
        for index in self._model_displays.get(display_id, ()):
            entry = self._model[index]
            assert isinstance(entry, dict)
            self._model[index] = {**entry, "data": data, "metadata": metadata}
        self._pending_updates[display_id] = (data, metadata)

    # -- writing ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._pending_chars > self.max_pending_chars:
            self.flush()
            return
        if not self.autoflush or self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the caller flushes
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """Flush on ``loop`` at the next turn, or once the last write is ``min_interval`` old."""
        due = self._last_write + self.min_interval
        if due <= loop.time():
            self._flush_handle = loop.call_soon(self._auto_flush)
        else:
            self._flush_handle = loop.call_at(due, self._auto_flush)

    def flush_paced(self) -> None:
        """Write what is pending now if the last write is ``min_interval`` old, else when it is."""
        if not self._pending_msgs:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()  # no loop to wait on
            return
        if loop.time() >= self._last_write + self.min_interval:
            self.flush()
        elif self._flush_handle is None:
            self._arm(loop)

    def _auto_flush(self) -> None:
        self._flush_handle = None
        try:
            self.flush()
        except Exception:  # never into the loop's exception handler silently
            log.exception("writing the outputs of cell %s failed", self.cell_id)

    def _cancel_flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None

    @property
    def pending(self) -> bool:
        """Whether something handled is not written yet."""
        return bool(self._pending_msgs)

    def flush(self) -> None:
        """Write everything handled so far into the document, in one transaction."""
        self._cancel_flush()
        if not self._pending_msgs:
            return
        pending_msgs, pending_clear, updates = self._pending_msgs, self._pending_clear, self._pending_updates
        self._reset_pending()
        try:
            self._last_write = asyncio.get_running_loop().time()
        except RuntimeError:
            pass
        with self.notebook.ydoc.transaction():
            self.transactions += 1
            ycell, self._cell_hint = _find_cell(self.notebook, self.cell_id, self._cell_hint)
            youtputs = _outputs_of(ycell)
            cells: dict[str, Any] = {self.cell_id: youtputs}
            for display_id, (data, metadata) in updates.items():
                self.displays._update(self.notebook, display_id, data, metadata, cells)
            if youtputs is None:
                self.dropped += pending_msgs
                log.warning(
                    "cell %s is not in the document: %d output message(s) not written", self.cell_id, pending_msgs
                )
                self._doc_synced = len(self._model)
                last = self._model[-1] if self._model else None
                self._doc_stream = _DocStream(last, -1) if isinstance(last, _StreamText) else None
                return
            if pending_clear and len(youtputs):
                youtputs.clear()
            if self._doc_stream is not None:
                self._sync_stream(youtputs, self._doc_stream)
                self._doc_stream = None
            self._append_new(youtputs)

    def _sync_stream(self, youtputs: Array, doc: _DocStream) -> None:
        stream = doc.stream
        new_head = "".join(stream.head[doc.head_upto :]) if doc.head_upto < len(stream.head) else ""
        target = new_head + stream.line
        if target == doc.line:
            return
        ytext = None
        if len(youtputs):
            last = youtputs[-1]
            if isinstance(last, Map) and last.get("output_type") == "stream" and last.get("name") == stream.name:
                text = last.get("text")
                if isinstance(text, Text) and len(text) == doc.nbytes:
                    ytext = text
        if ytext is None:
            # Someone else cleared or changed the outputs: go on in a new output from this line.
            youtputs.append(_to_ymap({"output_type": "stream", "name": stream.name, "text": target}))
            return
        old = doc.line
        same = _common_prefix_len(old, target)
        start = doc.nbytes - len(old[same:].encode())
        if start < doc.nbytes:
            del ytext[start : doc.nbytes]
        if same < len(target):
            ytext.insert(start, target[same:])

    def _append_new(self, youtputs: Array) -> None:
        new = self._model[self._doc_synced :]
        self._doc_synced = len(self._model)
        last = self._model[-1] if self._model else None
        if isinstance(last, _StreamText):
            # The document's trailing stream: written now, or synced just above.
            text = last.text() if new else None
            self._doc_stream = _DocStream(last, -1 if text is None else len(text.encode()))
            if text is None:
                self._doc_stream.nbytes = self._trailing_nbytes(youtputs, last)
        if not new:
            return
        base = len(youtputs)
        maps = []
        for entry in new:
            if isinstance(entry, _StreamText):
                maps.append(_to_ymap({"output_type": "stream", "name": entry.name, "text": entry.text()}))
            else:
                maps.append(_to_ymap(entry))
        youtputs.extend(maps)
        first = self._doc_synced - len(new)  # model index of new[0]
        for display_id, indices in self._model_displays.items():
            for index in indices:
                if index >= first:
                    position = base + index - first
                    target = _Target(self.cell_id, position, _item_id(youtputs, position))
                    self.displays._add(display_id, target, self._model[index]["data"])

    @staticmethod
    def _trailing_nbytes(youtputs: Array, stream: _StreamText) -> int:
        if len(youtputs):
            last = youtputs[-1]
            if isinstance(last, Map) and last.get("output_type") == "stream" and last.get("name") == stream.name:
                text = last.get("text")
                if isinstance(text, Text):
                    return len(text)
        return -1


def _common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo
