"""Executions always end: a notebook deleted or renamed before an execution's turn, a journal that cannot be
written (a really full disk), a kernel that dies mid-cell, a cell deleted before it runs. Each execution ends
in a terminal state with its reason in the record (valid against the schema), the room is let go, and the
next execution on the notebook runs. Real Jupyter server, real kernels, a real tmpfs filled to the last byte."""

from __future__ import annotations

import sqlite3

import pytest
from jupyter_ydoc import YNotebook

from execution_helpers import Api, SmallDisk, assert_valid_record, cell_ids, gated_cell, stream_text
from helpers import eventually
from jupyter_helpers import server_config, write_notebook

WAIT = 60.0  # a deadline for a loaded machine: a kernel start, a restart after a death


@pytest.fixture
def journal_disk(tmp_path):
    disk = SmallDisk(tmp_path / "journal-disk")
    if not disk.mount():
        pytest.skip("mounting a tmpfs needs root (or CAP_SYS_ADMIN)")
    yield disk
    disk.unmount()


@pytest.fixture
def jp_server_config(request, tmp_path):
    if "journal_disk" in request.fixturenames:
        journal = request.getfixturevalue("journal_disk").path / "journal.sqlite"
    else:
        journal = tmp_path / "journal.sqlite"
    return server_config(journal_path=str(journal))


@pytest.fixture
def api(jp_fetch) -> Api:
    return Api(jp_fetch)


def room_of(serverapp, path: str) -> str:
    return f"json:notebook:{serverapp.web_app.settings['file_id_manager'].index(path)}"


def rooms(serverapp) -> dict:
    return serverapp.web_app.settings["rtc_relay"].rooms.rooms


async def test_a_notebook_deleted_before_its_turn_aborts_the_queued_execution(
    api, collab, jp_root_dir, jp_fetch, jp_serverapp, tmp_path
):
    gate = tmp_path / "gate"
    path = write_notebook(jp_root_dir, "deleted.ipynb", [gated_cell(gate), "print('never')"])
    first, second = cell_ids(jp_root_dir, path)
    room = room_of(jp_serverapp, path)
    _, running, _ = await api.run(path, [first])
    await api.printed(running["id"], "waiting")
    _, queued, _ = await api.run(path, [second])
    await jp_fetch("api", "contents", path, method="DELETE")
    gate.touch()

    assert (await api.finished(running["id"]))["status"] == "ok"
    done = await api.finished(queued["id"])
    assert_valid_record(done)
    assert done["status"] == "aborted" and done["cells"][0]["status"] == "aborted"
    assert "deleted or renamed" in done["abort_reason"]
    assert done["cells"][0]["outputs"] == []
    await eventually(lambda: room not in rooms(jp_serverapp), timeout=10, what="the room let go")
    assert not (jp_root_dir / path).exists()  # the end of the run did not recreate the file

    path = write_notebook(jp_root_dir, "deleted.ipynb", ["print('a new notebook there')"])
    (cell,) = cell_ids(jp_root_dir, path)
    code, after, _ = await api.run(path, [cell])
    assert code == 202, after
    done = await api.finished(after["id"], WAIT)
    assert done["status"] == "ok" and stream_text(done["cells"][0]["outputs"]) == "a new notebook there\n"


async def test_a_notebook_renamed_before_its_turn_aborts_the_queued_execution(
    api, collab, jp_root_dir, jp_fetch, jp_serverapp, tmp_path
):
    gate = tmp_path / "gate"
    path = write_notebook(jp_root_dir, "before.ipynb", [gated_cell(gate), "print('renamed')"])
    first, second = cell_ids(jp_root_dir, path)
    _, running, _ = await api.run(path, [first])
    await api.printed(running["id"], "waiting")
    _, queued, _ = await api.run(path, [second])
    await jp_fetch("api", "contents", path, method="PATCH", body='{"path": "after.ipynb"}')
    gate.touch()

    await api.finished(running["id"])
    done = await api.finished(queued["id"])
    assert_valid_record(done)
    assert done["status"] == "aborted" and "before.ipynb was deleted or renamed" in done["abort_reason"]

    code, after, _ = await api.run("after.ipynb", [second])  # the same cell, at the notebook's new path
    assert code == 202, after
    done = await api.finished(after["id"], WAIT)
    assert done["status"] == "ok" and stream_text(done["cells"][0]["outputs"]) == "renamed\n"


async def test_a_cell_deleted_before_it_runs_ends_its_execution_and_the_next_one_runs(
    api, collab, jp_root_dir, tmp_path
):
    gate = tmp_path / "gate"
    path = write_notebook(jp_root_dir, "cells.ipynb", [gated_cell(gate), "print('deleted')", "print('kept')"])
    first, doomed, kept = cell_ids(jp_root_dir, path)
    client, _ = await collab.open(path)
    _, running, _ = await api.run(path, [first])
    await api.printed(running["id"], "waiting")
    _, queued, _ = await api.run(path, [doomed, kept])
    nb = YNotebook(client.doc)
    del nb.ycells[1]  # a collaborator deletes the cell while it waits for its turn
    gate.touch()

    done = await api.finished(queued["id"])
    assert_valid_record(done)
    assert done["status"] == "error"
    assert [c["status"] for c in done["cells"]] == ["error", "aborted"]
    assert done["cells"][0]["error"]["ename"] == "CellNotFound"
    assert f"cell {doomed} was deleted" in done["abort_reason"]

    _, after, _ = await api.run(path, [kept])
    done = await api.finished(after["id"])
    assert done["status"] == "ok" and stream_text(done["cells"][0]["outputs"]) == "kept\n"


