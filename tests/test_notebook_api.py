"""The REST notebook API: cells by id on the live notebook that browsers edit, against a real Jupyter server,
a real pycrdt client in the room and a real python kernel. Every change shows in the client at once and
reaches the file; nothing a client types meanwhile is lost or duplicated."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nbformat
import pytest
from jsonschema import Draft202012Validator
from jupyter_ydoc import YNotebook
from pycrdt import Doc
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from execution_helpers import Api, stream_text
from helpers import eventually
from jupyter_helpers import disk_sources, read_notebook, server_config, write_notebook

from rtc_client.text import index_to_utf8
from rtc_common.schema import schema_path
from supernode.records import source_hash

SCHEMAS = Path(schema_path("notebook-cell.json")).parent


def _validator(name: str) -> Draft202012Validator:
    registry = Registry().with_resources(
        (path.name, Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012))
        for path in SCHEMAS.glob("*.json")
    )
    return Draft202012Validator(json.loads((SCHEMAS / name).read_text()), registry=registry)


CHANGE, CELLS, INFO = (
    _validator("cell-change.json"),
    _validator("notebook-cells.json"),
    _validator("notebook-info.json"),
)


def valid(validator: Draft202012Validator, body: dict) -> dict:
    errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]
    assert not errors, errors
    return body


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(save_max_wait=1.0, journal_path=str(tmp_path / "journal.sqlite"))


class Notebooks(Api):
    """The notebook API of the test's server."""

    async def nb(self, method: str, path: str, *parts: str, body: dict | None = None, **params: str):
        return await self.call(method, "api", "rtc", "notebooks", path, *parts, body=body, **params)

    async def ok(self, method: str, path: str, *parts: str, body: dict | None = None, status: int = 200, **params):
        code, answer, _ = await self.nb(method, path, *parts, body=body, **params)
        assert code == status, (code, answer)
        return answer


@pytest.fixture
def api(jp_fetch) -> Notebooks:
    return Notebooks(jp_fetch)


