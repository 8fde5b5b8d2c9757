"""The change feed of one notebook: its live document's changes, and its executions, as numbered JSON events.

A :class:`NotebookFeed` observes the pycrdt types of the notebook's live document (its cells and its
``meta`` map) while it is attached, and turns each transaction into events appended to its
:class:`~supernode.event_ring.EventRing` (types and bodies: ``schema/notebook-event.json``):

- ``cell_added`` ``{"cell", "index"}``, ``cell_removed`` ``{"cell_id", "index"}``, ``cell_moved``
  ``{"cell_id", "from", "to", "cell"}``. Indexes are positions at the time of the event: applying
  the events in order to the list of cells before them gives the list after. JupyterLab and our
  clients move a cell by deleting it and inserting a copy with the same id in one transaction: that
  is one ``cell_moved`` (with the copy as it is, ``cell``), never a removal and an addition.
- ``source_changed`` ``{"cell_id", "edits", "source_hash"}``: edits ``{"start", "end", "text"}`` in
  code points, applied in order (:mod:`supernode.text_edits`); the hash is
  :func:`~supernode.records.source_hash` of the new source.
- ``outputs_changed`` ``{"cell_id", "index", "delete", "outputs"}``: outputs ``index:index+delete``
  replaced by ``outputs`` (a splice: appending is ``delete`` 0 at the end, clearing ``index`` 0 with
  ``delete`` every output); ``output_text`` ``{"cell_id", "index", "edits"}``: the text of stream
  output ``index`` changed (what a running cell prints: only the new text, never the whole output).
  Both carry ``execution_id`` while the cell runs in an execution of the server.
- ``metadata_changed`` ``{"cell_id", "metadata"}``; ``execution_state_changed`` ``{"cell_id",
  "execution_state", "execution_count"}``; ``cell_changed`` ``{"cell_id", "fields"}`` (another field,
  e.g. ``cell_type`` or ``attachments``); ``notebook_metadata_changed`` ``{"metadata", "nbformat",
  "nbformat_minor"}``.
- Executions (from their journalled records, ``NotebookFeed.record``: see
  :mod:`supernode.record_events`): ``execution_queued``, ``execution_started``,
  ``execution_cell_started``, ``execution_input_request``, ``execution_cell_finished``,
  ``execution_finished``.
- ``resync`` ``{"reason", "notebook"}``: the whole notebook (:func:`~supernode.cell_json.notebook_json`)
  when the events cannot say what changed: the room was freed and loaded again with other content
  (the file changed on disk meanwhile), or a change the feed could not follow.

Attachment: the room of a notebook is freed when idle (no client, no execution, nothing unsaved)
and loaded again on demand, as a new document. A feed does not keep the room (a forgotten
subscriber would pin the notebook in memory for ever): :meth:`detach` lets the old document go and
remembers a digest of its content; :meth:`attach` to the next load appends ``resync`` only if the
content differs, so subscribers never miss a change silently.

Everything here runs inside pycrdt's observer callbacks (reading only) and never raises into them: a
failure is logged and answered with ``resync``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from jupyter_ydoc.utils import cast_all
from pycrdt import Array, Map, Text

from .cell_json import cell_json, notebook_json
from .event_ring import EventRing
from .record_events import RecordEvents
from .records import source_hash
from .text_edits import TextMirror

__all__ = ["NotebookFeed"]

log = logging.getLogger("supernode.feeds")


class NotebookFeed:
    """The events of the notebook in room ``room`` (at ``path``), in ``ring``; see the module docstring."""

    def __init__(self, room: str, path: str, ring: EventRing) -> None:
        self.room = room
        self.path = path
        self.ring = ring
        self.subscribers = 0
        self.live: Any = None  # the LiveDocument attached, or None
        self._subscriptions: list[tuple[Any, Any]] = []
        self._ids: list[str] = []  # the cells' ids, in order
        self._sources: dict[str, TextMirror] = {}  # cell id -> its source
        self._outputs: dict[str, list[TextMirror | None]] = {}  # cell id -> per output, a stream's last line
        self._running: dict[str, str] = {}  # cell id -> the execution running it
        self.record = RecordEvents(ring, self._running).record
        self._digest: str | None = None  # of the content when the last document was let go

    # -- attachment ------------------------------------------------------------------------------

    @property
    def document(self) -> Any:
        return None if self.live is None else self.live.document

    def attach(self, live: Any) -> None:
        """Follow ``live`` (a :class:`~supernode.document.LiveDocument`) from now on; no-op if it is followed."""
        if live is self.live:
            return
        if self.live is not None:
            self.detach()
        self.live, self.path = live, live.path
        document = live.document
        self._mirror(document)
        self._subscriptions = [
            (document.ycells, document.ycells.observe_deep(self._guarded(self._on_cells))),
            (document._ymeta, document._ymeta.observe_deep(self._guarded(self._on_meta))),
        ]
        if self._digest is not None:
            notebook = notebook_json(document)
            if _digest(notebook) != self._digest:
                self.ring.append("resync", {"reason": "reloaded", "notebook": notebook})
            self._digest = None

    def detach(self) -> None:
        """Stop following the document (its room was freed): remember what it held."""
        if self.live is None:
            return
        for shared, subscription in self._subscriptions:
            try:
                shared.unobserve(subscription)
            except Exception:  # the document is gone with its room: nothing to unobserve
                log.debug("unobserving %s failed", self.path, exc_info=True)
        self._subscriptions = []
        self._digest = _digest(notebook_json(self.live.document))
        self.live = None
        self._ids, self._sources, self._outputs = [], {}, {}

    def notebook(self) -> dict[str, Any]:
        """The notebook now (attached), as in ``snapshot`` and ``resync`` events."""
        assert self.live is not None
        return notebook_json(self.live.document)

    def _mirror(self, document: Any) -> None:
        self._ids, self._sources, self._outputs = [], {}, {}
        for ycell in document.ycells:
            self._track(ycell)

    def _track(self, ycell: Map) -> str:
        cell_id = str(ycell.get("id"))
        self._ids.append(cell_id)
        self._sources[cell_id] = TextMirror(str(ycell.get("source", "")), whole=True)
        outputs = ycell.get("outputs")
        self._outputs[cell_id] = [None] * len(outputs) if isinstance(outputs, Array) else []
        return cell_id

    def _resync(self, reason: str) -> None:
        document = self.document
        self._mirror(document)
        self.ring.append("resync", {"reason": reason, "notebook": notebook_json(document)})

    def _guarded(self, handler: Any) -> Any:
        def observer(events: Any) -> None:
            try:
                handler(events)
            except Exception:
                log.exception("the change feed of %s could not follow a change: subscribers resynchronise", self.path)
                try:
                    self._resync("internal")
                except Exception:
                    log.exception("the change feed of %s cannot read its document", self.path)

        return observer

    # -- document events ------------------------------------------------------------------------

    def _on_meta(self, events: Any) -> None:
        meta = self.document._ymeta.to_py() or {}
        self.ring.append(
            "notebook_metadata_changed",
            {
                "metadata": meta.get("metadata") or {},
                "nbformat": int(meta.get("nbformat", 4)),
                "nbformat_minor": int(meta.get("nbformat_minor", 5)),
            },
        )

    def _on_cells(self, events: Any) -> None:
        document = self.document
        changes = sorted(((list(event.path), event) for event in events), key=lambda pair: len(pair[0]))
        done: set[tuple[str, Any]] = set()  # (cell id, what) told in full in this transaction
        for path, event in changes:
            if not path:
                if not self._structure(document, event.delta):
                    self._resync("cells")
                    return
                continue
            index = path[0]
            if not isinstance(index, int) or index >= len(self._ids):
                self._resync("cells")
                return
            cell_id, ycell = self._ids[index], document.ycells[index]
            if len(path) == 1:
                if not self._cell_keys(document, cell_id, ycell, event.keys):
                    return
            elif path[1] == "source" and len(path) == 2:
                self._source(cell_id, ycell, event.delta)
            elif path[1] == "outputs" and len(path) == 2:
                self._splices(cell_id, ycell, event.delta)
            elif path[1] == "outputs":
                output = path[2]
                if len(path) == 4 and path[3] == "text" and (cell_id, ("output", output)) not in done:
                    self._stream(cell_id, ycell, output, event.delta)
                elif (cell_id, ("output", output)) not in done:
                    done.add((cell_id, ("output", output)))
                    self._replace_output(cell_id, ycell, output)
            elif path[1] == "metadata":
                if (cell_id, "metadata") not in done:
                    done.add((cell_id, "metadata"))
                    self._metadata(cell_id, ycell)
            elif (cell_id, path[1]) not in done:
                done.add((cell_id, path[1]))
                self.ring.append("cell_changed", {"cell_id": cell_id, "fields": {path[1]: _plain(ycell.get(path[1]))}})

    def _structure(self, document: Any, delta: list[dict[str, Any]]) -> bool:
        """Cells inserted, deleted or moved; False if the delta does not fit the cells held."""
        old = self._ids
        new: list[str] = []
        deleted: list[str] = []
        inserted: list[tuple[int, str, Map]] = []
        at = 0
        for op in delta:
            if "retain" in op:
                new.extend(old[at : at + op["retain"]])
                at += op["retain"]
            elif "delete" in op:
                deleted.extend(old[at : at + op["delete"]])
                at += op["delete"]
            else:
                for ycell in op["insert"]:
                    inserted.append((len(new), str(ycell.get("id")), ycell))
                    new.append(str(ycell.get("id")))
        if at > len(old):
            return False
        new.extend(old[at:])
        arriving = {cell_id for _, cell_id, _ in inserted}
        leaving = set(deleted)
        current = list(old)
        meta = document._ymeta.to_py() or {}
        for cell_id in deleted:
            if cell_id not in arriving:
                index = current.index(cell_id)
                del current[index]
                self._forget(cell_id)
                self.ring.append("cell_removed", {"cell_id": cell_id, "index": index})
        for position, cell_id, ycell in inserted:
            # Placed right after the cell that precedes it in the end: every cell before it is in place by now.
            if cell_id in leaving:
                origin = current.index(cell_id)
                del current[origin]
                to = 0 if position == 0 else current.index(new[position - 1]) + 1
                current.insert(to, cell_id)
                self._remirror(cell_id, ycell)
                cell = cell_json(document, ycell, meta=meta)
                self.ring.append("cell_moved", {"cell_id": cell_id, "from": origin, "to": to, "cell": cell})
            else:
                to = 0 if position == 0 else current.index(new[position - 1]) + 1
                current.insert(to, cell_id)
                self._remirror(cell_id, ycell)
                self.ring.append("cell_added", {"cell": cell_json(document, ycell, meta=meta), "index": to})
        self._ids = new
        return current == new

    def _remirror(self, cell_id: str, ycell: Map) -> None:
        self._sources[cell_id] = TextMirror(str(ycell.get("source", "")), whole=True)
        outputs = ycell.get("outputs")
        self._outputs[cell_id] = [_tail(o) for o in outputs] if isinstance(outputs, Array) else []

    def _forget(self, cell_id: str) -> None:
        self._sources.pop(cell_id, None)
        self._outputs.pop(cell_id, None)

    def _cell_keys(self, document: Any, cell_id: str, ycell: Map, keys: dict[str, Any]) -> bool:
        fields: dict[str, Any] = {}
        execution = False
        for key in keys:
            if key in ("execution_count", "execution_state"):
                execution = True
            elif key == "source":
                old = self._sources.get(cell_id)
                source = str(ycell.get("source", ""))
                self._sources[cell_id] = TextMirror(source, whole=True)
                edit = {"start": 0, "end": old.length if old else 0, "text": source}
                self._source_event(cell_id, [edit], source)
            elif key == "outputs":
                outputs = ycell.get("outputs")
                count = len(self._outputs.get(cell_id, []))
                self._outputs[cell_id] = [_tail(o) for o in outputs] if isinstance(outputs, Array) else []
                items = [_output(o) for o in outputs] if isinstance(outputs, Array) else []
                self._outputs_event(cell_id, 0, count, items)
            elif key == "metadata":
                self._metadata(cell_id, ycell)
            elif key == "id":
                self._resync("cell id changed")
                return False
            else:
                fields[key] = _plain(ycell.get(key))
        if execution:
            state = ycell.get("execution_state")
            count = ycell.get("execution_count")
            self.ring.append(
                "execution_state_changed",
                {
                    "cell_id": cell_id,
                    "execution_state": state or "idle",  # (a cell a Yjs client made may have none yet)
                    "execution_count": int(count) if isinstance(count, (int, float)) else None,
                },
            )
        if fields:
            self.ring.append("cell_changed", {"cell_id": cell_id, "fields": fields})
        return True

    def _source(self, cell_id: str, ycell: Map, delta: list[dict[str, Any]]) -> None:
        mirror = self._sources.get(cell_id)
        edits = mirror.apply(delta) if mirror is not None else None
        if edits is None or mirror is None:
            log.warning("the change feed of %s lost track of cell %s's source: it is sent whole", self.path, cell_id)
            source = str(ycell.get("source", ""))
            edits = [{"start": 0, "end": mirror.length if mirror else 0, "text": source}]
            self._sources[cell_id] = mirror = TextMirror(source, whole=True)
        self._source_event(cell_id, edits, mirror.text)

    def _source_event(self, cell_id: str, edits: list[dict[str, Any]], source: str) -> None:
        self.ring.append("source_changed", {"cell_id": cell_id, "edits": edits, "source_hash": source_hash(source)})

    def _metadata(self, cell_id: str, ycell: Map) -> None:
        self.ring.append("metadata_changed", {"cell_id": cell_id, "metadata": _plain(ycell.get("metadata")) or {}})

    def _splices(self, cell_id: str, ycell: Map, delta: list[dict[str, Any]]) -> None:
        tails = self._outputs.setdefault(cell_id, [])
        at = 0
        splices: list[list[Any]] = []  # [index, delete, outputs]
        for op in delta:
            if "retain" in op:
                at += op["retain"]
            elif "delete" in op:
                del tails[at : at + op["delete"]]
                splices.append([at, op["delete"], []])
            else:
                items = op["insert"]
                tails[at:at] = [_tail(o) for o in items]
                outputs = [_output(o) for o in items]
                if splices and splices[-1][0] == at and not splices[-1][2]:
                    splices[-1][2] = outputs
                else:
                    splices.append([at, 0, outputs])
                at += len(items)
        for index, delete, outputs in splices:
            self._outputs_event(cell_id, index, delete, outputs)

    def _outputs_event(self, cell_id: str, index: int, delete: int, outputs: list[dict[str, Any]]) -> None:
        data = {"cell_id": cell_id, "index": index, "delete": delete, "outputs": outputs}
        if cell_id in self._running:
            data["execution_id"] = self._running[cell_id]
        self.ring.append("outputs_changed", data)

    def _stream(self, cell_id: str, ycell: Map, index: int, delta: list[dict[str, Any]]) -> None:
        tails = self._outputs.get(cell_id, [])
        mirror = tails[index] if index < len(tails) else None
        edits = mirror.apply(delta) if mirror is not None else None
        if edits is None:  # not followed (an output from before the attachment): sent whole, followed from now
            self._replace_output(cell_id, ycell, index)
            return
        data = {"cell_id": cell_id, "index": index, "edits": edits}
        if cell_id in self._running:
            data["execution_id"] = self._running[cell_id]
        self.ring.append("output_text", data)

    def _replace_output(self, cell_id: str, ycell: Map, index: int) -> None:
        outputs = ycell.get("outputs")
        if not isinstance(outputs, Array) or index >= len(outputs):
            self._resync("outputs")
            return
        tails = self._outputs.setdefault(cell_id, [])
        if index < len(tails):
            tails[index] = _tail(outputs[index])
        self._outputs_event(cell_id, index, 1, [_output(outputs[index])])


def _plain(value: Any) -> Any:
    if isinstance(value, (Map, Array)):
        value = value.to_py()
    elif isinstance(value, Text):
        return str(value)
    if isinstance(value, (dict, list)):
        cast_all(value, float, int)
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _output(ymap: Any) -> dict[str, Any]:
    """An output map as nbformat JSON (numbers as ``_cell_to_py`` casts them)."""
    value = ymap.to_py() if isinstance(ymap, Map) else dict(ymap)
    cast_all(value, float, int)
    return value


def _tail(ymap: Any) -> TextMirror | None:
    """What the feed follows of an output: a stream's last line (None for other outputs)."""
    if isinstance(ymap, Map) and ymap.get("output_type") == "stream":
        text = ymap.get("text")
        return TextMirror(str(text) if text is not None else "", whole=False)
    return None


def _digest(notebook: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(notebook, sort_keys=True, default=str).encode()).hexdigest()
