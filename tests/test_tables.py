"""The shared tables: actions through the real Jupyter REST API show up in the tables room, seen by a
separate read-only client; every row validates against its schema; nobody but the supernode writes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal

import pytest
from jsonschema import Draft202012Validator
from pycrdt import Map
from tornado.httpclient import HTTPClientError

from helpers import eventually
from jupyter_helpers import EXTENSIONS, server_config, write_notebook

from rtc_common.schema import schema_path

ROOM = "supernode:tables"
TABLES = ("kernelspecs", "status", "terminals", "kernels", "sessions", "contents", "executions")
POLL = 0.2
WAIT = 10.0  # a deadline, generous for a loaded machine; the tables change within one poll interval


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"), tables_poll_interval=POLL)
    config["ServerApp"]["jpserver_extensions"] = {**EXTENSIONS, "jupyter_server_terminals": True}
    config["RelayExtension"]["store"] = str(tmp_path / "rooms.sqlite")
    return config


pytestmark = pytest.mark.usefixtures("started")


def _validators() -> dict[str, Draft202012Validator]:
    out = {}
    for table in TABLES:
        with open(schema_path(f"tables/{table}.v1.json"), encoding="utf-8") as f:
            out[table] = Draft202012Validator(json.load(f))
    return out


VALIDATORS = _validators()


class Tables:
    """A client of the tables room, as any frontend would join it."""

    def __init__(self, client) -> None:
        self.client = client

    def rows(self, table: str) -> dict[str, dict]:
        return {k: v for k, v in self.client.doc.get(table, type=Map).items()}

    def row(self, table: str, key: str) -> dict | None:
        return self.rows(table).get(key)

    def assert_valid(self) -> None:
        for table in TABLES:
            for key, row in self.rows(table).items():
                errors = [e.message for e in VALIDATORS[table].iter_errors(row)]
                assert not errors, f"{table}[{key}]: {errors}"


async def open_tables(collab) -> Tables:
    client = await collab.join(ROOM)
    await asyncio.wait_for(client.wait_synced(), WAIT)
    return Tables(client)


async def call(jp_fetch, method: str, *parts: str, body: dict | None = None) -> dict:
    if body is None and method in ("POST", "PATCH", "PUT"):
        body = {}
    r = await jp_fetch(*parts, method=method, body=None if body is None else json.dumps(body))
    return json.loads(r.body) if r.body else {}


async def test_kernels_start_restart_and_stop_show_in_the_kernels_and_status_tables(collab, jp_fetch, jp_serverapp):
    tables = await open_tables(collab)
    await eventually(lambda: tables.row("status", "server") is not None, WAIT, "the status row")
    kernel = await call(jp_fetch, "POST", "api", "kernels", body={"name": "python3"})
    kid = kernel["id"]
    await eventually(lambda: tables.row("kernels", kid) is not None, WAIT, "the kernel's row")
    assert tables.row("kernels", kid)["name"] == "python3"
    assert tables.row("kernels", kid)["restart_count"] == 0
    await eventually(lambda: tables.row("status", "server")["kernels"] == 1, WAIT, "status counting the kernel")

    await call(jp_fetch, "POST", "api", "kernels", kid, "restart")
    await eventually(lambda: tables.row("kernels", kid)["restart_count"] == 1, WAIT, "the restart counted")

    await call(jp_fetch, "POST", "api", "kernels", kid, "interrupt")

    # A kernel that dies is restarted by its restarter: counted too, with no REST call.
    kernel = jp_serverapp.kernel_manager.get_kernel(kid)
    os.kill(kernel.provisioner.pid, signal.SIGKILL)
    await eventually(lambda: tables.row("kernels", kid)["restart_count"] == 2, 30, "the automatic restart counted")
    await eventually(lambda: kernel.ready.done(), 30, "the restarted kernel ready")
    await call(jp_fetch, "DELETE", "api", "kernels", kid)
    await eventually(lambda: tables.row("kernels", kid) is None, WAIT, "the kernel's row gone")
    await eventually(lambda: tables.row("status", "server")["kernels"] == 0, WAIT, "status without the kernel")
    tables.assert_valid()


async def test_a_negative_connection_count_from_jupyter_server_shows_as_zero(collab, jp_fetch, jp_serverapp):
    """jupyter_server's count of a kernel's connections can go below zero (a disconnect noticed twice):
    the kernel's row shows 0 rather than being refused by its schema and left stale."""
    tables = await open_tables(collab)
    kid = (await call(jp_fetch, "POST", "api", "kernels", body={"name": "python3"}))["id"]
    km = jp_serverapp.kernel_manager
    km.notify_connect(kid)
    km.notify_connect(kid)
    await eventually(lambda: (tables.row("kernels", kid) or {}).get("connections") == 2, WAIT, "2 connections")
    await eventually(lambda: tables.row("status", "server")["connections"] == 2, WAIT, "2 in the status")
    for _ in range(3):
        km.notify_disconnect(kid)
    assert km.list_kernels()[0]["connections"] == -1
    await eventually(lambda: tables.row("kernels", kid)["connections"] == 0, WAIT, "the kernel's row at 0")
    await eventually(lambda: tables.row("status", "server")["connections"] == 0, WAIT, "the status at 0")
    tables.assert_valid()
    assert jp_serverapp.web_app.settings["supernode_tables"].tables.invalid == 0
    await call(jp_fetch, "DELETE", "api", "kernels", kid)


