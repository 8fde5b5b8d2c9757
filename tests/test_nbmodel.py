"""jupyter-server-nbmodel's protocol on a real Jupyter server with a real python kernel: a client written for
it (its requests, its polling, its answers' shapes, as jupyter-server-nbmodel 0.2.9 and its JupyterLab plugin
use them) works unchanged, on our execution journal."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime

import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_ydoc import YNotebook

from execution_helpers import assert_valid_record, cell_ids, disk_outputs, gated_cell, stream_text
from helpers import eventually
from jupyter_helpers import read_notebook, server_config, write_notebook

WAIT = 60.0  # s: the longest a request may take here (a kernel started on a loaded machine)
POLL = 0.05  # s between polls (jupyter-server-nbmodel's frontend starts at 0.1 and doubles up to 1)
REQUEST_URL = re.compile(
    r"^/api/kernels/[0-9a-f-]{36}/requests/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
ANSI = re.compile("\x1b\\[(.*?)([@-~])")


class ReadOnlyAuthorizer(Authorizer):
    """Every user may read, nobody may write or execute."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return action == "read"


@pytest.fixture
def jp_server_config(tmp_path, request):
    config = server_config(save_max_wait=1.0, journal_path=str(tmp_path / "journal.sqlite"))
    if request.node.get_closest_marker("read_only"):
        config["ServerApp"]["authorizer_class"] = ReadOnlyAuthorizer
    return config


class Client:
    """A jupyter-server-nbmodel client: POST the request, poll its Location (joined to the server's base URL,
    as the plugin joins it) until the answer is not 202; answer input() at the URL a 300 names."""

    def __init__(self, fetch) -> None:
        self.fetch = fetch

    async def kernel(self) -> str:
        r = await self.fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
        return json.loads(r.body)["id"]

    async def execute(self, kernel_id: str, code: str, **metadata):
        body = {"code": code, **({"metadata": metadata} if metadata else {})}
        return await self.fetch(
            "api", "kernels", kernel_id, "execute", method="POST", body=json.dumps(body), raise_error=False
        )

    async def poll(self, url: str):
        return await self.fetch(url, raise_error=False)

    async def wait(self, url: str, until=lambda r: r.code != 202, timeout: float = WAIT):
        """The first answer of ``url`` for which ``until`` holds (by default: no longer pending)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            r = await self.poll(url)
            if until(r):
                return r
            assert r.code == 202, (r.code, r.body)
            assert asyncio.get_running_loop().time() < deadline, f"{url} still pending after {timeout} s: {r.body}"
            await asyncio.sleep(POLL)

    async def run(self, kernel_id: str, code: str, **metadata):
        """Execute and wait: the final answer (its status code and body), and the request's URL."""
        r = await self.execute(kernel_id, code, **metadata)
        assert r.code == 202, r.body
        location = r.headers["Location"]
        assert REQUEST_URL.match(location), location
        done = await self.wait(location)
        return done.code, json.loads(done.body), location


@pytest.fixture
def client(jp_fetch) -> Client:
    return Client(jp_fetch)


def outputs_of(body: dict) -> list[dict]:
    return json.loads(body["outputs"])  # a JSON string, as jupyter-server-nbmodel sends it


