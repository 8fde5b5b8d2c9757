"""Notebooks as files over the REST notebook API (open, create, upload, rename, save, save as, close) and
questions to their kernel (completion, inspection), against a real Jupyter server, a real pycrdt client in
the room and a real python kernel."""

from __future__ import annotations

import json

import nbformat
import pytest
from jupyter_ydoc import YNotebook

from execution_helpers import gated_cell
from jupyter_helpers import disk_sources, read_notebook, server_config, write_notebook
from test_notebook_api import INFO, Notebooks, sources, until, valid


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(save_max_wait=30.0, journal_path=str(tmp_path / "journal.sqlite"))


@pytest.fixture
def api(jp_fetch) -> Notebooks:
    return Notebooks(jp_fetch)


async def sessions(jp_fetch) -> list[dict]:
    return json.loads((await jp_fetch("api", "sessions")).body)


async def test_create_open_and_upload_go_through_the_contents_and_session_managers(api, jp_fetch, jp_root_dir):
    created = valid(INFO, await api.ok("PUT", "made.ipynb", body={}, status=201))
    # The file has no cell; the live notebook has the empty code cell every frontend shows in an empty notebook.
    assert created["cell_count"] == 1 and created["metadata"]["kernelspec"]["name"] == "python3"
    assert read_notebook(jp_root_dir, "made.ipynb").metadata.kernelspec.name == "python3"
    listing = json.loads((await jp_fetch("api", "contents")).body)["content"]
    assert "made.ipynb" in [entry["name"] for entry in listing]  # the file browser sees it

    assert (await api.ok("PUT", "made.ipynb", body={}))["path"] == "made.ipynb"  # opened: it exists
    code, error, _ = await api.nb("PUT", "made.ipynb", body={"exists": "fail"})
    assert code == 409 and error["error"] == "conflict"

    upload = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("up = 1", id="up")])
    uploaded = await api.ok("PUT", "up.ipynb", body={"content": upload}, status=201)
    assert uploaded["cell_count"] == 1
    assert (await api.ok("GET", "up.ipynb", "cells", "up"))["cell"]["source"] == "up = 1"
    code, error, _ = await api.nb("PUT", "up.ipynb", body={"content": upload})
    assert code == 409
    code, error, _ = await api.nb("PUT", "bad.ipynb", body={"content": {"cells": "no"}})
    assert code == 400 and "not a valid notebook" in error["message"]
    assert not (jp_root_dir / "bad.ipynb").exists()
    code, error, _ = await api.nb("PUT", "nofolder/x.ipynb", body={})
    assert code == 404
    code, error, _ = await api.nb("PUT", "x.txt", body={})
    assert code == 400

    with_kernel = await api.ok("PUT", "k.ipynb", body={"kernel": {}}, status=201)
    assert with_kernel["kernel"]["name"] == "python3"
    assert [s["kernel"]["id"] for s in await sessions(jp_fetch) if s["path"] == "k.ipynb"] == [
        with_kernel["kernel"]["id"]
    ]
    again = await api.ok("PUT", "k.ipynb", body={"kernel": {}})
    assert again["kernel"]["id"] == with_kernel["kernel"]["id"]  # its session's kernel, not a second one
    closed = await api.ok("DELETE", "k.ipynb", kernel="shutdown")
    assert closed == {"path": "k.ipynb", "saved": True, "kernels_shut_down": [with_kernel["kernel"]["id"]]}
    assert not [s for s in await sessions(jp_fetch) if s["path"] == "k.ipynb"]


