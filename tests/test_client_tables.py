"""The client's view of the shared tables: live through the Python API, over REST, and ``jupyter-rtc tables``
as a subprocess — against a real jupyter_server with our extensions and real kernels."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from helpers import eventually
from jupyter_helpers import server_config, write_notebook
from rtc_client import LiveTables
from test_client_cli import cli

DEADLINE = 30.0


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"), tables_poll_interval=0.2)
    config["RelayExtension"]["store"] = str(tmp_path / "rooms.sqlite")
    return config


pytestmark = pytest.mark.usefixtures("started")


async def test_live_tables_follow_the_server_and_rest_reads_the_same_rows(server, jp_root_dir):
    async with await server.tables() as tables:
        assert isinstance(tables, LiveTables)
        await eventually(lambda: tables.row("status", "server") is not None, DEADLINE, "the status row")
        status = tables.row("status", "server")
        assert isinstance(status["kernels"], int)  # whole numbers come back as ints

        changes = []

        async def collect() -> None:
            async for change in tables.changes():
                changes.append(change)
                if change.table == "executions" and (change.row or {}).get("status") == "ok":
                    return

        watcher = asyncio.ensure_future(collect())
        path = write_notebook(jp_root_dir, "t.ipynb", ["40 + 2"])
        execution = await server.execute(path)
        await execution.wait(timeout=60, check=True)
        await asyncio.wait_for(watcher, DEADLINE)
        kinds = {change.table for change in changes}
        assert {"executions", "kernels", "sessions"} <= kinds
        row = next(c.row for c in changes if c.table == "executions" and c.row and c.row["status"] == "ok")
        assert row["execution_count"] == 1 and row["path"] == path

        over_rest = await server.table("executions")
        assert over_rest[f"{execution.id}/0"]["status"] == "ok"
        refreshed = await server.table("sessions", refresh=True)
        await eventually(lambda: tables.rows("sessions") == refreshed, DEADLINE, "the live and REST rows equal")
        with pytest.raises(ValueError):
            tables.rows("nope")


async def test_the_tables_subcommand_prints_and_watches(server, target):
    code, out, err = await cli("tables", "status", "kernelspecs", "--json", *target)
    assert code == 0, err
    snapshot = json.loads(out)["tables"]
    assert set(snapshot) == {"status", "kernelspecs"}
    assert snapshot["status"]["server"]["version"] and "python3" in snapshot["kernelspecs"]

    code, out, err = await cli("tables", *target)
    assert code == 0, err
    assert any(line.startswith("status\tserver\t") for line in out.splitlines())

    code, out, err = await cli("tables", "nope", *target)
    assert code == 2 and "no table nope" in err

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtc_client",
        "tables",
        "kernels",
        "--watch",
        "--count",
        "1",
        "--json",
        *target,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))  # the tables as they are
        assert first == {"tables": {"kernels": {}}}
        _, kernel, _ = await server.rest.request("POST", "api/kernels", {"name": "python3"})
        change = json.loads(await asyncio.wait_for(proc.stdout.readline(), DEADLINE))
        assert change["table"] == "kernels" and change["key"] == kernel["id"] and change["row"]["name"] == "python3"
        assert await asyncio.wait_for(proc.wait(), DEADLINE) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
