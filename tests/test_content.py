"""Reading a notebook's content from its shared document: the fast reading of large notebooks gives
exactly what jupyter_ydoc's own ``get`` gives, for any notebook (property-based)."""

from __future__ import annotations

import json
import time

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_ydoc import YNotebook
from pycrdt import Array, Doc, Map, Text

from supernode.content import build_document
from supernode.snapshot import notebook_cells, notebook_content, notebook_meta, snapshot
from supernode.keys import DocumentKey
from supernode.notebook_builder import build_notebook

KEY = DocumentKey.parse("json:notebook:5a1d3c1e-0b6f-4c55-9a1b-6f7a3d2e1c00")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
metadata = st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=4)
outputs = st.lists(
    st.one_of(
        st.builds(
            lambda name, text: {"output_type": "stream", "name": name, "text": text},
            st.sampled_from(["stdout", "stderr"]),
            st.text(max_size=40),
        ),
        st.builds(
            lambda data, md: {"output_type": "display_data", "data": data, "metadata": md},
            st.fixed_dictionaries({"text/plain": st.text(max_size=20)}, optional={"application/json": values}),
            metadata,
        ),
        st.builds(
            lambda ename, tb: {"output_type": "error", "ename": ename, "evalue": "", "traceback": tb},
            st.text(max_size=10),
            st.lists(st.text(max_size=20), max_size=3),
        ),
    ),
    max_size=3,
)


@st.composite
def cells(draw, index: int):
    kind = draw(st.sampled_from(["code", "markdown", "raw"]))
    cell = {"id": f"cell-{index}", "cell_type": kind, "metadata": draw(metadata), "source": draw(st.text(max_size=60))}
    if kind == "code":
        cell["outputs"] = draw(outputs)
        cell["execution_count"] = draw(st.one_of(st.none(), st.integers(1, 10_000)))
    elif draw(st.booleans()):
        cell["attachments"] = draw(st.one_of(st.just({}), st.just({"a.png": {"image/png": "iVBORw0KGgo="}})))
    return cell


@st.composite
def notebooks(draw):
    count = draw(st.integers(1, 12))
    return {
        "nbformat": 4,
        "nbformat_minor": draw(st.sampled_from([4, 5])),
        "metadata": draw(metadata),
        "cells": [draw(cells(i)) for i in range(count)],
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks())
def test_the_fast_reading_is_jupyter_ydocs_get(nb):
    document = build_document(KEY, nb)
    meta = notebook_meta(document)
    assert notebook_content(meta, notebook_cells(document, meta)) == document.get()


def test_a_large_notebook_is_read_fast_and_the_same():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"x = {i}", execution_count=i) for i in range(1, 400)]
    nb.cells[5].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1.5"}, execution_count=5)]
    document = build_document(KEY, json.loads(nbformat.writes(nb)))
    assert snapshot(KEY, document) == document.get()


def test_duplicate_ids_are_left_to_jupyter_ydoc():
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"id": f"c{i}", "cell_type": "markdown", "metadata": {}, "source": str(i)} for i in range(2)],
    }
    document = build_document(KEY, nb)
    document.ycells[1]["id"] = "c0"  # a client gave two cells one id
    assert notebook_cells(document, notebook_meta(document)) is None
    with pytest.warns(UserWarning, match="Non-unique cell ID"):  # jupyter_ydoc renames the other
        ids = [cell["id"] for cell in snapshot(KEY, document)["cells"]]
    assert ids[0] == "c0" and ids[1] != "c0"


def shape(value):
    """The shared types of a document's values (Text, Map, Array), with plain values as they are."""
    if isinstance(value, Text):
        return ("text", str(value))
    if isinstance(value, Map):
        return ("map", {key: shape(item) for key, item in value.items()})
    if isinstance(value, Array):
        return ("array", [shape(item) for item in value])
    return value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks())
def test_the_linear_build_is_jupyter_ydocs_set(nb):
    ours, theirs = Doc(client_id=0), Doc(client_id=0)
    notebook = YNotebook(ours)
    with ours.transaction():
        build_notebook(notebook, json.loads(json.dumps(nb)))
    YNotebook(theirs).set(json.loads(json.dumps(nb)))
    for root in ("meta", "cells"):
        kind = Map if root == "meta" else Array
        assert shape(ours.get(root, type=kind)) == shape(theirs.get(root, type=kind))
    assert YNotebook(ours).get() == YNotebook(theirs).get()
    assert ours.get_state() == theirs.get_state()  # as many items, as long
    again = Doc(client_id=0)
    notebook = YNotebook(again)
    with again.transaction():
        build_notebook(notebook, json.loads(json.dumps(nb)))
    assert again.get_state() == ours.get_state()


def code_notebook(count: int, outputs_of=lambda i: []) -> dict:
    """A notebook of ``count`` code cells (ids ``c0``, ``c1``...), cell ``i`` with the outputs ``outputs_of(i)``."""
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {
                "id": f"c{i}",
                "cell_type": "code",
                "metadata": {},
                "source": f"x = {i}",
                "outputs": outputs_of(i),
                "execution_count": None,
            }
            for i in range(count)
        ],
    }


def test_a_load_builds_a_notebook_in_linear_time():
    def took(n: int) -> float:
        started = time.perf_counter()
        build_document(KEY, code_notebook(n))
        return time.perf_counter() - started

    took(500)  # warm
    small, large = min(took(2_000) for _ in range(3)), min(took(16_000) for _ in range(2))
    assert large < 8 * small * 2.5, (small, large)  # 8x the cells: far from 64x (quadratic)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(outputs, st.integers(0, 400))
def test_the_staged_loads_size_check_is_the_size_of_the_outputs_json(cell_outputs, limit):
    """Which cells a staged load delays: its bounds (characters; everything escaped) answer as the
    encoded JSON's size does, for any outputs and threshold, escapes and astral characters included."""
    from supernode.content import _larger_than

    size = len(json.dumps(cell_outputs, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    assert _larger_than(cell_outputs, limit) == (size > limit)
    assert _larger_than([{"output_type": "stream", "name": "stdout", "text": "\x00\U0001f600" * 50}], limit) == (
        len(
            json.dumps(
                [{"output_type": "stream", "name": "stdout", "text": "\x00\U0001f600" * 50}],
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
        )
        > limit
    )