async def test_a_cell_runs_by_id_with_its_document_id(client, collab, jp_root_dir, jp_fetch):
    source = "print('hello')\n6 * 7"
    path = write_notebook(jp_root_dir, "cell.ipynb", [source, "untouched = True"])
    first, _ = cell_ids(jp_root_dir, path)
    watcher, session = await collab.open(path)
    kernel_id = await client.kernel()

    r = await client.execute(kernel_id, source, cell_id=first, document_id=session.room, document_path=path)
    assert r.code == 202
    location = r.headers["Location"]
    assert REQUEST_URL.match(location) and r.headers["Access-Control-Expose-Headers"] == "Location"
    request_id = location.rsplit("/", 1)[-1]
    assert json.loads(r.body) == {
        "request_id": request_id,
        "kernel_id": kernel_id,
        "cell_id": first,
        "document_path": path,
        "pending": True,
        "request_status": "queued",
        "request_url": location,
        "outputs": "[]",
    }

    done = await client.wait(location)
    assert done.code == 200
    body = json.loads(done.body)
    assert {k: body[k] for k in ("status", "execution_count", "pending", "request_status")} == {
        "status": "ok",
        "execution_count": 1,
        "pending": False,
        "request_status": "complete",
    }
    assert {k: body[k] for k in ("request_id", "kernel_id", "request_url", "cell_id")} == {
        "request_id": request_id,
        "kernel_id": kernel_id,
        "request_url": location,
        "cell_id": first,
    }
    outputs = outputs_of(body)
    assert outputs[0] == {"output_type": "stream", "name": "stdout", "text": "hello\n"}
    assert outputs[1]["output_type"] == "execute_result" and outputs[1]["data"]["text/plain"] == "42"

    nb = YNotebook(watcher.doc)
    await watcher.wait_for(lambda: nb.get()["cells"][0]["execution_count"] == 1)
    shown = nb.get()["cells"][0]
    assert stream_text(shown["outputs"]) == "hello\n" and shown["outputs"][1]["data"]["text/plain"] == "42"
    assert "jupyter_server_nbmodel" not in shown["metadata"] and nb.ycells[0]["execution_state"] == "idle"
    assert nb.get()["cells"][1]["execution_count"] is None
    await eventually(lambda: (disk_outputs(jp_root_dir, path) or [[]])[0] != [], 10, "the outputs saved")
    saved = read_notebook(jp_root_dir, path).cells[0]
    assert saved.execution_count == 1 and stream_text(saved.outputs) == "hello\n"

    again = await client.poll(location)  # reading the result does not consume it
    assert again.code == 200 and json.loads(again.body) == body
    r = await jp_fetch("api", "rtc", "executions", uuid.UUID(request_id).hex)
    record = json.loads(r.body)  # the same execution, in the journal
    assert_valid_record(record)
    assert record["path"] == path and record["cells"][0]["cell_id"] == first
    assert record["kernel_request"]["kernel_id"] == kernel_id


async def test_a_pending_poll_shows_the_outputs_so_far_and_the_cell_names_its_request(
    client, collab, jp_root_dir, jp_fetch, tmp_path
):
    gate = tmp_path / "gate"
    source = gated_cell(gate)
    path = write_notebook(jp_root_dir, "pending.ipynb", [source])
    (cell,) = cell_ids(jp_root_dir, path)
    watcher, session = await collab.open(path)
    kernel_id = await client.kernel()
    r = await client.execute(kernel_id, source, cell_id=cell, document_id=session.room)
    location = r.headers["Location"]
    request_id = location.rsplit("/", 1)[-1]

    running = await client.wait(location, until=lambda r: r.code == 202 and "waiting" in json.loads(r.body)["outputs"])
    body = json.loads(running.body)
    assert body["pending"] is True and body["request_status"] == "running"
    assert outputs_of(body) == [{"output_type": "stream", "name": "stdout", "text": "waiting\n"}]
    listed = json.loads((await jp_fetch("api", "kernels", kernel_id, "execute")).body)
    assert listed == {"kernel_id": kernel_id, "requests": [body]}
    ycell = YNotebook(watcher.doc).ycells[0]
    await watcher.wait_for(lambda: "jupyter_server_nbmodel" in ycell["metadata"])
    assert ycell["metadata"]["jupyter_server_nbmodel"] == {
        "requestId": request_id,
        "kernelId": kernel_id,
        "requestUrl": location,
    }

    gate.touch()
    done = await client.wait(location)
    assert done.code == 200 and stream_text(outputs_of(json.loads(done.body))) == "waiting\nreleased\n"
    await watcher.wait_for(lambda: "jupyter_server_nbmodel" not in ycell["metadata"])
    assert json.loads((await jp_fetch("api", "kernels", kernel_id, "execute")).body)["requests"] == []


