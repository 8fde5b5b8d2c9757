"""The later stages of a staged load, encoded by supernode.stage_encoding: the same items (ids and
content) as pycrdt builds, byte for byte wherever pycrdt's bytes do not depend on the process (the order
of a JSON object's entries does); what it does not write the way pycrdt would is built in a document."""

from __future__ import annotations

import logging

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map

from supernode import stage_encoding, stages
from supernode.content import build_in_stages, load_update
from supernode.keys import DocumentKey
from supernode.notebook_reader import read_notebook

KEY = DocumentKey.parse("json:notebook:0b3e4c2a-5d6f-4a7b-8c9d-0e1f2a3b4c5d")
THRESHOLD = 100


def notebook(extra: list | None = None) -> str:
    v4 = nbformat.v4
    nb = v4.new_notebook()
    streams = v4.new_code_cell("print(1)", execution_count=1)
    streams.outputs = [
        v4.new_output("stream", name="stdout", text="a\n" * 175),  # cut in pieces: its tail is appended
        v4.new_output("stream", name="stderr", text="é😀b\n" * 90),  # characters of two UTF-16 units
        v4.new_output(
            "execute_result",
            data={"text/plain": "x" * 300, "application/json": {"a": [1, 2.5, True, None, 0.1, 2**40, -7, 1e300, -0.0]}},
            execution_count=1,
        ),
    ]
    display = v4.new_code_cell("show()", execution_count=2)
    display.outputs = [v4.new_output("display_data", data={"image/png": "iVBOR" * 80}, metadata={"m": {"w": 3.25}})]
    error = v4.new_code_cell("fail()", execution_count=3)
    error.outputs = [
        v4.new_output("error", ename="E", evalue="v" * 200, traceback=["l1 \x1b[0m", "é" * 100]),
        v4.new_output("stream", name="stdout", text=""),
    ]
    small = v4.new_code_cell("small", execution_count=4)
    small.outputs = [v4.new_output("stream", name="stdout", text="tiny")]
    nb.cells = [streams, v4.new_markdown_cell("# between"), display, error, small]
    for cell in extra or []:
        nb.cells.append(cell)
    return nbformat.writes(nb)


def stages_both_ways(text: str) -> tuple[tuple, list[bytes], tuple, list[bytes]]:
    """(the encoded load, its updates, the built load, its updates) of one file."""
    encoded = build_in_stages(KEY, read_notebook(text), THRESHOLD)
    built = build_in_stages(KEY, read_notebook(text), THRESHOLD)
    stages = built[1]
    seed = stages._seed
    stages._seed = None
    return encoded, list(encoded[1].updates()), built, list(stages._built(seed))


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch):
    monkeypatch.setattr(stages, "_STAGE_CHARS", 100)  # a long stream's pieces: 100 characters


def test_the_encoded_stages_are_the_items_pycrdt_builds():
    encoded, ours, built, theirs = stages_both_ways(notebook())
    # One update per cell with large outputs (three), and one per piece of the two long streams' tails.
    assert len(ours) == len(theirs) == 9
    # Byte for byte where no JSON object of several entries is written (pycrdt's order varies): all but
    # the first cell's outputs.
    assert ours[1:] == theirs[1:]
    mine, reference = load_update(KEY, encoded[2], *ours), load_update(KEY, built[2], *theirs)
    assert mine.get() == reference.get()
    assert mine.ydoc.get_state() == reference.ydoc.get_state()  # the same clocks
    for update in theirs:  # the same items: nothing is added twice
        mine.ydoc.apply_update(update)
    assert mine.get() == reference.get() and mine.ydoc.get_state() == reference.ydoc.get_state()
    assert mine.get()["cells"][0]["outputs"][0]["text"] == "a\n" * 175
    assert mine.get()["cells"][0]["outputs"][1]["text"] == "é😀b\n" * 90


@pytest.mark.parametrize(
    "value",
    [2**53 + 1, float("nan"), b"bytes"],
    ids=["a 64-bit integer", "NaN", "bytes"],
)
def test_outputs_it_does_not_write_as_pycrdt_are_built_in_the_document(value, monkeypatch):
    made = []
    monkeypatch.setattr(stages, "StageEncoder", lambda clock: made.append(clock))
    cell = nbformat.v4.new_code_cell("odd()", execution_count=5)
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "z" * 300})]
    loaded = build_in_stages(KEY, read_notebook(notebook([cell])), THRESHOLD)
    loaded[1]._delayed[5][0]["metadata"] = {"odd": value}
    assert not stage_encoding.encodable(loaded[1]._delayed.values())
    updates = list(loaded[1].updates())
    assert made == [] and len(updates) == 10
    assert load_update(KEY, loaded[2], *updates).ydoc.get("cells", type=Array)[5]["outputs"][0]["output_type"] == (
        "display_data"
    )


def test_a_first_stage_of_another_shape_is_built_in_a_copy_of_it(monkeypatch, caplog):
    def other_shape(update, count):
        raise ValueError("not a map added to an empty array")

    monkeypatch.setattr(stage_encoding, "_parents", other_shape)
    encoded, ours, built, theirs = stages_both_ways(notebook())
    mine, reference = load_update(KEY, encoded[2], *ours), load_update(KEY, built[2], *theirs)
    assert mine.get() == reference.get() and mine.ydoc.get_state() == reference.ydoc.get_state()
    assert "the later stages of a load are built in a document: not a map added" in caplog.text
    assert caplog.records[-1].levelno == logging.WARNING


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=1),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_a_value_is_written_as_pycrdt_writes_it(value):
    """Byte for byte (objects of at most one entry: pycrdt's order of several varies between processes)."""
    doc = Doc(client_id=0)
    outputs = doc.get("outputs", type=Array)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    with doc.transaction():
        outputs.append(Map({"v": value}))
    assert stage_encoding.encodable([[{"v": value}]])
    pieces: list[bytes] = []
    stage_encoding._any(pieces, value)
    assert b"".join(pieces) in updates[0]
    assert updates[0].endswith(b"\x01v\x01" + b"".join(pieces) + b"\x00")


@pytest.mark.parametrize("value", ["\ud800", {1: "a"}, 2**53 + 1, float("nan"), b"x", object()])
def test_what_pycrdt_refuses_or_writes_its_own_way_is_not_taken(value):
    assert not stage_encoding.encodable([[{"output_type": "display_data", "data": {"text/plain": value}}]])
    assert not stage_encoding.encodable([[{"output_type": "stream", "name": "stdout", "text": value}]])
    assert stage_encoding.encodable([[{"output_type": "stream", "name": "stdout", "text": "fine"}]])