async def test_rename_moves_the_open_document_and_its_session_and_later_saves_go_to_the_new_path(
    api, collab, jp_fetch, jp_root_dir
):
    path = write_notebook(jp_root_dir, "old.ipynb", ["a = 1"])
    client, _ = await collab.open(path)
    opened = await api.ok("PUT", path, body={"kernel": {}})
    await api.ok("POST", path, "cells", body={"source": "b = 2"}, status=201)  # unsaved (30 s max wait)

    (jp_root_dir / "sub").mkdir()
    renamed = await api.ok("PATCH", path, body={"path": "sub/new.ipynb"})
    assert renamed["path"] == "sub/new.ipynb"
    assert not (jp_root_dir / "old.ipynb").exists() and (jp_root_dir / "sub" / "new.ipynb").exists()
    await client.wait_for(lambda: YNotebook(client.doc).ystate.get("path") == "sub/new.ipynb")
    assert [s["kernel"]["id"] for s in await sessions(jp_fetch) if s["path"] == "sub/new.ipynb"] == [
        opened["kernel"]["id"]
    ]

    saved = await api.ok("POST", "sub/new.ipynb", "save")
    assert saved["dirty"] is False
    assert disk_sources(jp_root_dir, "sub/new.ipynb") == ["a = 1", "b = 2"]
    assert not (jp_root_dir / "old.ipynb").exists()
    code, error, _ = await api.nb("GET", "old.ipynb")
    assert code == 404

    write_notebook(jp_root_dir, "taken.ipynb", ["x"])
    code, error, _ = await api.nb("PATCH", "sub/new.ipynb", body={"path": "taken.ipynb"})
    assert code == 409 and error["error"] == "conflict"
    code, error, _ = await api.nb("PATCH", "sub/new.ipynb", body={})
    assert code == 400
    await api.ok("DELETE", "sub/new.ipynb", kernel="shutdown")


async def test_save_as_writes_the_live_content_with_unsaved_edits_and_opens_the_copy(api, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "orig.ipynb", ["a = 1"])
    client, _ = await collab.open(path)
    text = YNotebook(client.doc).ycells[0]["source"]
    text += " + 1"  # typed in the browser, not saved yet (30 s max wait)
    await until(lambda: api.ok("GET", path, "cells"), lambda a: a["cells"][0]["source"] == "a = 1 + 1", what="typing")

    copy = await api.ok("POST", path, "copy", body={"path": "copy.ipynb"}, status=201)
    assert copy["path"] == "copy.ipynb" and copy["dirty"] is False
    assert disk_sources(jp_root_dir, "copy.ipynb") == ["a = 1 + 1"]
    assert disk_sources(jp_root_dir, path) == ["a = 1"]  # the original is saved on its own schedule
    assert sources(client) == ["a = 1 + 1"]
    code, error, _ = await api.nb("POST", path, "copy", body={"path": "copy.ipynb"})
    assert code == 409
    assert (await api.ok("DELETE", path))["saved"] is True
    assert disk_sources(jp_root_dir, path) == ["a = 1 + 1"]


async def test_completion_and_inspection_by_the_notebooks_kernel_count_code_points(api, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "ask.ipynb", ["import os\nvalue_of_pi = 3.14", "s = '😀'; value_of"])
    cells = (await api.ok("GET", path, "cells"))["cells"]
    code, record, _ = await api.nb("POST", path, "cells", cells[0]["id"], "execute", body={})
    assert code == 202
    await api.finished(record["id"], timeout=60)

    done = await api.ok("POST", path, "complete", body={"cell_id": cells[1]["id"]})
    assert "value_of_pi" in done["matches"]
    source = cells[1]["source"]
    assert done["cursor_start"] == source.index("value_of") and done["cursor_end"] == len(source)
    other = await api.ok("POST", path, "complete", body={"code": "os.pa", "position": 5})
    assert "os.path" in other["matches"] or "path" in other["matches"]

    found = await api.ok("POST", path, "inspect", body={"code": "len(x)", "position": 2})
    assert found["found"] is True and "text/plain" in found["data"]
    missing = await api.ok("POST", path, "inspect", body={"code": "no_such_name", "position": 3})
    assert missing["found"] is False

    for bad in ({}, {"code": "x", "cell_id": "y"}, {"code": "x", "position": 5}, {"code": "x", "detail_level": 3}):
        code, error, _ = await api.nb("POST", path, "complete" if "detail_level" not in bad else "inspect", body=bad)
        assert code == 400, bad
    code, error, _ = await api.nb("POST", path, "complete", body={"cell_id": "nope"})
    assert code == 404