async def test_code_without_a_cell_runs_on_the_kernel_and_its_outputs_are_in_the_answer_only(
    client, jp_fetch, jp_root_dir
):
    kernel_id = await client.kernel()
    code, body, location = await client.run(kernel_id, "print('hello buddy')")
    assert code == 200 and body["status"] == "ok" and body["execution_count"] == 1
    assert outputs_of(body) == [{"output_type": "stream", "name": "stdout", "text": "hello buddy\n"}]
    assert body["cell_id"] is None and body["document_path"] is None

    code, body, _ = await client.run(kernel_id, "a = 1")
    assert code == 200 and body["execution_count"] == 2 and outputs_of(body) == []
    code, body, _ = await client.run(kernel_id, "from IPython.display import HTML\nHTML('<b>Jupyter</b>')")
    (result,) = outputs_of(body)
    assert result["data"]["text/html"] == "<b>Jupyter</b>" and result["execution_count"] == 3

    record = json.loads((await jp_fetch("api", "rtc", "executions", uuid.UUID(location[-36:]).hex)).body)
    assert_valid_record(record)
    assert record["path"] == "" and record["cells"][0]["cell_id"] == "" and record["cells"][0]["code"]
    assert not list(jp_root_dir.glob("*.ipynb"))  # no notebook was written


async def test_a_stale_document_id_finds_the_notebook_by_its_path(client, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "stale.ipynb", ["print('by path')", "print('nowhere')"])
    first, second = cell_ids(jp_root_dir, path)
    watcher, session = await collab.open(path)
    kernel_id = await client.kernel()

    # A restored page keeps a room id from before the server restarted; the path still names the notebook.
    code, body, _ = await client.run(
        kernel_id, "print('by path')", cell_id=first, document_id=f"{session.room}-stale", document_path=path
    )
    assert code == 200 and body["document_path"] == path
    nb = YNotebook(watcher.doc)
    await watcher.wait_for(lambda: stream_text(nb.get()["cells"][0]["outputs"]) == "by path\n")

    # Neither names a notebook holding the cell: the code runs all the same, its outputs in the answer only.
    code, body, _ = await client.run(kernel_id, "print('nowhere')", cell_id=second, document_id="json:notebook:nope")
    assert code == 200 and outputs_of(body) == [{"output_type": "stream", "name": "stdout", "text": "nowhere\n"}]
    assert nb.get()["cells"][1]["outputs"] == [] and nb.get()["cells"][1]["execution_count"] is None


async def test_input_is_asked_in_the_pending_poll_and_answered_at_the_input_url(client, jp_fetch):
    kernel_id = await client.kernel()
    r = await client.execute(kernel_id, "input('Age:')")
    location = r.headers["Location"]

    asking = await client.wait(location)
    assert asking.code == 300
    assert asking.headers["Location"] == f"/api/kernels/{kernel_id}/input"
    body = json.loads(asking.body)
    assert body["input_request"] == {"prompt": "Age:", "password": False}
    assert body["parent_header"]["msg_type"] == "input_request" and body["request_status"] == "input"
    assert body["pending"] is True

    answered = await jp_fetch(asking.headers["Location"], method="POST", body=json.dumps({"input": "42"}))
    assert answered.code == 201
    done = await client.wait(location)
    assert done.code == 200
    body = json.loads(done.body)
    assert body["status"] == "ok" and body["execution_count"] == 1
    assert outputs_of(body) == [
        {"output_type": "execute_result", "metadata": {}, "data": {"text/plain": "'42'"}, "execution_count": 1}
    ]
    again = await jp_fetch(
        "api", "kernels", kernel_id, "input", method="POST", body='{"input": "x"}', raise_error=False
    )
    assert again.code == 409 and json.loads(again.body)["error"] == "no_input_pending"
    bad = await jp_fetch("api", "kernels", kernel_id, "input", method="POST", body='{"value": "x"}', raise_error=False)
    assert bad.code == 400


