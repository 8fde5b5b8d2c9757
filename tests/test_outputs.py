"""supernode.output_writer (and its parts: stream_text, display_index, cell_outputs): a cell's outputs
written into a YNotebook as iopub messages arrive.

Unit tests on an in-memory notebook, a replay of every transaction through the observer logic of
the JupyterLab 4 frontend (``FrontendView``), and a cross-check against nbclient with real kernels.
"""

from __future__ import annotations

import asyncio
import copy
import json
import queue
import random
import time
from typing import Any

import nbformat
import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Array, Doc, Map, Text

from helpers import eventually
from supernode.display_index import DisplayIndex
from supernode.output_writer import OutputWriter
from supernode.stream_text import collapse_stream_text

# ---------------------------------------------------------------------------------------------
# Helpers


def make_notebook(*cell_ids: str) -> YNotebook:
    nb = YNotebook()
    nb.set(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "id": cid,
                    "source": f"# {cid}",
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
                for cid in cell_ids or ("c1",)
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )
    return nb


def ycell(nb: YNotebook, cell_id: str) -> Map:
    for cell in nb.ycells:
        if cell["id"] == cell_id:
            return cell
    raise KeyError(cell_id)


def doc_outputs(nb: YNotebook, cell_id: str) -> list[dict]:
    """The cell's outputs as jupyter_ydoc saves them."""
    for cell in nb.get()["cells"]:
        if cell["id"] == cell_id:
            return cell["outputs"]
    raise KeyError(cell_id)


def assert_frontend_shape(nb: YNotebook, cell_id: str) -> None:
    """Every output a Map of plain JSON values; a stream's text a Text; no transient key."""
    youtputs = ycell(nb, cell_id)["outputs"]
    assert isinstance(youtputs, Array)
    for youtput in youtputs:
        assert isinstance(youtput, Map), type(youtput)
        kind = youtput["output_type"]
        assert "transient" not in youtput
        if kind == "stream":
            assert set(youtput.keys()) == {"output_type", "name", "text"}
            assert isinstance(youtput["text"], Text)
        elif kind in ("display_data", "execute_result"):
            assert isinstance(youtput["data"], dict) and isinstance(youtput["metadata"], dict)
            expected = {"output_type", "data", "metadata"} | (
                {"execution_count"} if kind == "execute_result" else set()
            )
            assert set(youtput.keys()) == expected
        else:
            assert kind == "error"
            assert set(youtput.keys()) == {"output_type", "ename", "evalue", "traceback"}
            assert isinstance(youtput["traceback"], list)


def stream(text: str, name: str = "stdout") -> tuple[str, dict]:
    return "stream", {"name": name, "text": text}


def display(data: Any, display_id: str | None = None, kind: str = "display_data") -> tuple[str, dict]:
    content: dict[str, Any] = {"data": {"text/plain": data}, "metadata": {}}
    if display_id:
        content["transient"] = {"display_id": display_id}
    if kind == "execute_result":
        content["execution_count"] = 7
    return kind, content


def update(data: Any, display_id: str) -> tuple[str, dict]:
    return "update_display_data", {
        "data": {"text/plain": data},
        "metadata": {},
        "transient": {"display_id": display_id},
    }


def move_cell(nb: YNotebook, cell_id: str, to: int) -> None:
    """What JupyterLab 4 does to move a cell: delete it and insert a copy, in one transaction."""
    with nb.ydoc.transaction():
        index = next(i for i, c in enumerate(nb.ycells) if c["id"] == cell_id)
        cell = nb.ycells[index].to_py()
        del nb.ycells[index]
        nb.ycells.insert(to, nb.create_ycell(cell))


class TransactionCounter:
    def __init__(self, nb: YNotebook) -> None:
        self.count = 0
        self._sub = nb.ydoc.observe(self._on)

    def _on(self, _event: Any) -> None:
        self.count += 1


