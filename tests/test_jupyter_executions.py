"""Execution of cells by id over REST, with a real python kernel, outputs kept with no browser open."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from jupyter_ydoc import YNotebook

from execution_helpers import Api, cell_ids, disk_outputs, stream_text
from helpers import eventually
from jupyter_helpers import read_notebook, server_config, write_notebook

SAVE_MAX_WAIT = 1.0


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(save_max_wait=SAVE_MAX_WAIT, journal_path=str(tmp_path / "journal.sqlite"))
    return config


@pytest.fixture
def api(jp_fetch) -> Api:
    return Api(jp_fetch)


async def test_a_cell_runs_by_id_and_its_outputs_reach_the_document_and_the_file(api, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "run.ipynb", ['print("hello")\n6 * 7', "untouched = True"])
    first, second = cell_ids(jp_root_dir, path)
    watcher, _ = await collab.open(path)

    code, record, location = await api.run(path, [first])
    assert code == 202 and location.endswith(f"/api/rtc/executions/{record['id']}")
    done = await api.finished(record["id"])
    assert done["status"] == "ok"
    (cell,) = done["cells"]
    assert cell["execution_count"] == 1 and cell["cell_id"] == first
    assert stream_text(cell["outputs"]) == "hello\n"

    nb = YNotebook(watcher.doc)
    await watcher.wait_for(lambda: nb.get()["cells"][0]["execution_count"] == 1)
    shown = nb.get()["cells"][0]
    assert stream_text(shown["outputs"]) == "hello\n"
    assert shown["outputs"][-1]["data"]["text/plain"] == "42"
    assert nb.ycells[0]["execution_state"] == "idle"
    assert nb.get()["cells"][1]["execution_count"] is None
    on_disk = disk_outputs(jp_root_dir, path)
    assert stream_text(on_disk[0]) == "hello\n" and on_disk[0][-1]["data"]["text/plain"] == "42"
    assert (await api.record(record["id"]))["status"] == "ok"  # reading does not consume it


async def test_outputs_are_saved_with_no_client_open(api, collab, jp_root_dir):
    """A cell printing every 0.5 s for 10 s; every client gone after 1 s; nothing lost."""
    source = "import time\nfor i in range(20):\n    print(f'line {i}', flush=True)\n    time.sleep(0.5)\n'done'"
    path = write_notebook(jp_root_dir, "long.ipynb", [source])
    (cell,) = cell_ids(jp_root_dir, path)
    client, _ = await collab.open(path)
    code, record, _ = await api.run(path, [cell])
    await asyncio.sleep(1.0)  # the scenario: the user watches for a second, then leaves
    await client.close()

    lag = 0.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    printed_at: dict[int, float] = {}
    while (await api.record(record["id"]))["status"] == "running" or not printed_at:
        outputs = disk_outputs(jp_root_dir, path)
        lines = stream_text(outputs[0]).splitlines() if outputs else []
        for n in range(len(lines)):
            printed_at.setdefault(n, loop.time())
        # Line n is printed about 0.5 n s after the start: the file must follow within the max wait.
        expected = int((loop.time() - started) / 0.5) - 1
        if lines and expected > len(lines):
            lag = max(lag, (expected - len(lines)) * 0.5)
        assert loop.time() - started < 30
        await asyncio.sleep(0.1)
    done = await api.finished(record["id"])
    assert done["status"] == "ok"
    assert lag <= SAVE_MAX_WAIT + 1.0, f"the file lagged {lag:.1f}s behind the kernel"

    outputs = disk_outputs(jp_root_dir, path)[0]
    assert stream_text(outputs) == "".join(f"line {i}\n" for i in range(20))
    assert outputs[-1]["data"]["text/plain"] == "'done'"
    assert read_notebook(jp_root_dir, path).cells[0].execution_count == 1
    again, _ = await collab.open(path)
    shown = YNotebook(again.doc).get()["cells"][0]
    assert stream_text(shown["outputs"]) == "".join(f"line {i}\n" for i in range(20))
    assert shown["execution_count"] == 1


async def test_a_cell_silent_longer_than_the_cleanup_delay_keeps_its_room(api, collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "silent.ipynb", ["import time\ntime.sleep(2.5)\nprint('finally')"])
    (cell,) = cell_ids(jp_root_dir, path)
    client, session = await collab.open(path)
    _, record, _ = await api.run(path, [cell])
    ycell = YNotebook(client.doc).ycells[0]
    await client.wait_for(lambda: ycell.get("execution_state") == "running", timeout=20)  # shown live
    await client.close()  # cleanup delay is 0.5 s: the room would be freed long before the print
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    await asyncio.sleep(1.5)
    assert session.room in relay.rooms.rooms  # held open by the running execution
    done = await api.finished(record["id"])
    assert done["status"] == "ok"
    await eventually(lambda: stream_text((disk_outputs(jp_root_dir, path) or [[]])[0]) == "finally\n", timeout=10)
    await eventually(lambda: session.room not in relay.rooms.rooms, timeout=10, what="room freed after the run")


async def test_queued_cells_run_in_order_and_a_failure_stops_its_batch(api, collab, jp_root_dir):
    sources = ["order = []"] + [f"order.append({i})" for i in range(1, 10)]
    path = write_notebook(
        jp_root_dir, "order.ipynb", sources + ["print(order)", "raise ValueError('boom')", "after = 1"]
    )
    ids = cell_ids(jp_root_dir, path)
    records = [(await api.run(path, [cell_id]))[1] for cell_id in ids[:10]]  # ten requests at once
    results = [await api.finished(r["id"]) for r in records]
    assert [r["status"] for r in results] == ["ok"] * 10
    assert [r["cells"][0]["execution_count"] for r in results] == list(range(1, 11))

    _, batch, _ = await api.run(path, ids[10:])
    done = await api.finished(batch["id"])
    assert done["status"] == "error"
    assert [c["status"] for c in done["cells"]] == ["ok", "error", "aborted"]
    assert stream_text(done["cells"][0]["outputs"]) == f"{list(range(1, 10))}\n"
    assert done["cells"][1]["error"]["ename"] == "ValueError"
    await eventually(lambda: (disk_outputs(jp_root_dir, path) or [[]] * 13)[11][:1] != [], timeout=10)
    on_disk = read_notebook(jp_root_dir, path).cells
    assert on_disk[11].outputs[0]["output_type"] == "error"
    assert on_disk[12].execution_count is None


async def test_input_is_asked_and_answered_over_rest(api, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "ask.ipynb", ["name = input('name? ')\nprint('hi', name)"])
    (cell,) = cell_ids(jp_root_dir, path)
    _, record, _ = await api.run(path, [cell])
    latest: dict = {}

    async def asked() -> bool:
        latest.update(await api.record(record["id"]))
        return latest["cells"][0]["input_request"] is not None

    deadline = time.monotonic() + 20
    while not await asked():
        assert time.monotonic() < deadline, latest
        await asyncio.sleep(0.05)
    assert latest["cells"][0]["input_request"] == {"prompt": "name? ", "password": False}
    code, _, _ = await api.call("POST", "api", "rtc", "executions", record["id"], "input", body={"value": "Ada"})
    assert code == 200
    done = await api.finished(record["id"])
    assert done["status"] == "ok" and "hi Ada" in stream_text(done["cells"][0]["outputs"])


async def test_bad_requests_get_catalogued_errors(api, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "bad.ipynb", ["x = 1"])
    (cell,) = cell_ids(jp_root_dir, path)
    code, body, _ = await api.run(path, ["no-such-cell"])
    assert code == 404 and body["error"] == "not_found"
    code, body, _ = await api.run("missing.ipynb", [cell])
    assert code == 404 and body["error"] == "not_found"
    code, body, _ = await api.run(path, [cell], source_hashes={cell: "0" * 64})
    assert code == 409 and body["error"] == "source_changed"
    from supernode.records import source_hash

    code, body, _ = await api.run(path, [cell], source_hashes={cell: source_hash("x = 1")})
    assert code == 202
    assert (await api.finished(body["id"]))["status"] == "ok"
    code, body, _ = await api.call("GET", "api", "rtc", "executions", "0" * 32)
    assert code == 404 and body["error"] == "not_found"
    code, body, _ = await api.call("POST", "api", "rtc", "executions", body={"cell_ids": [cell]})
    assert code == 400 and body["error"] == "bad_request"


async def test_cancel_a_queued_execution_and_interrupt_a_running_one(api, collab, jp_root_dir):
    path = write_notebook(
        jp_root_dir, "stop.ipynb", ["import time\nprint('sleeping', flush=True)\ntime.sleep(60)", "never = True"]
    )
    slow, other = cell_ids(jp_root_dir, path)
    _, running, _ = await api.run(path, [slow])
    _, queued, _ = await api.run(path, [other])
    code, cancelled, _ = await api.call("DELETE", "api", "rtc", "executions", queued["id"])
    assert code == 200 and cancelled["status"] == "aborted"

    deadline = time.monotonic() + 30
    while (await api.record(running["id"]))["cells"][0]["status"] != "running":  # the kernel runs it
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    code, body, _ = await api.call("DELETE", "api", "rtc", "executions", running["id"])
    assert code == 409 and body["error"] == "not_cancellable"
    await api.printed(running["id"], "sleeping")  # the kernel is inside the cell, past its first line
    code, _, _ = await api.call("POST", "api", "rtc", "executions", running["id"], "interrupt")
    assert code == 200
    done = await api.finished(running["id"])
    assert done["status"] == "error" and done["cells"][0]["error"]["ename"] == "KeyboardInterrupt"


async def test_restart_and_run_all(api, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "restart.ipynb", ["n = 1", "n += 1\nprint(n)"])
    _, first, _ = await api.run(path)
    assert (await api.finished(first["id"]))["status"] == "ok"
    code, record, location = await api.call(
        "POST", "api", "rtc", "kernels", "restart", body={"path": path, "run_all": True}
    )
    assert code == 202 and location
    done = await api.finished(record["id"])
    assert done["status"] == "ok"
    assert [c["execution_count"] for c in done["cells"]] == [1, 2]  # a fresh kernel counts from 1
    assert stream_text(done["cells"][1]["outputs"]) == "2\n"


async def test_the_stock_frontends_execute_request_runs_the_cell(api, collab, jp_root_dir, jp_fetch, jp_serverapp):
    path = write_notebook(jp_root_dir, "stock.ipynb", ["print('via the kernel url')"])
    (cell,) = cell_ids(jp_root_dir, path)
    _, session = await collab.open(path)
    r = await jp_fetch(
        "api",
        "sessions",
        method="POST",
        body=json.dumps({"path": path, "type": "notebook", "name": path, "kernel": {"name": "python3"}}),
    )
    kernel_id = json.loads(r.body)["kernel"]["id"]
    code, record, location = await api.call(
        "POST", "api", "kernels", kernel_id, "execute", body={"cell_id": cell, "document_id": session.room}
    )
    assert code == 202 and location
    done = await api.finished(record["id"])
    assert done["cells"][0]["kernel_id"] == kernel_id  # the notebook's own session kernel
    assert stream_text(done["cells"][0]["outputs"]) == "via the kernel url\n"
    assert jp_serverapp.web_app.settings["page_config_data"]["serverSideExecution"] is True

    # jupyter-server-nbmodel's body on the same URL: its code runs in the cell, answered in its protocol
    # (tests/test_nbmodel.py); the execution is a record like any other.
    code, request, location = await api.call(
        "POST",
        "api",
        "kernels",
        kernel_id,
        "execute",
        body={"code": "print('nbmodel')", "metadata": {"cell_id": cell, "document_id": session.room}},
    )
    assert code == 202 and location == f"/api/kernels/{kernel_id}/requests/{request['request_id']}"
    done = await api.finished(request["request_id"].replace("-", ""))
    assert done["cells"][0]["code"] == "print('nbmodel')"
    assert stream_text(done["cells"][0]["outputs"]) == "nbmodel\n"


async def test_an_edit_on_disk_to_another_cell_while_a_cell_runs_loses_no_output(api, collab, jp_root_dir):
    """The file is merged while the cell runs: its outputs so far (and the trust marks the contents manager
    adds on every read) are not mistaken for an edit on disk, so no line goes missing."""
    import nbformat

    source = "import time\nfor i in range(30):\n    print(f'line {i}', flush=True)\n    time.sleep(0.1)"
    path = write_notebook(jp_root_dir, "merge.ipynb", [source, "other = 1"])
    first, second = cell_ids(jp_root_dir, path)
    status, record, _ = await api.run(path, [first])
    assert status == 202, record

    def lines_on_disk() -> list[str]:
        outputs = disk_outputs(jp_root_dir, path)
        return stream_text(outputs[0]).splitlines() if outputs else []

    await eventually(lambda: len(lines_on_disk()) >= 5, timeout=30, what="the first lines saved")
    nb = nbformat.reads((jp_root_dir / path).read_text(encoding="utf-8"), as_version=4)
    nb.cells[1].source = "other = 2  # edited on disk"
    (jp_root_dir / path).write_text(nbformat.writes(nb), encoding="utf-8")  # another program writes the file

    done = await api.finished(record["id"], timeout=60)
    assert done["status"] == "ok", done
    expected = [f"line {i}" for i in range(30)]
    await eventually(
        lambda: lines_on_disk() == expected, timeout=10, what=f"every line once on disk: {lines_on_disk()}"
    )
    assert read_notebook(jp_root_dir, path).cells[1].source == "other = 2  # edited on disk"


async def test_files_rewritten_by_other_programs_while_a_cell_runs_lose_no_output(api, collab, jp_root_dir):
    """Another program touches the file, and rewrites it from a copy read a moment earlier (so the running
    cell's outputs on disk go back in time): every write is merged, and the running cell keeps every line,
    in one output, because the disk cannot know more of a running cell's outputs than the room does."""
    import os

    import nbformat

    source = "import time\nfor i in range(80):\n    print(f'line {i}', flush=True)\n    time.sleep(0.1)"
    path = write_notebook(jp_root_dir, "rewrite.ipynb", [source, "other = 1"])
    first, _ = cell_ids(jp_root_dir, path)
    status, record, _ = await api.run(path, [first])
    assert status == 202, record
    file = jp_root_dir / path

    def lines_on_disk() -> list[str]:
        outputs = disk_outputs(jp_root_dir, path)
        return stream_text(outputs[0]).splitlines() if outputs else []

    await eventually(lambda: len(lines_on_disk()) >= 3, timeout=30, what="the first lines saved")
    stale = file.read_text(encoding="utf-8")
    rewrites = 0
    # Rewrites while the cell has at least 2 s left to print (one that lands after its end waits for no save).
    while (
        (await api.record(record["id"]))["status"] in ("queued", "running")
        and rewrites < 8
        and len(lines_on_disk()) < 60
    ):
        if rewrites % 2:
            now = file.stat().st_mtime_ns + 10_000_000
            os.utime(file, ns=(now, now))  # touched: same bytes, new time
        else:
            nb = nbformat.reads(stale, as_version=4)
            nb.cells[1].source = f"other = {rewrites}  # edited on disk"
            file.write_text(nbformat.writes(nb), encoding="utf-8")  # written back from an old copy
        rewrites += 1
        ours = file.stat().st_mtime_ns
        stale = file.read_text(encoding="utf-8")
        # The server saves again (the cell prints on) once it has taken the rewrite in.
        await eventually(lambda ours=ours: file.stat().st_mtime_ns != ours, timeout=10, what="a save after the rewrite")

    done = await api.finished(record["id"], timeout=60)
    assert done["status"] == "ok", done
    assert rewrites >= 4, "the cell ended before the file was rewritten"
    expected = [f"line {i}" for i in range(80)]
    await eventually(
        lambda: lines_on_disk() == expected, timeout=10, what=f"every line once on disk: {lines_on_disk()}"
    )
    outputs = disk_outputs(jp_root_dir, path)[0]
    assert [o["output_type"] for o in outputs] == ["stream"], outputs
    assert read_notebook(jp_root_dir, path).cells[1].source.endswith("# edited on disk")