async def test_record_timing_writes_jupyterlabs_timings_into_the_cell(client, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "timing.ipynb", ["import time; time.sleep(0.2)"])
    (cell,) = cell_ids(jp_root_dir, path)
    watcher, session = await collab.open(path)
    kernel_id = await client.kernel()

    code, _, _ = await client.run(
        kernel_id, "import time; time.sleep(0.2)", cell_id=cell, document_id=session.room, record_timing=True
    )
    assert code == 200
    ycell = YNotebook(watcher.doc).ycells[0]
    await watcher.wait_for(lambda: "shell.execute_reply" in (ycell["metadata"].get("execution") or {}))
    timing = ycell["metadata"]["execution"]
    keys = (
        "iopub.status.busy",
        "iopub.execute_input",
        "shell.execute_reply.started",
        "iopub.status.idle",
        "shell.execute_reply",
    )
    assert set(timing) == set(keys), timing
    stamps = {k: datetime.fromisoformat(timing[k].replace("Z", "+00:00")) for k in keys}
    assert all(timing[k].endswith("Z") for k in keys)
    assert stamps["iopub.status.busy"] <= stamps["shell.execute_reply.started"] < stamps["shell.execute_reply"]
    elapsed = (stamps["shell.execute_reply"] - stamps["shell.execute_reply.started"]).total_seconds()
    assert elapsed >= 0.2, timing
    await eventually(lambda: "execution" in read_notebook(jp_root_dir, path).cells[0].metadata, 10, "the timings saved")

    code, _, _ = await client.run(kernel_id, "1", cell_id=cell, document_id=session.room)  # without: removed
    assert code == 200
    await watcher.wait_for(lambda: "execution" not in ycell["metadata"])


async def test_unknown_requests_and_kernels_are_404(client, collab, jp_root_dir, jp_fetch):
    kernel_id = await client.kernel()
    _, _, location = await client.run(kernel_id, "1")
    other = await client.kernel()
    for url in (
        f"/api/kernels/{kernel_id}/requests/{uuid.uuid4()}",
        f"/api/kernels/{kernel_id}/requests/not-a-uuid",
        location.replace(kernel_id, other),  # a request made on another kernel
    ):
        r = await client.poll(url)
        assert r.code == 404 and json.loads(r.body)["error"] == "not_found", url
    r = await jp_fetch(f"/api/kernels/{kernel_id}/requests/{uuid.uuid4()}", method="DELETE", raise_error=False)
    assert r.code == 404
    r = await client.execute(str(uuid.uuid4()), "1")
    assert r.code == 404 and "Unknown kernel" in json.loads(r.body)["message"]
    r = await client.execute(kernel_id, "1", cell_id="c")
    assert r.code == 202
    r = await jp_fetch(
        "api", "kernels", kernel_id, "execute", method="POST", body=json.dumps({"code": 1}), raise_error=False
    )
    assert r.code == 400


async def test_an_exception_in_the_code_is_a_result_with_status_error(client, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "error.ipynb", ["1 / 0"])
    (cell,) = cell_ids(jp_root_dir, path)
    watcher, session = await collab.open(path)
    kernel_id = await client.kernel()
    code, body, _ = await client.run(kernel_id, "1 / 0", cell_id=cell, document_id=session.room)
    assert code == 200
    assert (body["status"], body["execution_count"], body["pending"], body["request_status"]) == (
        "error",
        1,
        False,
        "complete",
    )
    (error,) = outputs_of(body)
    assert error["output_type"] == "error" and error["ename"] == "ZeroDivisionError"
    assert error["evalue"] == "division by zero"
    assert ANSI.sub("", error["traceback"][-1]) == "ZeroDivisionError: division by zero"
    ycell = YNotebook(watcher.doc).ycells[0]
    await watcher.wait_for(lambda: ycell.get("execution_count") == 1)
    assert ycell["outputs"][0]["ename"] == "ZeroDivisionError"