class FrontendView:
    """What a JupyterLab 4 client shows: the document's updates replayed one transaction at a time
    into a replica, through the observer logic of @jupyter/ydoc 4 (``YCodeCell.getChanges``) and
    @jupyterlab/cells + outputarea (``CodeCellModel._onSharedModelChanged``, ``OutputAreaModel``):

    - a transaction's *first* Text event under ``['outputs', k, 'text']``: ``delete`` drops the
      last N units of the *last* output's text, ``insert`` appends (retains are ignored);
    - then the outputs Array event: a delete removes at the position, an insert is *appended*
      (``OutputAreaModel.add``), and a stream inserted right after a stream of the same name is
      merged into it.

    Texts are kept as UTF-8 bytes: pycrdt's deltas count bytes where Yjs counts UTF-16 units.
    """

    def __init__(self, nb: YNotebook) -> None:
        self.doc = Doc()
        self.doc.apply_update(nb.ydoc.get_update())
        self.cells = self.doc.get("cells", type=Array)
        self.views: dict[str, list[dict]] = {}
        self.last_stream: dict[str, str] = {}
        for cell in self.cells:
            self._load(cell)
        self._updates: list[bytes] = []
        self._doc_sub = nb.ydoc.observe(lambda event: self._updates.append(event.update))
        self._sub = self.cells.observe_deep(self._on_events)

    def _load(self, cell: Map) -> None:
        self.views[cell["id"]] = []
        self.last_stream[cell["id"]] = ""
        for out in cell["outputs"].to_py():
            self._add(cell["id"], out)

    def _add(self, cell_id: str, out: dict) -> None:
        view = self.views[cell_id]
        if out["output_type"] == "stream":
            text = out["text"].encode()
            if out["name"] == self.last_stream[cell_id] and view:
                view[-1]["text"] += text  # merged, as OutputAreaModel._add does
            else:
                view.append({**out, "text": text})
            self.last_stream[cell_id] = out["name"]
        else:
            view.append(out)
            self.last_stream[cell_id] = ""

    def _on_events(self, events: list) -> None:
        by_cell: dict[int, list] = {}
        for event in events:
            if not event.path:  # cells inserted (a move copies them) or deleted
                for op in event.delta:
                    for cell in op.get("insert", []):
                        self._load(cell)
                continue
            by_cell.setdefault(event.path[0], []).append(event)
        for index, cell_events in by_cell.items():
            cell_id = self.cells[index]["id"]
            view = self.views[cell_id]
            text_event = next(
                (e for e in cell_events if len(e.path) == 4 and e.path[1] == "outputs" and e.path[3] == "text"),
                None,
            )
            if text_event is not None:
                for op in text_event.delta:
                    if "delete" in op:
                        view[-1]["text"] = view[-1]["text"][: len(view[-1]["text"]) - op["delete"]]
                    if "insert" in op:
                        view[-1]["text"] += op["insert"].encode()
            outputs_event = next((e for e in cell_events if list(e.path) == [index, "outputs"]), None)
            if outputs_event is not None:
                position = 0
                for op in outputs_event.delta:
                    position += op.get("retain", 0)
                    for _ in range(op.get("delete", 0)):
                        del view[position]
                    for youtput in op.get("insert", []):
                        self._add(cell_id, youtput.to_py())

    def sync(self) -> None:
        updates, self._updates = self._updates, []
        for update in updates:
            self.doc.apply_update(update)

    def outputs(self, cell_id: str) -> list[dict]:
        return [{**o, "text": o["text"].decode()} if o["output_type"] == "stream" else o for o in self.views[cell_id]]


def plain(outputs: list[dict]) -> list[dict]:
    """Comparable form: JSON round trip, numbers as the document gives them (ints when integral)."""
    outputs = json.loads(json.dumps(outputs))

    def cast(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, list):
            return [cast(v) for v in value]
        if isinstance(value, dict):
            return {k: cast(v) for k, v in value.items()}
        return value

    return cast(outputs)


class Reference:
    """A naive model of a notebook's outputs: nbclient's logic (display ids across cells, clears),
    plus JupyterLab's merging of consecutive same-name streams with ``\\r``/``\\b`` processing."""

    def __init__(self) -> None:
        self.cells: dict[str, list[dict]] = {}
        self.displays: dict[str, list[tuple[str, int]]] = {}
        self.clear_next = False

    def _forget(self, cell_id: str) -> None:
        for targets in self.displays.values():
            targets[:] = [t for t in targets if t[0] != cell_id]

    def start(self, cell_id: str) -> None:
        self.cells[cell_id] = []
        self._forget(cell_id)
        self.clear_next = False

    def handle(self, cell_id: str, msg_type: str, content: dict) -> None:
        outs = self.cells[cell_id]
        display_id = (content.get("transient") or {}).get("display_id")
        if display_id and msg_type in ("display_data", "execute_result", "update_display_data"):
            for cid, index in self.displays.get(display_id, []):
                self.cells[cid][index] = {
                    **self.cells[cid][index],
                    "data": content["data"],
                    "metadata": content["metadata"],
                }
        if msg_type == "clear_output":
            if content["wait"]:
                self.clear_next = True
            else:
                outs.clear()
                self._forget(cell_id)
        elif msg_type in ("stream", "display_data", "execute_result", "error"):
            if self.clear_next:
                outs.clear()
                self._forget(cell_id)
                self.clear_next = False
            if msg_type == "stream":
                if outs and outs[-1]["output_type"] == "stream" and outs[-1]["name"] == content["name"]:
                    outs[-1]["raw"].append(content["text"])
                else:
                    outs.append({"output_type": "stream", "name": content["name"], "raw": [content["text"]]})
                return
            out = {k: v for k, v in content.items() if k != "transient"}
            outs.append({"output_type": msg_type, **out})
            if display_id:
                self.displays.setdefault(display_id, []).append((cell_id, len(outs) - 1))

    def outputs(self, cell_id: str) -> list[dict]:
        result = []
        for out in self.cells[cell_id]:
            if out["output_type"] == "stream":
                result.append({"output_type": "stream", "name": out["name"], "text": collapse_stream_text(out["raw"])})
            else:
                result.append(copy.deepcopy(out))
        return result