def mixed_notebook(root, name: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title", id="intro"),
        nbformat.v4.new_code_cell("x = 1", id="first"),
        nbformat.v4.new_code_cell("print(x + 1)", id="second"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / name).write_text(nbformat.writes(nb), encoding="utf-8")
    return name


async def until(read, check, timeout: float = 10.0, what: str = "an answer"):
    """``await read()`` every 50 ms until ``check`` holds for it; return it (fail after ``timeout`` s)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}: {value}"
        await asyncio.sleep(0.05)


def disk_cells(root, path: str) -> list[tuple] | None:
    """(source, outputs, execution_count) of each cell on disk, or None while the file is being written."""
    try:
        return [(c.source, c.get("outputs"), c.get("execution_count")) for c in read_notebook(root, path).cells]
    except (OSError, ValueError):
        return None


def sources(client) -> list[str]:
    return [cell["source"] for cell in YNotebook(client.doc).get()["cells"]]


def ids(client) -> list[str]:
    return [str(ycell.get("id")) for ycell in YNotebook(client.doc).ycells]


async def test_reading_a_notebook_its_cells_and_one_cell(api, jp_root_dir):
    path = mixed_notebook(jp_root_dir, "read.ipynb")
    info = valid(INFO, await api.ok("GET", path))
    assert info["path"] == path and info["cell_count"] == 3 and info["metadata"]["kernelspec"]["name"] == "python3"
    assert info["dirty"] is False

    listed = valid(CELLS, await api.ok("GET", path, "cells"))
    assert [c["id"] for c in listed["cells"]] == ["intro", "first", "second"]
    assert [c["index"] for c in listed["cells"]] == [0, 1, 2]
    assert listed["cells"][1]["outputs"] == [] and listed["cells"][1]["execution_state"] == "idle"
    assert "outputs" not in listed["cells"][0]
    assert listed["cells"][2]["source_hash"] == source_hash("print(x + 1)")
    assert listed["version"] == info["version"]

    page = valid(CELLS, await api.ok("GET", path, "cells", offset="1", limit="1", outputs="false"))
    assert page["count"] == 3 and page["offset"] == 1 and [c["id"] for c in page["cells"]] == ["first"]
    assert "outputs" not in page["cells"][0]

    one = valid(CHANGE, await api.ok("GET", path, "cells", "second"))
    assert one["cell"]["source"] == "print(x + 1)" and one["cell"]["index"] == 2

    code, error, _ = await api.nb("GET", path, "cells", "nope")
    assert code == 404 and error["error"] == "not_found" and "nope" in error["message"]
    code, error, _ = await api.nb("GET", "missing.ipynb", "cells")
    assert code == 404 and error["error"] == "not_found"
    code, error, _ = await api.nb("GET", path, "cells", offset="-1")
    assert code == 400 and error["error"] == "bad_request"


async def test_a_path_with_folders_and_the_word_cells_in_it(api, jp_root_dir):
    (jp_root_dir / "cells" / "deep").mkdir(parents=True)
    path = write_notebook(jp_root_dir, "cells/deep/cells.ipynb", ["a = 1"])
    listed = await api.ok("GET", path, "cells")
    (cell,) = listed["cells"]
    assert cell["source"] == "a = 1"
    assert (await api.ok("GET", path, "cells", cell["id"]))["cell"]["source"] == "a = 1"


async def test_inserted_cells_show_in_the_room_at_once_and_reach_the_file(api, collab, jp_root_dir):
    path = mixed_notebook(jp_root_dir, "insert.ipynb")
    client, _ = await collab.open(path)

    end = valid(CHANGE, await api.ok("POST", path, "cells", body={"source": "y = 2"}, status=201))
    assert end["cell"]["index"] == 3 and end["cell"]["cell_type"] == "code" and end["cell"]["outputs"] == []
    before = await api.ok(
        "POST", path, "cells", body={"cell_type": "markdown", "source": "## Setup", "before": "first"}, status=201
    )
    assert before["cell"]["index"] == 1
    at = await api.ok(
        "POST", path, "cells", body={"cell_type": "raw", "source": "raw", "index": 0, "id": "top"}, status=201
    )
    assert at["cell"]["id"] == "top" and at["version"] != before["version"] != end["version"]

    expected = ["raw", "# Title", "## Setup", "x = 1", "print(x + 1)", "y = 2"]
    await client.wait_for(lambda: sources(client) == expected)
    assert ids(client)[0] == "top" and ids(client)[2] == before["cell"]["id"]
    await eventually(lambda: disk_sources(jp_root_dir, path) == expected, timeout=10)
    on_disk = read_notebook(jp_root_dir, path).cells
    assert [c.cell_type for c in on_disk] == ["raw", "markdown", "markdown", "code", "code", "code"]

    code, error, _ = await api.nb("POST", path, "cells", body={"id": "top"})
    assert code == 400 and "exists" in error["message"]
    code, error, _ = await api.nb("POST", path, "cells", body={"cell_type": "heading"})
    assert code == 400 and error["error"] == "bad_request"
    code, error, _ = await api.nb("POST", path, "cells", body={"before": "nope"})
    assert code == 404
    code, error, _ = await api.nb("POST", path, "cells", body={"index": 99})
    assert code == 400
    await client.wait_for(lambda: len(sources(client)) == 6)


async def test_edits_in_code_points_keep_what_a_client_types_in_the_same_cell(api, collab, jp_root_dir):
    """A source with characters of 2, 3 and 4 UTF-8 bytes (and 2 UTF-16 units): REST edits land where the code
    points of the source as the server has it say; what a pycrdt client typed in the same cell stays."""
    path = write_notebook(jp_root_dir, "edit.ipynb", ["s = 'é€😀'\nt = 1"])
    client, _ = await collab.open(path)
    (cell_id,) = ids(client)

    # The client types at the start; the API client reads the cell once the server has it, then replaces "t = 1".
    nb = YNotebook(client.doc)
    nb.ycells[0]["source"].insert(0, "# typed\n")
    seen = await until(
        lambda: api.ok("GET", path, "cells", cell_id),
        lambda a: a["cell"]["source"].startswith("# typed"),
        what="typing",
    )
    source = seen["cell"]["source"]
    start = source.index("t = 1")
    edit = {"start": start, "end": start + 5, "text": "t = '😀'"}
    body = {"edits": [edit], "expected_source_hash": seen["cell"]["source_hash"]}
    answer = valid(CHANGE, await api.ok("PATCH", path, "cells", cell_id, body=body))
    final = "# typed\ns = 'é€😀'\nt = '😀'"
    assert answer["cell"]["source"] == final and answer["cell"]["source_hash"] == source_hash(final)
    await client.wait_for(lambda: sources(client) == [final])
    await eventually(lambda: disk_sources(jp_root_dir, path) == [final], timeout=10)

    # Several edits in one call, given in any order, positions in the source as it is.
    emoji = final.index("😀")
    answer = await api.ok(
        "PATCH",
        path,
        "cells",
        cell_id,
        body={
            "edits": [
                {"start": len(final), "text": "!"},
                {"start": emoji, "end": emoji + 1, "text": "🎉"},
                {"start": 0, "end": 2},
            ]
        },
    )
    expected = final[2:emoji] + "🎉" + final[emoji + 1 :] + "!"
    assert answer["cell"]["source"] == expected
    await client.wait_for(lambda: sources(client) == [expected])
    assert index_to_utf8(expected, len(expected)) == len(expected.encode())

    # A whole source is applied as the smallest edit: an edit made offline by a client in the middle of the cell
    # at the same time (merged when it comes back) lands where it was made, not scattered around the new text.
    offline = Doc()
    offline.apply_update(client.doc.get_update())
    text = YNotebook(offline).ycells[0]["source"]
    middle = expected.index("s = ") + 4  # away from the text replaced (two inserts at one place may go either way)
    text.insert(index_to_utf8(expected, middle), "# offline")
    replaced = await api.ok("PATCH", path, "cells", cell_id, body={"source": expected.replace("typed", "TYPED")})
    assert replaced["cell"]["source"] == expected.replace("typed", "TYPED")
    await client.wait_for(lambda: sources(client)[0].startswith("TYPED"))
    client.doc.apply_update(offline.get_update(client.doc.get_state()))
    merged = expected[:middle].replace("typed", "TYPED") + "# offline" + expected[middle:]
    await client.wait_for(lambda: sources(client) == [merged])
    await until(lambda: api.ok("GET", path, "cells", cell_id), lambda a: a["cell"]["source"] == merged, what="merge")

    for bad in (
        {"edits": [{"start": 0, "end": 999}]},
        {"edits": [{"start": 0, "end": 3}, {"start": 2, "end": 4}]},
        {"edits": [{"start": "0"}]},
        {"edits": "x"},
        {"source": "a", "edits": []},
        {"source": 3},
    ):
        code, error, _ = await api.nb("PATCH", path, "cells", cell_id, body=bad)
        assert code == 400 and error["error"] == "bad_request", bad


async def test_expected_version_and_source_hash_refuse_a_change_made_on_something_else(api, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "guard.ipynb", ["a = 1", "b = 2"])
    client, _ = await collab.open(path)
    listed = await api.ok("GET", path, "cells")
    version = listed["version"]
    first, second = listed["cells"]

    # Someone edits the second cell: the notebook's version moves, the first cell's hash does not.
    text = YNotebook(client.doc).ycells[1]["source"]
    text += " + 1"
    await until(lambda: api.ok("GET", path), lambda info: info["version"] != version, what="a new version")

    code, error, _ = await api.nb(
        "PATCH", path, "cells", first["id"], body={"source": "a = 10", "expected_version": version}
    )
    assert code == 409 and error["error"] == "version_changed"
    code, error, _ = await api.nb(
        "PATCH", path, "cells", second["id"], body={"source": "b = 20", "expected_source_hash": second["source_hash"]}
    )
    assert code == 409 and error["error"] == "source_changed"
    code, error, _ = await api.nb("DELETE", path, "cells", second["id"], expected_source_hash=second["source_hash"])
    assert code == 409 and error["error"] == "source_changed"
    assert sources(client) == ["a = 1", "b = 2 + 1"]

    done = await api.ok(
        "PATCH", path, "cells", first["id"], body={"source": "a = 10", "expected_source_hash": first["source_hash"]}
    )
    current = done["version"]
    moved = await api.ok("POST", path, "cells", second["id"], "move", body={"index": 0, "expected_version": current})
    assert moved["cell"]["index"] == 0
    code, error, _ = await api.nb(
        "POST", path, "cells", second["id"], "move", body={"index": 1, "expected_version": current}
    )
    assert code == 409 and error["error"] == "version_changed"
    await client.wait_for(lambda: sources(client) == ["b = 2 + 1", "a = 10"])


async def test_type_changes_moves_splits_and_merges_keep_ids_and_content(api, collab, jp_root_dir):
    path = mixed_notebook(jp_root_dir, "shape.ipynb")
    client, _ = await collab.open(path)
    await api.ok("PATCH", path, "cells", "first", body={"metadata": {"tags": ["setup"], "collapsed": True}})
    changed = await api.ok(
        "PATCH", path, "cells", "first", body={"cell_type": "markdown", "metadata": {"collapsed": None}}
    )
    cell = changed["cell"]
    assert cell["id"] == "first" and cell["cell_type"] == "markdown" and cell["source"] == "x = 1"
    cell["metadata"].pop("trusted", None)  # the notary's mark, as the contents API gives it
    assert cell["metadata"] == {"tags": ["setup"]} and "outputs" not in cell
    back = await api.ok("PATCH", path, "cells", "first", body={"cell_type": "code"})
    assert back["cell"]["outputs"] == [] and back["cell"]["execution_count"] is None and back["cell"]["index"] == 1

    assert (await api.ok("POST", path, "cells", "intro", "move", body={}))["cell"]["index"] == 2  # to the end
    assert (await api.ok("POST", path, "cells", "intro", "move", body={"before": "first"}))["cell"]["index"] == 0
    assert (await api.ok("POST", path, "cells", "second", "move", body={"before": "first"}))["cell"]["index"] == 1
    await client.wait_for(lambda: ids(client) == ["intro", "second", "first"])

    split = valid(CHANGE, await api.ok("POST", path, "cells", "second", "split", body={"position": 6}))
    head, tail = split["cells"]
    assert head["id"] == "second" and head["source"] == "print(" and tail["source"] == "x + 1)"
    assert tail["index"] == 2 and tail["cell_type"] == "code" and tail["id"] != "second"
    await client.wait_for(lambda: ids(client) == ["intro", "second", tail["id"], "first"])

    merged = valid(CHANGE, await api.ok("POST", path, "cells", "second", "merge", body={}))
    assert merged["removed"] == tail["id"] and merged["cell"]["source"] == "print(\n\nx + 1)"
    await client.wait_for(lambda: ids(client) == ["intro", "second", "first"])
    code, error, _ = await api.nb("POST", path, "cells", "first", "merge", body={})
    assert code == 400 and "last cell" in error["message"]
    code, error, _ = await api.nb("POST", path, "cells", "second", "split", body={"position": 99})
    assert code == 400
    code, error, _ = await api.nb("POST", path, "cells", "second", "move", body={"before": "second"})
    assert code == 400

    deleted = await api.ok("DELETE", path, "cells", "intro")
    assert deleted["cell"]["source"] == "# Title"
    await client.wait_for(lambda: ids(client) == ["second", "first"])
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["print(\n\nx + 1)", "x = 1"], timeout=10)


async def test_edit_and_run_in_one_call_then_ranges_then_clearing_outputs(api, collab, jp_root_dir):
    path = mixed_notebook(jp_root_dir, "run.ipynb")
    client, _ = await collab.open(path)

    code, record, location = await api.nb("POST", path, "cells", "first", "execute", body={"source": "x = 41"})
    assert code == 202 and location.endswith(f"/api/rtc/executions/{record['id']}")
    assert [c["cell_id"] for c in record["cells"]] == ["first"]
    assert (await api.finished(record["id"]))["status"] == "ok"
    assert sources(client)[1] == "x = 41"

    code, record, _ = await api.nb("POST", path, "execute", body={"cells": "below", "cell_id": "second"})
    assert code == 202 and [c["cell_id"] for c in record["cells"]] == ["second"]
    done = await api.finished(record["id"])
    assert stream_text(done["cells"][0]["outputs"]) == "42\n"
    code, record, _ = await api.nb("POST", path, "execute", body={"cells": "above", "cell_id": "second"})
    assert [c["cell_id"] for c in record["cells"]] == ["first"]
    await api.finished(record["id"])
    code, record, _ = await api.nb("POST", path, "execute", body={})
    assert [c["cell_id"] for c in record["cells"]] == ["first", "second"]
    await api.finished(record["id"])

    cell = (await api.ok("GET", path, "cells", "second"))["cell"]
    assert stream_text(cell["outputs"]) == "42\n" and cell["execution_count"] == 5
    code, error, _ = await api.nb("POST", path, "cells", "second", "execute", body={"expected_source_hash": "0" * 64})
    assert code == 409 and error["error"] == "source_changed"
    code, error, _ = await api.nb("POST", path, "execute", body={"cells": "above", "cell_id": "intro"})
    assert code == 400 and "no code cell" in error["message"]
    code, error, _ = await api.nb("POST", path, "execute", body={"cells": "above"})
    assert code == 400

    cleared = await api.ok("DELETE", path, "cells", "second", "outputs")
    assert cleared["cleared"] == ["second"]
    cleared = await api.ok("DELETE", path, "outputs")
    assert cleared["cleared"] == ["first"]
    await eventually(
        lambda: [cell[1:] for cell in disk_cells(jp_root_dir, path) or []] == [(None, None), ([], None), ([], None)],
        timeout=10,
    )
    assert (await api.ok("DELETE", path, "outputs"))["cleared"] == []


async def test_an_old_notebook_without_cell_ids_is_served_with_the_ids_of_the_live_document(api, jp_root_dir):
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = 4
    nb.cells = [nbformat.v4.new_code_cell("old = True")]
    del nb.cells[0]["id"]
    (jp_root_dir / "old.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (cell,) = (await api.ok("GET", "old.ipynb", "cells"))["cells"]
    assert cell["id"] and (await api.ok("GET", "old.ipynb", "cells", cell["id"]))["cell"]["source"] == "old = True"
    changed = await api.ok("PATCH", "old.ipynb", "cells", cell["id"], body={"source": "old = False"})
    assert changed["cell"]["source"] == "old = False"
