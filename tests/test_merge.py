"""The three-way merge of a notebook edited on disk while its room is open."""

from __future__ import annotations

import copy

from supernode.merge import conflicting_cells, merge_notebooks


def code(cid: str, source: str, outputs: list | None = None, count: int | None = None, **metadata) -> dict:
    return {
        "id": cid,
        "cell_type": "code",
        "source": source,
        "metadata": metadata,
        "outputs": outputs or [],
        "execution_count": count,
    }


def stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def notebook(*cells: dict) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


def test_a_cell_the_disk_did_not_touch_stays_live_and_trust_marks_are_not_edits():
    base = notebook(code("a", "x"), code("b", "y"))
    live = notebook(code("a", "x live"), code("b", "y"))
    disk = notebook(code("a", "x", trusted=True), code("b", "y on disk", trusted=True))
    merged = merge_notebooks(base, disk, live)
    assert [c["source"] for c in merged["cells"]] == ["x live", "y on disk"]


def test_a_cell_both_changed_is_merged_field_by_field():
    base = notebook(code("a", "print(1)"))
    live = notebook(code("a", "print(1)", [stream("1\n")], 3))  # a kernel ran it
    disk = notebook(code("a", "print(2)"))  # someone edited its source on disk
    (cell,) = merge_notebooks(base, disk, live)["cells"]
    assert cell == code("a", "print(2)", [stream("1\n")], 3)


def test_a_running_cells_outputs_stay_live_whatever_the_disk_says():
    base = notebook(code("a", "loop", [stream("0\n1\n")]), code("b", "y"))
    live = notebook(code("a", "loop", [stream("0\n1\n2\n3\n")]), code("b", "y"))
    disk = notebook(code("a", "loop", [stream("0\n")]), code("b", "y on disk"))  # written from an old copy
    merged = merge_notebooks(base, disk, live, running={"a"})
    assert merged["cells"][0] == live["cells"][0]
    assert merged["cells"][1]["source"] == "y on disk"
    # Not running: the disk's change to the outputs is an edit, and it is taken.
    assert merge_notebooks(base, disk, live)["cells"][0]["outputs"] == [stream("0\n")]


def test_cells_added_deleted_and_retyped():
    base = notebook(code("a", "a"), code("b", "b"), code("c", "c"))
    live = notebook(code("a", "a"), code("new", "added live"), code("c", "c live"))  # b deleted live
    disk = notebook(
        code("a", "a"),
        code("b", "b"),
        {"id": "c", "cell_type": "markdown", "source": "c as markdown", "metadata": {}},
        code("d", "added on disk"),
    )
    merged = merge_notebooks(copy.deepcopy(base), disk, live)
    assert [(c["id"], c["cell_type"], c["source"]) for c in merged["cells"]] == [
        ("a", "code", "a"),
        ("new", "code", "added live"),
        ("c", "markdown", "c as markdown"),
        ("d", "code", "added on disk"),
    ]


def test_conflicting_cells_are_those_whose_typed_source_the_merge_would_lose():
    base = notebook(code("a", "x"), code("b", "y"), code("c", "z"), code("d", "w"), code("e", "v"))
    live = notebook(code("a", "x typed"), code("b", "y typed"), code("c", "z typed"), code("d", "w"), code("e", "v typed"))
    disk = notebook(
        code("a", "x on disk"),  # both changed the source: a conflict
        code("b", "y typed"),  # the disk made the same edit: none
        # c: deleted on disk while typed in: a conflict
        code("d", "w on disk"),  # nobody typed in it: none
        {**code("e", "v"), "cell_type": "markdown"},  # type changed on disk while typed in: a conflict
    )
    assert conflicting_cells(base, disk, live) == ["a", "c", "e"]
    assert conflicting_cells(base, base, live) == []