async def test_sessions_created_renamed_and_deleted(collab, jp_fetch, jp_root_dir):
    tables = await open_tables(collab)
    write_notebook(jp_root_dir, "s.ipynb", ["1"])
    body = {"path": "s.ipynb", "name": "s.ipynb", "type": "notebook", "kernel": {"name": "python3"}}
    session = await call(jp_fetch, "POST", "api", "sessions", body=body)
    sid, kid = session["id"], session["kernel"]["id"]
    await eventually(lambda: tables.row("sessions", sid) is not None, WAIT, "the session's row")
    row = tables.row("sessions", sid)
    assert (row["path"], row["type"], row["kernel_id"], row["kernel_name"]) == ("s.ipynb", "notebook", kid, "python3")
    assert tables.row("kernels", kid) is not None  # its kernel is listed too

    await call(jp_fetch, "PATCH", "api", "sessions", sid, body={"path": "renamed.ipynb", "name": "renamed.ipynb"})
    await eventually(lambda: tables.row("sessions", sid)["path"] == "renamed.ipynb", WAIT, "the session renamed")

    await call(jp_fetch, "DELETE", "api", "sessions", sid)
    await eventually(lambda: tables.row("sessions", sid) is None, WAIT, "the session's row gone")
    await eventually(lambda: tables.row("kernels", kid) is None, WAIT, "its kernel's row gone")
    tables.assert_valid()


async def test_contents_listed_saved_renamed_and_deleted(collab, jp_fetch, jp_root_dir):
    tables = await open_tables(collab)
    (jp_root_dir / "sub").mkdir()
    (jp_root_dir / "sub" / "a.txt").write_text("a")
    (jp_root_dir / "sub" / "b.txt").write_text("bb")
    await call(jp_fetch, "GET", "api", "contents", "sub")  # a listing, as the file browser asks it
    listed = {"sub", "sub/a.txt", "sub/b.txt"}
    await eventually(lambda: listed <= set(tables.rows("contents")), WAIT, "the listed files")
    row = tables.row("contents", "sub/a.txt")
    assert (row["name"], row["type"], row["size"], row["writable"]) == ("a.txt", "file", 1, True)

    await call(
        jp_fetch, "PUT", "api", "contents", "sub", "c.txt", body={"type": "file", "format": "text", "content": "ccc"}
    )
    await eventually(lambda: (tables.row("contents", "sub/c.txt") or {}).get("size") == 3, WAIT, "the saved file")

    await call(jp_fetch, "PATCH", "api", "contents", "sub", "c.txt", body={"path": "sub/d.txt"})
    await eventually(lambda: tables.row("contents", "sub/d.txt") is not None, WAIT, "the renamed file")
    assert tables.row("contents", "sub/c.txt") is None

    await call(jp_fetch, "DELETE", "api", "contents", "sub", "d.txt")
    await eventually(lambda: tables.row("contents", "sub/d.txt") is None, WAIT, "the deleted file gone")

    (jp_root_dir / "sub" / "a.txt").unlink()  # gone behind the server's back: the next listing says so
    await call(jp_fetch, "GET", "api", "contents", "sub")
    await eventually(lambda: tables.row("contents", "sub/a.txt") is None, WAIT, "the vanished file gone")
    assert tables.row("contents", "sub/b.txt") is not None
    tables.assert_valid()


async def test_contents_follow_what_other_programs_do_to_a_file_a_room_holds(collab, jp_fetch, jp_root_dir):
    """Fed by our document events: a file changed or deleted on disk, not through Jupyter's API."""
    tables = await open_tables(collab)
    path = write_notebook(jp_root_dir, "held.ipynb", ["1"])
    await call(jp_fetch, "GET", "api", "contents")
    await eventually(lambda: tables.row("contents", path) is not None, WAIT, "the listed notebook")
    client, _ = await collab.open(path)
    await asyncio.wait_for(client.wait_synced(), WAIT)
    size = tables.row("contents", path)["size"]
    write_notebook(jp_root_dir, "held.ipynb", ["1", "x = 'a longer notebook than before'"])
    await eventually(lambda: tables.row("contents", path)["size"] != size, WAIT, "the new size of the file")

    (jp_root_dir / path).unlink()  # nobody lists the folder: only the room notices
    await eventually(lambda: tables.row("contents", path) is None, WAIT, "the deleted file's row gone")
    tables.assert_valid()