async def test_a_kernel_that_dies_mid_request_ends_the_poll_with_an_error(client, collab, jp_root_dir):
    dies = "import os, time\nprint('dying', flush=True)\ntime.sleep(1)\nos._exit(1)"
    path = write_notebook(jp_root_dir, "dies.ipynb", [dies])
    (cell,) = cell_ids(jp_root_dir, path)
    watcher, session = await collab.open(path)
    kernel_id = await client.kernel()
    loop = asyncio.get_running_loop()
    started = loop.time()
    code, body, _ = await client.run(kernel_id, dies, cell_id=cell, document_id=session.room)
    assert code == 500, body
    assert body["error"] == "the kernel died" and body["pending"] is False and body["request_status"] == "complete"
    print(f"the poll ended {loop.time() - started:.1f} s after the request")
    ycell = YNotebook(watcher.doc).ycells[0]
    await watcher.wait_for(lambda: ycell.get("execution_state") == "idle", timeout=10)

    code, body, _ = await client.run(kernel_id, "print('back')")  # on the kernel its restarter brought back
    assert code == 200 and stream_text(outputs_of(body)) == "back\n"


async def test_delete_interrupts_a_running_request_and_cancels_a_queued_one(client, jp_fetch):
    kernel_id = await client.kernel()
    r = await client.execute(kernel_id, "import time\nprint('sleeping', flush=True)\ntime.sleep(30)")
    running = r.headers["Location"]
    r = await client.execute(kernel_id, "print('never')")
    queued = r.headers["Location"]
    await client.wait(running, until=lambda r: r.code == 202 and "sleeping" in json.loads(r.body)["outputs"])

    assert (await jp_fetch(queued, method="DELETE")).code == 204
    r = await client.wait(queued)
    assert r.code == 500 and json.loads(r.body)["error"] == "cancelled before it ran"
    assert (await jp_fetch(running, method="DELETE")).code == 204
    r = await client.wait(running)
    body = json.loads(r.body)
    assert r.code == 200 and body["status"] == "error"
    assert any(o.get("ename") == "KeyboardInterrupt" for o in outputs_of(body))
    code, body, _ = await client.run(kernel_id, "1 + 1")  # the kernel lives on
    assert code == 200 and body["status"] == "ok"


async def test_a_request_outlives_a_server_restart(tmp_path):
    """Its result is in the journal: polled again after a restart, it answers the same; one left running
    by the stopped server answers 500 with the reason ("the server stopped")."""
    from browser.lab import JupyterLabServer, wait_until

    config = [f"--SupernodeExtension.journal_path={tmp_path / 'journal.sqlite'}"]
    server = JupyterLabServer(tmp_path / "server", app="server", extra_args=config)

    async def answer(url: str) -> tuple[int, dict]:
        return await server.request("GET", url)

    await server.start()
    try:
        _, kernel = await server.request("POST", "/api/kernels", {"name": "python3"})
        _, accepted = await server.request("POST", f"/api/kernels/{kernel['id']}/execute", {"code": "print('kept')"})
        done = await wait_until(lambda: _final(answer(accepted["request_url"])), WAIT, "the first request's end")
        long = "import time\nprint('started', flush=True)\ntime.sleep(60)"
        _, running = await server.request("POST", f"/api/kernels/{kernel['id']}/execute", {"code": long})

        async def started() -> bool:
            status, body = await answer(running["request_url"])
            return status == 202 and "started" in body["outputs"]

        await wait_until(started, WAIT, "the second request running")
    finally:
        await server.stop()

    await server.start()
    try:
        assert await answer(accepted["request_url"]) == done
        assert done[0] == 200 and stream_text(outputs_of(done[1])) == "kept\n"
        status, body = await answer(running["request_url"])
        assert status == 500 and body["error"].startswith("the server stopped"), body
    finally:
        await server.stop()


