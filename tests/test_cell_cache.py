"""The cache of a live notebook's cells (what a save reads and writes): after any sequence of edits (typing,
cells inserted, deleted, moved, ids and metadata changed, outputs added, updates from another document,
the whole content replaced, an older nbformat), reading through it gives exactly what reading the
document afresh gives, and the file text written with the texts it keeps is the text written afresh
(property-based); unchanged cells are not read or encoded again."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Map

from supernode.cell_cache import CellCache
from supernode.content import build_document, replace_content
from supernode.notebook_writer import _text
from supernode.snapshot import snapshot
from test_content import KEY, cells, code_notebook, metadata, notebooks, outputs

fresh_ids = (f"new-{n}" for n in itertools.count())
# What a client writes into a map (pycrdt takes integers of 64 bits at most, as numbers).
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**31), 2**31), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)

operations = st.one_of(
    st.tuples(st.just("type"), st.integers(0, 50), st.text(max_size=10)),
    st.tuples(st.just("insert"), st.integers(0, 50), cells(0)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("move"), st.integers(0, 50), st.integers(0, 50)),
    st.tuples(st.just("reinsert"), st.integers(0, 50), cells(0), st.booleans()),
    st.tuples(st.just("metadata"), st.integers(0, 50), st.text(min_size=1, max_size=5), values),
    st.tuples(st.just("output"), st.integers(0, 50), outputs),
    st.tuples(st.just("id"), st.integers(0, 50)),
    st.tuples(st.just("remote"), st.integers(0, 50), st.text(min_size=1, max_size=10)),
    st.tuples(st.just("replace"), notebooks()),
    st.tuples(st.just("top"), metadata),
    st.tuples(st.just("minor"), st.sampled_from([4, 5])),
    st.tuples(st.just("save")),
)


def apply(document, operation) -> None:
    """One edit of ``document`` (a YNotebook), as a client or the server would make it."""
    kind, *args = operation
    ycells = document.ycells
    count = len(ycells)
    at = args[0] % count if count and args and isinstance(args[0], int) else 0
    if kind == "type" and count:
        ycells[at]["source"].insert(0, args[1])
    elif kind == "insert":
        document.ycells.insert(at if count else 0, document.create_ycell({**args[1], "id": next(fresh_ids)}))
    elif kind == "delete" and count > 1:
        del ycells[at]
    elif kind == "move" and count:  # as JupyterLab moves a cell: deleted, and a copy inserted, in one transaction
        cell = ycells[at].to_py()  # (its numbers as the document holds them, not made integers)
        with document.ydoc.transaction():
            del ycells[at]
            ycells.insert(args[1] % count, document.create_ycell(cell))
    elif kind == "reinsert" and count:  # another cell in its place, with its id (pasted back, undone...)
        cell_id = ycells[at]["id"]
        with document.ydoc.transaction() if args[2] else contextlib.nullcontext():
            del ycells[at]
            ycells.insert(at, document.create_ycell({**args[1], "id": cell_id}))
    elif kind == "metadata" and count:
        ycells[at]["metadata"][args[1]] = args[2]
    elif kind == "output" and count and ycells[at]["cell_type"] == "code":
        with document.ydoc.transaction():
            for output in args[1]:
                ycells[at]["outputs"].append(Map(output))
            ycells[at]["execution_count"] = 7
    elif kind == "id" and count:
        ycells[at]["id"] = next(fresh_ids)
    elif kind == "remote" and count:  # typed in another document, merged in as an update
        other = Doc()
        other.apply_update(document.ydoc.get_update())
        state = other.get_state()
        other.get("cells", type=type(ycells))[at]["source"].insert(0, args[1])
        document.ydoc.apply_update(other.get_update(state))
    elif kind == "replace":
        replace_content(document, {**args[0], "cells": [{**c, "id": next(fresh_ids)} for c in args[0]["cells"]]})
    elif kind == "top":
        document._ymeta["metadata"] = args[0]
    elif kind == "minor":
        document._ymeta["nbformat_minor"] = args[0]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks(), st.lists(operations, max_size=25))
def test_reading_through_the_cache_is_reading_afresh(nb, edits):
    document = build_document(KEY, nb)
    cache = CellCache(KEY, document)
    try:
        for operation in [("save",), *edits, ("save",)]:
            apply(document, operation)
            if operation[0] != "save":
                continue
            content = cache.read()
            assert content == snapshot(KEY, document)
            parts, written = _text(content, cache)
            assert b"".join(parts) == b"".join(_text(content, None)[0])
            cache.wrote(written)
    finally:
        cache.close()


def _notebook(count: int) -> dict:
    return code_notebook(count, lambda i: [{"output_type": "stream", "name": "stdout", "text": f"{i}\n" * 1000}])


def test_unchanged_cells_are_neither_read_nor_encoded_again():
    for count in (20, 300):  # read one by one, and as JSON (from 200 cells on)
        document = build_document(KEY, _notebook(count))
        cache = CellCache(KEY, document)
        first = cache.read()
        cache.wrote(_text(first, cache)[1])
        document.ycells[3]["source"].insert(0, "x = 1\n")
        document.ycells.insert(
            5, document.create_ycell({"id": "new", "cell_type": "markdown", "metadata": {}, "source": "# New"})
        )
        second = cache.read()
        assert second == snapshot(KEY, document)
        kept = [cell for cell in second["cells"] if cell["id"] != "new"]
        same = [a is b for a, b in zip(first["cells"], kept, strict=True)]
        assert same == [i != 3 for i in range(count)]

        class Counting:
            asked = encoded = 0

            def __init__(self, cache):
                self.cache = cache

            def text_of(self, cell):
                Counting.asked += 1
                known = self.cache.text_of(cell)
                Counting.encoded += known is None
                return known

        parts, written = _text(second, Counting(cache))
        assert (Counting.asked, Counting.encoded) == (count + 1, 2)  # cell 3 and the new cell
        assert b"".join(parts) == b"".join(_text(second, None)[0])
        cache.close()


def test_two_cells_with_one_id_are_read_as_jupyter_ydoc_reads_them():
    document = build_document(KEY, _notebook(4))
    cache = CellCache(KEY, document)
    cache.read()
    document.ycells[2]["id"] = "c1"  # a client gave two cells one id: jupyter_ydoc renames one
    with pytest.warns(UserWarning, match="Non-unique cell ID"):
        content = cache.read()
    ids = [cell["id"] for cell in content["cells"]]
    assert len(set(ids)) == 4 and ids[1] == "c1"
    assert cache.read() == snapshot(KEY, document)  # the renamed id is in the document too
    cache.close()


def test_a_closed_cache_follows_nothing():
    document = build_document(KEY, _notebook(3))
    cache = CellCache(KEY, document)
    cache.read()
    cache.close()
    document.ycells[0]["source"].insert(0, "y")
    assert cache.read() == snapshot(KEY, document)  # read afresh (and following again)
    cache.close()