async def test_a_kernel_busy_running_a_cell_answers_kernel_timeout_in_bounded_time(
    api, jp_root_dir, jp_serverapp, tmp_path
):
    gate = tmp_path / "gate"
    path = write_notebook(jp_root_dir, "busy.ipynb", [gated_cell(gate)])
    (cell,) = (await api.ok("GET", path, "cells"))["cells"]
    code, record, _ = await api.nb("POST", path, "cells", cell["id"], "execute", body={})
    await api.printed(record["id"], "waiting", timeout=60)
    jp_serverapp.web_app.settings["supernode_kernel_queries"].timeout = 1.0
    code, error, _ = await api.nb("POST", path, "complete", body={"code": "pri"})
    assert code == 504 and error["error"] == "kernel_timeout" and "1s" in error["message"]
    gate.touch()
    assert (await api.finished(record["id"]))["status"] == "ok"
    jp_serverapp.web_app.settings["supernode_kernel_queries"].timeout = 10.0
    assert "print" in (await api.ok("POST", path, "complete", body={"code": "pri"}))["matches"]


async def test_scratch_code_runs_on_the_notebooks_kernel_and_leaves_the_notebook_alone(api, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "scratch.ipynb", ["secret = 6 * 7"])
    client, _ = await collab.open(path)
    (cell,) = (await api.ok("GET", path, "cells"))["cells"]
    code, record, _ = await api.nb("POST", path, "cells", cell["id"], "execute", body={})
    await api.finished(record["id"], timeout=60)
    before = await api.ok("GET", path, "cells")

    code, record, location = await api.nb("POST", path, "scratch", body={"code": "print(secret)\nsecret + 1"})
    assert code == 202 and location.endswith(record["id"]) and record["path"] == ""
    done = await api.finished(record["id"], timeout=60)
    assert done["status"] == "ok"
    outputs = done["cells"][0]["outputs"]
    assert outputs[0]["text"] == "42\n" and outputs[1]["data"]["text/plain"] == "43"  # the notebook's kernel
    after = await api.ok("GET", path, "cells")
    assert after["cells"] == before["cells"] and sources(client) == ["secret = 6 * 7"]

    code, error, _ = await api.nb("POST", path, "scratch", body={})
    assert code == 400
    code, error, _ = await api.nb("POST", "nope.ipynb", "scratch", body={"code": "1"})
    assert code == 404


async def test_with_two_kernel_sessions_for_one_notebook_consecutive_runs_share_a_kernel(
    api, collab, jp_root_dir, jp_serverapp
):
    """A frontend and a program may each start a session for a notebook at the same moment: runs without a
    named kernel then stay on the kernel the notebook's runs used last, not on whichever session is listed first."""
    path = write_notebook(jp_root_dir, "two.ipynb", ["v = 1", "print(v)"])
    _, session = await collab.open(path)
    first, second = [c["id"] for c in (await api.ok("GET", path, "cells"))["cells"]]
    sm = jp_serverapp.session_manager
    listed_first = await sm.create_session(path=path, name=path, type="notebook", kernel_name="python3")
    other = await sm.create_session(path=path, name=path, type="notebook", kernel_name="python3")
    assert (await sm.list_sessions())[0]["kernel"]["id"] == listed_first["kernel"]["id"]

    body = {"cell_id": first, "document_id": f"json:notebook:{session.file_id}"}
    code, record, _ = await api.call("POST", "api", "kernels", other["kernel"]["id"], "execute", body=body)
    assert code == 202 and (await api.finished(record["id"], timeout=60))["status"] == "ok"
    code, record, _ = await api.nb("POST", path, "cells", second, "execute", body={})
    done = await api.finished(record["id"], timeout=60)
    assert done["status"] == "ok" and done["cells"][0]["outputs"][0]["text"] == "1\n"