async def test_a_kernel_that_dies_mid_cell_aborts_the_execution_and_the_next_one_runs(api, collab, jp_root_dir):
    dies = "import os, time\nprint('dying', flush=True)\ntime.sleep(1)  # the output leaves first\nos._exit(1)"
    path = write_notebook(jp_root_dir, "dies.ipynb", [dies, "print('not run')", "print('next')"])
    dying, skipped, later = cell_ids(jp_root_dir, path)
    client, _ = await collab.open(path)
    _, record, _ = await api.run(path, [dying, skipped])

    done = await api.finished(record["id"], WAIT)
    assert_valid_record(done)
    assert done["status"] == "aborted" and done["abort_reason"] == "the kernel died"
    assert [c["status"] for c in done["cells"]] == ["aborted", "aborted"]
    assert stream_text(done["cells"][0]["outputs"]) == "dying\n"
    ycell = YNotebook(client.doc).ycells[0]
    await client.wait_for(lambda: ycell.get("execution_state") == "idle", timeout=10)

    _, after, _ = await api.run(path, [later])  # on the kernel its restarter brought back
    done = await api.finished(after["id"], WAIT)
    assert done["status"] == "ok", done
    assert stream_text(done["cells"][0]["outputs"]) == "next\n"


async def test_a_journal_on_a_full_disk_ends_executions_and_the_next_one_runs_once_it_has_room(
    api, collab, jp_root_dir, jp_serverapp, journal_disk, tmp_path
):
    gate = tmp_path / "gate"
    path = write_notebook(
        jp_root_dir, "full.ipynb", [gated_cell(gate), "print('queued')", "print('refused')", "print('after')"]
    )
    first, second, third, fourth = cell_ids(jp_root_dir, path)
    room = room_of(jp_serverapp, path)
    _, running, _ = await api.run(path, [first])
    await api.printed(running["id"], "waiting")
    _, queued, _ = await api.run(path, [second])

    journal_disk.fill()  # the journal's disk has not one byte left
    code, body, _ = await api.run(path, [third])
    assert code == 503 and body["error"] == "journal_unavailable", body
    assert "full" in body["message"]
    gate.touch()

    done = await api.finished(running["id"])  # it ran on: its record is kept in memory
    assert_valid_record(done)
    assert done["status"] == "ok" and stream_text(done["cells"][0]["outputs"]) == "waiting\nreleased\n"
    aborted = await api.finished(queued["id"])
    assert_valid_record(aborted)
    assert aborted["status"] == "aborted" and aborted["cells"][0]["status"] == "aborted"
    assert aborted["abort_reason"].startswith("not started: the execution journal cannot be written")
    assert "full" in aborted["abort_reason"]
    await eventually(lambda: room not in rooms(jp_serverapp), timeout=10, what="the room let go")

    def journalled() -> dict[str, str]:
        db = sqlite3.connect(journal_disk.path / "journal.sqlite")  # read as another program would
        try:
            return dict(db.execute("SELECT id, status FROM executions").fetchall())
        finally:
            db.close()

    journal_disk.free()  # what was kept in memory reaches the journal, as it ended, with no request
    ended = {running["id"]: "ok", queued["id"]: "aborted"}
    await eventually(lambda: journalled() == ended, timeout=3, what=f"{ended} journalled")

    code, after, _ = await api.run(path, [fourth])
    assert code == 202, after
    done = await api.finished(after["id"])
    assert done["status"] == "ok" and stream_text(done["cells"][0]["outputs"]) == "after\n"
    assert journalled() == {**ended, after["id"]: "ok"}


async def test_a_kernel_restarted_through_jupyter_mid_cell_aborts_the_execution_and_the_next_one_runs(
    api, collab, jp_root_dir, jp_fetch
):
    path = write_notebook(
        jp_root_dir, "restarted.ipynb", ["import time\nprint('busy', flush=True)\ntime.sleep(60)", "print('next')"]
    )
    busy, later = cell_ids(jp_root_dir, path)
    _, record, _ = await api.run(path, [busy])
    started = await api.printed(record["id"], "busy")
    kernel_id = started["cells"][0]["kernel_id"]
    await jp_fetch("api", "kernels", kernel_id, "restart", method="POST", body="{}")  # the kernel menu's restart

    done = await api.finished(record["id"])
    assert_valid_record(done)
    assert done["status"] == "aborted" and done["abort_reason"] == "the kernel was restarted"
    assert done["cells"][0]["status"] == "aborted"

    _, after, _ = await api.run(path, [later])
    done = await api.finished(after["id"], WAIT)
    assert done["status"] == "ok" and stream_text(done["cells"][0]["outputs"]) == "next\n"
    assert done["cells"][0]["kernel_id"] == kernel_id and done["cells"][0]["execution_count"] == 1


async def test_a_kernel_shut_down_mid_cell_aborts_the_execution_and_the_next_one_gets_a_new_kernel(
    api, collab, jp_root_dir, jp_fetch
):
    path = write_notebook(
        jp_root_dir, "shutdown.ipynb", ["import time\nprint('busy', flush=True)\ntime.sleep(60)", "print('next')"]
    )
    busy, later = cell_ids(jp_root_dir, path)
    _, record, _ = await api.run(path, [busy])
    started = await api.printed(record["id"], "busy")
    kernel_id = started["cells"][0]["kernel_id"]
    await jp_fetch("api", "kernels", kernel_id, method="DELETE")

    done = await api.finished(record["id"])
    assert_valid_record(done)
    assert done["status"] == "aborted" and done["abort_reason"] == "the kernel was shut down"

    _, after, _ = await api.run(path, [later])
    done = await api.finished(after["id"], WAIT)
    assert done["status"] == "ok" and stream_text(done["cells"][0]["outputs"]) == "next\n"
    assert done["cells"][0]["kernel_id"] != kernel_id