async def _final(answer) -> tuple[int, dict] | None:
    status, body = await answer
    return (status, body) if status != 202 else None


async def test_a_cell_asked_again_while_queued_runs_once(client, collab, jp_root_dir, tmp_path):
    gate = tmp_path / "gate"
    path = write_notebook(jp_root_dir, "again.ipynb", [gated_cell(gate), "print('twice?')"])
    gated, asked = cell_ids(jp_root_dir, path)
    watcher, session = await collab.open(path)
    kernel_id = await client.kernel()
    r = await client.execute(kernel_id, gated_cell(gate), cell_id=gated, document_id=session.room)
    first = r.headers["Location"]
    await client.wait(first, until=lambda r: r.code == 202 and "waiting" in json.loads(r.body)["outputs"])
    earlier = (await client.execute(kernel_id, "print('twice?')", cell_id=asked, document_id=session.room)).headers
    later = (await client.execute(kernel_id, "print('twice?')", cell_id=asked, document_id=session.room)).headers
    r = await client.wait(earlier["Location"])
    assert (
        r.code == 500 and json.loads(r.body)["error"] == "Superseded by a newer queued execution for the same cell_id."
    )
    gate.touch()
    r = await client.wait(later["Location"])
    assert r.code == 200 and json.loads(r.body)["execution_count"] == 2  # the cell ran once, after the gated one
    nb = YNotebook(watcher.doc)
    await watcher.wait_for(lambda: nb.get()["cells"][1]["execution_count"] == 2)
    assert stream_text(nb.get()["cells"][1]["outputs"]) == "twice?\n"


async def test_a_failing_request_cancels_those_queued_on_its_kernel(client, tmp_path):
    gate = tmp_path / "gate"
    kernel_id = await client.kernel()
    r = await client.execute(kernel_id, gated_cell(gate) + "\nraise ValueError('stop here')")
    failing = r.headers["Location"]
    await client.wait(failing, until=lambda r: r.code == 202 and "waiting" in json.loads(r.body)["outputs"])
    queued = [(await client.execute(kernel_id, f"print({i})")).headers["Location"] for i in range(3)]
    gate.touch()
    r = await client.wait(failing)
    assert r.code == 200 and json.loads(r.body)["status"] == "error"
    for location in queued:
        r = await client.wait(location)
        assert r.code == 500
        assert json.loads(r.body)["error"] == "Execution cancelled because a previous queued request failed."
    code, body, _ = await client.run(kernel_id, "print('after')")  # a request made after the failure runs
    assert code == 200 and stream_text(outputs_of(body)) == "after\n"


@pytest.mark.read_only
async def test_running_answering_and_cancelling_need_kernels_execute(jp_fetch):
    kernel_id = str(uuid.uuid4())
    calls = [
        ("POST", f"/api/kernels/{kernel_id}/execute", {"code": "1"}, 403),
        ("POST", f"/api/kernels/{kernel_id}/input", {"input": "1"}, 403),
        ("DELETE", f"/api/kernels/{kernel_id}/requests/{uuid.uuid4()}", None, 403),
        ("GET", f"/api/kernels/{kernel_id}/requests/{uuid.uuid4()}", None, 404),  # reading is allowed
        ("GET", f"/api/kernels/{kernel_id}/execute", None, 200),
    ]
    for method, url, body, expected in calls:
        r = await jp_fetch(url, method=method, body=json.dumps(body) if body else None, raise_error=False)
        assert r.code == expected, (method, url, r.code, r.body)
        if expected == 403:
            assert json.loads(r.body)["error"] == "forbidden"