async def test_terminals_and_kernelspecs(collab, jp_fetch):
    tables = await open_tables(collab)
    await eventually(lambda: tables.row("kernelspecs", "python3") is not None, WAIT, "the python3 kernelspec")
    spec = tables.row("kernelspecs", "python3")
    assert spec["language"] == "python" and spec["default"] is True

    terminal = await call(jp_fetch, "POST", "api", "terminals")
    name = terminal["name"]
    await eventually(lambda: tables.row("terminals", name) is not None, WAIT, "the terminal's row")
    await eventually(lambda: tables.row("status", "server")["terminals"] == 1, WAIT, "status counting it")
    await call(jp_fetch, "DELETE", "api", "terminals", name)
    await eventually(lambda: tables.row("terminals", name) is None, WAIT, "the terminal's row gone")
    tables.assert_valid()


async def test_executions_rows_follow_the_records(collab, jp_fetch, jp_root_dir):
    tables = await open_tables(collab)
    path = write_notebook(jp_root_dir, "x.ipynb", ["6 * 7", "1 / 0", "never"])
    r = await call(jp_fetch, "POST", "api", "rtc", "executions", body={"path": path})
    eid = r["id"]
    await eventually(lambda: (tables.row("executions", f"{eid}/2") or {}).get("status") == "aborted", 60, "the batch")
    first, failed = tables.row("executions", f"{eid}/0"), tables.row("executions", f"{eid}/1")
    assert first["status"] == "ok" and first["execution_count"] == 1 and first["path"] == path
    assert first["kernel_id"] and first["kernel_restarts"] == 0
    assert failed["status"] == "error" and failed["ename"] == "ZeroDivisionError"
    kernel = first["kernel_id"]
    await eventually(lambda: (tables.row("kernels", kernel) or {}).get("execution_state") == "idle", WAIT, "idle")
    tables.assert_valid()


async def test_a_kernelspec_installed_and_removed_shows_after_a_refresh(collab, jp_fetch, jp_data_dir):
    tables = await open_tables(collab)
    folder = jp_data_dir / "kernels" / "echo-bench"
    folder.mkdir(parents=True)
    spec = {
        "argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Echo",
        "language": "echo",
    }
    (folder / "kernel.json").write_text(json.dumps(spec))
    (folder / "logo-64x64.png").write_bytes(b"\x89PNG")
    refreshed = await call(jp_fetch, "POST", "api", "rtc", "tables", "kernelspecs", "refresh")
    assert refreshed["rows"]["echo-bench"]["display_name"] == "Echo"
    await eventually(lambda: tables.row("kernelspecs", "echo-bench") is not None, WAIT, "the new kernelspec's row")
    row = tables.row("kernelspecs", "echo-bench")
    assert row["language"] == "echo" and row["default"] is False
    assert row["resources"]["logo-64x64"].endswith("/kernelspecs/echo-bench/logo-64x64.png")
    shutil.rmtree(folder)
    await call(jp_fetch, "POST", "api", "rtc", "tables", "kernelspecs", "refresh")
    await eventually(lambda: tables.row("kernelspecs", "echo-bench") is None, WAIT, "its row gone")
    tables.assert_valid()


async def test_refresh_over_rest_and_unknown_tables(jp_fetch):
    described = await call(jp_fetch, "GET", "api", "rtc", "tables")
    assert described["room"] == ROOM and set(described["tables"]) == set(TABLES)
    refreshed = await call(jp_fetch, "POST", "api", "rtc", "tables", "kernelspecs", "refresh")
    assert "python3" in refreshed["rows"]
    status = await call(jp_fetch, "GET", "api", "rtc", "tables", "status")
    assert status["rows"]["server"]["version"]
    with pytest.raises(HTTPClientError) as err:
        await call(jp_fetch, "POST", "api", "rtc", "tables", "nope", "refresh")
    assert err.value.code == 404 and json.loads(err.value.response.body)["error"] == "not_found"


async def test_a_client_cannot_write_the_tables(collab, jp_fetch, jp_serverapp):
    tables = await open_tables(collab)
    other = Tables(await collab.join(ROOM))
    await asyncio.wait_for(other.client.wait_synced(), WAIT)
    await eventually(lambda: tables.row("status", "server") is not None, WAIT, "the status row")
    before = dict(tables.row("status", "server"))
    doc = other.client.doc
    with doc.transaction():
        doc.get("status", type=Map)["server"] = {**before, "kernels": 99}
        doc.get("kernels", type=Map)["forged"] = {"id": "forged"}
    await eventually(lambda: any(n.get("type") == "denied" for n in other.client.notices), WAIT, "the denied notice")
    assert any(n.get("type") == "access" and n.get("access") == "read" for n in other.client.notices)
    # The relay handled our update before it sent the notice; the server re-reads a table meanwhile.
    await jp_fetch("api", "rtc", "tables", "status", "refresh", method="POST", body="{}")
    feeds = jp_serverapp.web_app.settings["supernode_tables"]
    assert "forged" not in feeds.tables.rows["kernels"]
    assert tables.row("kernels", "forged") is None
    assert tables.row("status", "server")["kernels"] != 99