# ---------------------------------------------------------------------------------------------
# Stream text processing


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("50%\r100%\n", "100%\n"),
        ("abc\b\bX", "aX"),
        ("abc\rX\n", "Xbc\n"),  # overwrite, as JupyterLab and a terminal do
        ("a\nb\r\nc", "a\nb\nc"),
        ("\b\bx", "x"),
        ("line1\n\b\bx", "line1\nx"),  # \b never crosses a newline
        ("é😀中\rA", "A😀中"),
        ("é😀中\b\b!", "é!"),
        ("中中中\r\r字\n", "字中中\n"),
        ("abcd\rab\bX", "aX"),  # JupyterLab's \b also drops the character under the cursor
        ("", ""),
    ],
)
def test_collapse_stream_text(raw: str, shown: str) -> None:
    assert collapse_stream_text(raw) == shown


def test_collapse_does_not_depend_on_chunking() -> None:
    rng = random.Random(7)
    alphabet = ["a", "b", "é", "😀", "中", " ", "\n", "\r", "\b", "50%", "\r\n"]
    for _ in range(300):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        cuts = sorted(rng.sample(range(len(raw) + 1), k=min(len(raw) + 1, rng.randint(0, 6))))
        chunks = [raw[i:j] for i, j in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        assert collapse_stream_text(chunks) == collapse_stream_text(raw)
        assert "\r" not in collapse_stream_text(raw) and "\b" not in collapse_stream_text(raw)


def test_differs_from_nbclient_coalesce_on_a_shorter_overwrite() -> None:
    """nbclient's coalesce_streams erases a line before \\r; JupyterLab overwrites it."""
    from nbclient.client import _RGX_CARRIAGERETURN

    raw = "step 4/4 é\rfinished\n"
    assert _RGX_CARRIAGERETURN.sub("", raw) == "finished\n"
    assert collapse_stream_text(raw) == "finished é\n"


# ---------------------------------------------------------------------------------------------
# The writer on an in-memory notebook


def test_streams_shape_and_appending() -> None:
    nb = make_notebook("c1")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    writer.handle_many([stream("é1\n"), stream("😀2\n")])
    first_text = ycell(nb, "c1")["outputs"][0]["text"]
    writer.handle_many([stream("中3\n")])
    writer.handle_many([stream("err\n", "stderr"), stream("4\n"), stream("5\n")])
    assert_frontend_shape(nb, "c1")
    expected = [
        {"output_type": "stream", "name": "stdout", "text": "é1\n😀2\n中3\n"},
        {"output_type": "stream", "name": "stderr", "text": "err\n"},
        {"output_type": "stream", "name": "stdout", "text": "4\n5\n"},
    ]
    assert writer.outputs == expected
    assert doc_outputs(nb, "c1") == expected
    assert len(first_text) == len("é1\n😀2\n中3\n".encode())  # byte length: appended to, not replaced
    view.sync()
    assert view.outputs("c1") == expected


def test_carriage_returns_across_messages_and_flushes_non_ascii() -> None:
    nb = make_notebook("c1")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    chunks = ["é 1/3 😀", "\r", "é 2/3", " 中\r", "done ✓\n", "next é", "\b\b", "!\r中文", "\n😀\r", "ok"]
    sent: list[str] = []
    for chunk in chunks:
        writer.handle(*stream(chunk))
        sent.append(chunk)
        writer.flush()
        view.sync()
        shown = collapse_stream_text(sent)
        assert writer.outputs == [{"output_type": "stream", "name": "stdout", "text": shown}]
        assert doc_outputs(nb, "c1") == writer.outputs
        assert str(ycell(nb, "c1")["outputs"][0]["text"]) == shown
        assert view.outputs("c1") == writer.outputs
    assert shown == "done ✓中\n中文xt!\nok"
    assert_frontend_shape(nb, "c1")


def test_display_execute_result_error_shapes() -> None:
    nb = make_notebook("c1")
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    writer.handle_many(
        [
            (
                "display_data",
                {
                    "data": {"text/plain": "é", "application/json": {"a": [1, 2.5, None]}},
                    "metadata": {"isolated": True},
                    "transient": {"display_id": "x"},
                },
            ),
            ("execute_result", {"data": {"text/plain": "42"}, "metadata": {}, "execution_count": 3, "transient": {}}),
            ("error", {"ename": "ValueError", "evalue": "boom é", "traceback": ["Traceback…", "ValueError: boom é"]}),
            ("status", {"execution_state": "idle"}),  # not an output: ignored
        ]
    )
    assert_frontend_shape(nb, "c1")
    expected = [
        {
            "output_type": "display_data",
            "data": {"text/plain": "é", "application/json": {"a": [1, 2.5, None]}},
            "metadata": {"isolated": True},
        },
        {"output_type": "execute_result", "data": {"text/plain": "42"}, "metadata": {}, "execution_count": 3},
        {
            "output_type": "error",
            "ename": "ValueError",
            "evalue": "boom é",
            "traceback": ["Traceback…", "ValueError: boom é"],
        },
    ]
    assert writer.outputs == expected
    assert plain(doc_outputs(nb, "c1")) == expected
    nbformat.validate(nbformat.from_dict({**nb.get(), "cells": [{**nb.get()["cells"][0], "outputs": writer.outputs}]}))


def test_clear_output_now_and_on_next_output() -> None:
    nb = make_notebook("c1")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    writer.handle_many([stream("a\n"), display("d")])
    writer.handle_many([("clear_output", {"wait": False})])
    assert writer.outputs == [] and doc_outputs(nb, "c1") == []
    writer.handle_many([stream("b\n"), ("clear_output", {"wait": True})])
    assert writer.outputs == doc_outputs(nb, "c1") == [{"output_type": "stream", "name": "stdout", "text": "b\n"}]
    writer.handle_many([("status", {"execution_state": "busy"})])  # not an output: the clear waits
    assert len(doc_outputs(nb, "c1")) == 1
    writer.handle_many([stream("c\n")])  # the clear happens here; "c" does not join "b"
    assert writer.outputs == doc_outputs(nb, "c1") == [{"output_type": "stream", "name": "stdout", "text": "c\n"}]
    # A loop of clear_output(wait=True) + print, handled as one batch: written as its net effect.
    counter = TransactionCounter(nb)
    writer.handle_many([m for i in range(500) for m in (("clear_output", {"wait": True}), stream(f"tick {i} é\n"))])
    assert counter.count == 1
    assert (
        writer.outputs == doc_outputs(nb, "c1") == [{"output_type": "stream", "name": "stdout", "text": "tick 499 é\n"}]
    )
    view.sync()
    assert view.outputs("c1") == writer.outputs
    assert_frontend_shape(nb, "c1")


def test_update_display_in_own_cell_keeps_order_for_the_frontend() -> None:
    nb = make_notebook("c1")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    writer.handle_many([display("v0", "bar"), stream("log é\n"), display("other")])
    writer.handle_many([update("v1", "bar"), stream("more\n", "stderr")])
    expected = [
        {"output_type": "display_data", "data": {"text/plain": "v1"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "log é\n"},
        {"output_type": "display_data", "data": {"text/plain": "other"}, "metadata": {}},
        {"output_type": "stream", "name": "stderr", "text": "more\n"},
    ]
    assert writer.outputs == expected
    assert doc_outputs(nb, "c1") == expected
    view.sync()
    assert view.outputs("c1") == expected  # the frontend would append a lone re-inserted output
    writer.handle_many([stream("again\n", "stderr"), update("v2", "bar")])
    expected[0]["data"] = {"text/plain": "v2"}
    expected[3]["text"] = "more\nagain\n"
    view.sync()
    assert writer.outputs == doc_outputs(nb, "c1") == view.outputs("c1") == expected
    assert_frontend_shape(nb, "c1")


def test_update_display_across_cells_moves_and_deletes() -> None:
    nb = make_notebook("c1", "c2", "c3")
    view = FrontendView(nb)
    displays = DisplayIndex.of(nb)
    assert DisplayIndex.of(nb) is displays
    w1 = OutputWriter(nb, "c1", displays)
    w1.start()
    w1.handle_many([stream("before\n"), display("v0", "bar"), display("v0b", "baz")])
    w2 = OutputWriter(nb, "c2", displays)
    w2.start()
    w2.handle_many([update("v1", "bar")])  # the update reaches c1
    assert doc_outputs(nb, "c1")[1]["data"] == {"text/plain": "v1"}
    w2.handle_many([display("here", "bar")])
    # A new display with a known id updates the earlier ones too (as nbclient does).
    assert w2.outputs == [{"output_type": "display_data", "data": {"text/plain": "here"}, "metadata": {}}]
    assert doc_outputs(nb, "c1")[1]["data"] == {"text/plain": "here"}
    assert displays.targets("bar") == [("c1", 1), ("c2", 0)]
    # c1 moved by a collaborator (a copy: new CRDT items): still found.
    move_cell(nb, "c1", 2)
    w3 = OutputWriter(nb, "c3", displays)
    w3.start()
    w3.handle_many([update("v2", "bar"), update("z1", "baz")])
    assert [o.get("data") for o in doc_outputs(nb, "c1")] == [None, {"text/plain": "v2"}, {"text/plain": "z1"}]
    assert doc_outputs(nb, "c2")[0]["data"] == {"text/plain": "v2"}
    view.sync()
    for cid in ("c1", "c2", "c3"):
        assert view.outputs(cid) == doc_outputs(nb, cid)
        assert_frontend_shape(nb, cid)
    # A collaborator clears c2's outputs and adds another display: not mistaken for "bar".
    with nb.ydoc.transaction():
        ycell(nb, "c2")["outputs"].clear()
        ycell(nb, "c2")["outputs"].append(
            Map({"output_type": "display_data", "data": {"text/plain": "mine"}, "metadata": {}})
        )
    # c1 is deleted: its entries go, nothing raises.
    with nb.ydoc.transaction():
        del nb.ycells[next(i for i, c in enumerate(nb.ycells) if c["id"] == "c1")]
    w3.handle_many([update("v3", "bar")])
    assert doc_outputs(nb, "c2") == [{"output_type": "display_data", "data": {"text/plain": "mine"}, "metadata": {}}]
    assert "bar" not in displays
    # Re-running a cell forgets its displays.
    w2.start()
    w2.handle_many([display("q", "qux")])
    assert displays.targets("qux") == [("c2", 0)]
    w2.start()
    assert "qux" not in displays


def test_cell_moved_while_streaming() -> None:
    nb = make_notebook("c1", "c2")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    writer.handle_many([stream("é 10%\r"), display("d", "d1"), stream("abc")])
    move_cell(nb, "c1", 1)
    writer.handle_many([stream("\rx\n😀"), update("d2", "d1")])
    move_cell(nb, "c1", 0)
    writer.handle_many([stream("!\n")])
    expected = [
        {"output_type": "stream", "name": "stdout", "text": "é 10%"},
        {"output_type": "display_data", "data": {"text/plain": "d2"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "xbc\n😀!\n"},
    ]
    view.sync()
    assert writer.outputs == doc_outputs(nb, "c1") == view.outputs("c1") == expected
    assert [c["id"] for c in nb.ycells] == ["c1", "c2"]
    assert_frontend_shape(nb, "c1")


def test_deleted_cell_drops_writes_and_counts_them() -> None:
    nb = make_notebook("c1", "c2")
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    writer.handle_many([stream("a\n")])
    with nb.ydoc.transaction():
        del nb.ycells[0]
    writer.handle_many([stream("b\n"), display("x"), ("status", {"execution_state": "idle"})])
    assert writer.dropped == 2
    assert writer.outputs == [
        {"output_type": "stream", "name": "stdout", "text": "a\nb\n"},
        {"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {}},
    ]
    assert [c["id"] for c in nb.ycells] == ["c2"] and doc_outputs(nb, "c2") == []
    writer.start()  # nothing raises either
    assert writer.dropped == 3


def test_outputs_cleared_by_a_collaborator_mid_stream() -> None:
    nb = make_notebook("c1")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    writer.handle_many([stream("one\ntwo é")])
    with nb.ydoc.transaction():
        ycell(nb, "c1")["outputs"].clear()
    writer.handle_many([stream(" and\nthree\n")])
    # The document goes on from the current line, as a JupyterLab client does after a clear.
    assert doc_outputs(nb, "c1") == [{"output_type": "stream", "name": "stdout", "text": "two é and\nthree\n"}]
    assert writer.outputs == [{"output_type": "stream", "name": "stdout", "text": "one\ntwo é and\nthree\n"}]
    writer.handle_many([stream("four\n")])
    view.sync()
    assert view.outputs("c1") == doc_outputs(nb, "c1")
    assert doc_outputs(nb, "c1")[0]["text"] == "two é and\nthree\nfour\n"


def test_random_messages_match_reference_and_frontend_view() -> None:
    """Random streams with \\r/\\b and multi-byte text, displays and updates across two cells,
    clears, flushes at random points and moves by a collaborator: after every flush the document,
    the writer, a naive nbclient-like reference and the frontend's view agree."""
    rng = random.Random(20240611)
    alphabet = ["a", "é", "😀", "中", " ", "\n", "\r", "\b", "42%"]
    for _ in range(25):
        nb = make_notebook("c1", "c2", "c3")
        view = FrontendView(nb)
        displays = DisplayIndex()
        reference = Reference()
        for cell_id in rng.sample(["c1", "c2", "c3", "c1"], 4):
            writer = OutputWriter(nb, cell_id, displays)
            writer.start()
            reference.start(cell_id)
            for _ in range(rng.randint(0, 40)):
                roll = rng.random()
                if roll < 0.55:
                    text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
                    msg = stream(text, rng.choice(["stdout", "stdout", "stderr"]))
                elif roll < 0.7:
                    msg = display(
                        f"v{rng.randint(0, 99)}",
                        rng.choice([None, "d1", "d2"]),
                        rng.choice(["display_data", "execute_result"]),
                    )
                elif roll < 0.82:
                    msg = update(f"u{rng.randint(0, 99)}", rng.choice(["d1", "d2", "unknown"]))
                elif roll < 0.92:
                    msg = ("clear_output", {"wait": rng.random() < 0.6})
                else:
                    msg = ("error", {"ename": "E", "evalue": "é", "traceback": ["t"]})
                writer.handle(*msg)
                reference.handle(cell_id, *msg)
                if rng.random() < 0.3:
                    writer.flush()
                    if rng.random() < 0.2:
                        move_cell(nb, rng.choice(["c1", "c2", "c3"]), rng.randint(0, 2))
                    view.sync()
                    for cid in reference.cells:
                        assert plain(doc_outputs(nb, cid)) == plain(reference.outputs(cid)), cid
                        assert view.outputs(cid) == doc_outputs(nb, cid), cid
            writer.flush()
            assert plain(writer.outputs) == plain(reference.outputs(cell_id))
        view.sync()
        for cid in reference.cells:
            assert plain(doc_outputs(nb, cid)) == plain(reference.outputs(cid)), cid
            assert view.outputs(cid) == doc_outputs(nb, cid), cid
            assert_frontend_shape(nb, cid)


# ---------------------------------------------------------------------------------------------
# Batching and cost


def test_100k_lines_batched_in_few_transactions() -> None:
    nb = make_notebook("c1")
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    counter = TransactionCounter(nb)
    lines = [f"line {i} é\n" for i in range(100_000)]
    cpu = time.thread_time()
    for line in lines:
        writer.handle("stream", {"name": "stdout", "text": line})
    writer.flush()
    cpu = time.thread_time() - cpu
    assert counter.count <= 2  # one flush, plus one when more than max_pending_chars piled up
    assert cpu < 1.0, f"{cpu:.2f}s of CPU for 100,000 messages"
    text = "".join(lines)
    assert writer.outputs == [{"output_type": "stream", "name": "stdout", "text": text}]
    assert len(ycell(nb, "c1")["outputs"][0]["text"]) == len(text.encode())
    assert str(ycell(nb, "c1")["outputs"][0]["text"]) == text


async def test_autoflush_once_per_loop_turn() -> None:
    nb = make_notebook("c1")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex())
    writer.start()
    counter = TransactionCounter(nb)
    cpu = 0.0
    for turn in range(100):
        start = time.thread_time()
        for i in range(1000):
            writer.handle("stream", {"name": "stdout", "text": f"{turn}:{i} 😀\r" if i % 3 else f"{turn}:{i} 中\n"})
        cpu += time.thread_time() - start
        await asyncio.sleep(0)  # one loop turn: the scheduled flush runs
    await eventually(lambda: not writer.pending, timeout=5, what="the last flush")
    assert counter.count == 100
    assert cpu < 1.0, f"{cpu:.2f}s of CPU in handle() for 100,000 messages"
    assert str(ycell(nb, "c1")["outputs"][0]["text"]) == writer.outputs[0]["text"]
    view.sync()
    assert view.outputs("c1") == doc_outputs(nb, "c1") == writer.outputs


async def test_paced_writes_leave_one_version_per_interval() -> None:
    """A display updated in a tight loop: the first output at once, then one transaction per interval,
    the last state always written; what the frontend shows equals the writer's model."""
    nb = make_notebook("c1")
    view = FrontendView(nb)
    writer = OutputWriter(nb, "c1", DisplayIndex(), min_interval=0.05)
    writer.start()
    counter = TransactionCounter(nb)
    loop = asyncio.get_running_loop()
    writer.handle(*display("0", "bar"))
    await asyncio.sleep(0)  # one loop turn: a quiet cell's first output is not held back
    assert counter.count == 1
    started = loop.time()
    updates = 0
    while loop.time() - started < 0.5:
        updates += 1
        writer.handle(*update(str(updates), "bar"))
        writer.handle(*stream(f"{updates}%\r"))
        writer.flush_paced()
        await asyncio.sleep(0.001)
    await eventually(lambda: not writer.pending, timeout=5, what="the last paced write")
    assert updates > 100
    assert 5 <= counter.count <= 1 + 0.5 / 0.05 + 2, counter.count  # about one per 50 ms, not one per update
    view.sync()
    assert view.outputs("c1") == doc_outputs(nb, "c1") == writer.outputs
    assert writer.outputs[0]["data"] == {"text/plain": str(updates)}


def test_pending_text_limit_flushes_without_a_loop() -> None:
    nb = make_notebook("c1")
    writer = OutputWriter(nb, "c1", DisplayIndex(), max_pending_chars=1000)
    writer.start()
    for _ in range(30):
        writer.handle(*stream("x" * 99 + "\n"))
    assert writer.transactions == 1 + 2  # start, then a flush after each 1000+ chars
    assert len(doc_outputs(nb, "c1")[0]["text"]) == 2 * 1100


# ---------------------------------------------------------------------------------------------
# Real kernel vs nbclient

CROSS_CHECK_CELLS = {
    "prints": 'for i in range(3):\n    print("line", i, "é😀中", flush=True)',
    "progress": 'for i in range(5):\n    print(f"step {i}/4 é", end="\\r", flush=True)\nprint("finished", flush=True)',
    "interleaved": (
        "import sys\n"
        'print("out 1 é", flush=True)\n'
        'print("err 1 😀", file=sys.stderr, flush=True)\n'
        'print("out 2", flush=True)\n'
        'print("out 3", flush=True)\n'
        'print("err 2", file=sys.stderr, flush=True)'
    ),
    "display": (
        "from IPython.display import display\n"
        'h = display({"a": 1, "é": "😀"}, display_id=True)\n'
        'print("after", flush=True)\n'
        'h.update({"b": 2})'
    ),
    "clear": (
        "from IPython.display import clear_output\n"
        "for i in range(5):\n"
        "    clear_output(wait=True)\n"
        '    print(f"tick {i} é", flush=True)'
    ),
    "cross_update": 'h.update({"c": "中"})\nprint("updated")',
    "error": 'print("about to fail")\nraise ValueError("boom é")',
    "result": '{"x": 1, "y": [1, 2], "z": "é"}',
    "big": 'for i in range(20000):\n    print(i, "é")',
}


def cross_check_notebook() -> dict:
    return {
        "cells": [
            {"cell_type": "code", "id": cid, "source": src, "metadata": {}, "outputs": [], "execution_count": None}
            for cid, src in CROSS_CHECK_CELLS.items()
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def merged_like_jupyterlab(outputs: list) -> list[dict]:
    """nbclient's outputs (one per stream message, raw) with consecutive same-name streams merged
    and \\r/\\b applied, as JupyterLab shows them."""
    result: list[dict] = []
    raw: list[list[str]] = []
    for out in json.loads(json.dumps(outputs)):
        if (
            out["output_type"] == "stream"
            and result
            and result[-1]["output_type"] == "stream"
            and result[-1]["name"] == out["name"]
        ):
            raw[-1].append(out["text"])
            continue
        result.append(out)
        raw.append([out["text"]] if out["output_type"] == "stream" else [])
    for out, texts in zip(result, raw, strict=True):
        if out["output_type"] == "stream":
            out["text"] = collapse_stream_text(texts)
    return result


@pytest.fixture
def kernel(jp_asyncio_loop):
    """A real python kernel and a started AsyncKernelClient."""
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="python3")

    async def start():
        await asyncio.wait_for(km.start_kernel(), 60)
        kc = km.client()
        kc.start_channels()
        await asyncio.wait_for(kc.wait_for_ready(timeout=60), 65)
        return kc

    kc = jp_asyncio_loop.run_until_complete(start())
    yield kc
    kc.stop_channels()
    jp_asyncio_loop.run_until_complete(asyncio.wait_for(km.shutdown_kernel(now=True), 30))


async def run_with_writer(
    kc, nb: YNotebook, displays: DisplayIndex, cell_id: str, code: str, timeout: float = 60
) -> dict:
    """Execute ``code``; feed its iopub messages to a writer in batches (as they are available)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    writer = OutputWriter(nb, cell_id, displays, autoflush=False)
    writer.start()
    msg_id = kc.execute(code, store_history=True, stop_on_error=False)
    cpu = 0.0
    messages = batches = 0
    idle = False
    while not idle:
        batch = [await asyncio.wait_for(kc.get_iopub_msg(), max(0.1, deadline - loop.time()))]
        while True:
            try:
                batch.append(await kc.get_iopub_msg(timeout=0))
            except queue.Empty:
                break
        start = time.thread_time()
        for msg in batch:
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            messages += writer.handle_msg(msg)
        writer.flush()
        cpu += time.thread_time() - start
        batches += 1
    while True:
        reply = await asyncio.wait_for(kc.get_shell_msg(), max(0.1, deadline - loop.time()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    return {"writer": writer, "cpu": cpu, "messages": messages, "batches": batches, "reply": reply}


async def test_real_kernel_outputs_match_nbclient(kernel) -> None:
    from nbclient import NotebookClient

    snapshots: dict[str, list] = {}

    def on_cell_executed(cell, cell_index, execute_reply):
        snapshots[cell["id"]] = copy.deepcopy(cell["outputs"])

    nbc = NotebookClient(
        nbformat.from_dict(cross_check_notebook()),
        kernel_name="python3",
        allow_errors=True,
        timeout=60,
        on_cell_executed=on_cell_executed,
    )

    async def ours() -> dict[str, dict]:
        nb = YNotebook()
        nb.set(cross_check_notebook())
        displays = DisplayIndex.of(nb)
        runs = {}
        for cell_id, code in CROSS_CHECK_CELLS.items():
            runs[cell_id] = await run_with_writer(kernel, nb, displays, cell_id, code)
        runs["_nb"] = nb  # type: ignore[assignment]
        return runs

    results = await asyncio.gather(ours(), asyncio.wait_for(nbc.async_execute(), 90), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    runs = results[0]
    nb: YNotebook = runs.pop("_nb")  # type: ignore[assignment]
    final = {cell["id"]: cell["outputs"] for cell in nbc.nb.cells}
    for cell_id in CROSS_CHECK_CELLS:
        writer = runs[cell_id]["writer"]
        # The writer's record: nbclient's outputs when the cell finished, streams merged.
        assert plain(writer.outputs) == plain(merged_like_jupyterlab(snapshots[cell_id])), cell_id
        # The document: nbclient's final outputs (the later cell updated the display), merged.
        assert plain(doc_outputs(nb, cell_id)) == plain(merged_like_jupyterlab(final[cell_id])), cell_id
        assert_frontend_shape(nb, cell_id)

    # What nbclient writes (by default: one raw output per stream message) vs what we keep.
    assert len(snapshots["prints"]) == 3 and len(runs["prints"]["writer"].outputs) == 1
    assert any("\r" in o.get("text", "") for o in snapshots["progress"])
    assert runs["progress"]["writer"].outputs[0]["text"] == "finished é\n"
    assert [(o["name"], o["text"]) for o in runs["interleaved"]["writer"].outputs] == [
        ("stdout", "out 1 é\n"),
        ("stderr", "err 1 😀\n"),
        ("stdout", "out 2\nout 3\n"),
        ("stderr", "err 2\n"),
    ]
    assert runs["clear"]["writer"].outputs == [{"output_type": "stream", "name": "stdout", "text": "tick 4 é\n"}]
    assert doc_outputs(nb, "display")[0]["data"]["text/plain"] == "{'c': '中'}"
    assert runs["display"]["writer"].outputs[0]["data"]["text/plain"] == "{'b': 2}"
    assert runs["error"]["writer"].outputs[-1]["ename"] == "ValueError"
    assert runs["result"]["writer"].outputs[0]["execution_count"] == list(CROSS_CHECK_CELLS).index("result") + 1

    big = runs["big"]
    assert big["writer"].outputs[0]["text"] == "".join(f"{i} é\n" for i in range(20000))
    assert big["writer"].transactions <= min(big["batches"], big["messages"]) + 1  # + start()
    assert big["cpu"] < 0.5, f"the writer took {big['cpu']:.3f}s of CPU for 20,000 lines"
    print(
        f"\n20,000 lines: {big['messages']} output messages in {big['batches']} batches, "
        f"{big['writer'].transactions} transactions, "
        f"writer CPU {big['cpu'] * 1000:.1f} ms"
    )
