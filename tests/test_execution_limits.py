"""What the documentation promises about how many execution records are kept: the journal keeps the
``journal_limit`` finished records that finished last (unfinished ones always); the executions table lists
the ``tables_executions_limit`` newest (unfinished ones always), and older records stay readable over REST."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from pycrdt import Map

from execution_helpers import Api, cell_ids, gated_cell
from helpers import eventually
from jupyter_helpers import server_config, write_notebook

LIMIT = 3


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(
        journal_path=str(tmp_path / "journal.sqlite"),
        journal_limit=LIMIT,
        tables_executions_limit=LIMIT,
        tables_poll_interval=0.2,
    )


@pytest.fixture
def api(jp_fetch) -> Api:
    return Api(jp_fetch)


def journalled(tmp_path) -> dict[str, str]:
    """id → status of every record in the journal file, read as another program would."""
    db = sqlite3.connect(tmp_path / "journal.sqlite")
    try:
        return dict(db.execute("SELECT id, status FROM executions").fetchall())
    finally:
        db.close()


async def run_five(api, root) -> list[str]:
    """Five quick executions, one after the other: their ids, oldest first."""
    path = write_notebook(root, "quick.ipynb", ["x = 1"])
    (cell,) = cell_ids(root, path)
    ids = []
    for _ in range(5):
        _, record, _ = await api.run(path, [cell])
        assert (await api.finished(record["id"]))["status"] == "ok"
        ids.append(record["id"])
    return ids


async def start_long(api, root, gate) -> str:
    path = write_notebook(root, "long.ipynb", [gated_cell(gate)])
    _, record, _ = await api.run(path, cell_ids(root, path))
    await api.printed(record["id"], "waiting")
    return record["id"]


async def test_the_journal_keeps_the_last_finished_records_and_every_unfinished_one(api, collab, jp_root_dir, tmp_path):
    gate = tmp_path / "gate"
    long = await start_long(api, jp_root_dir, gate)
    ids = await run_five(api, jp_root_dir)

    assert journalled(tmp_path) == {long: "running", **{i: "ok" for i in ids[-LIMIT:]}}
    for forgotten in ids[:-LIMIT]:
        code, body, _ = await api.call("GET", "api", "rtc", "executions", forgotten)
        assert code == 404 and body["error"] == "not_found"

    gate.touch()  # the long one finishes last: it is kept, the oldest of the quick ones goes
    assert (await api.finished(long))["status"] == "ok"
    assert journalled(tmp_path) == {long: "ok", **{i: "ok" for i in ids[-LIMIT + 1 :]}}
    assert (await api.record(long))["status"] == "ok"


async def test_the_executions_table_lists_the_newest_and_every_unfinished_one(
    api, collab, started, jp_root_dir, tmp_path
):
    tables = await collab.join("supernode:tables")
    await asyncio.wait_for(tables.wait_synced(), 10)

    def listed() -> set[str]:
        return {key.split("/")[0] for key in tables.doc.get("executions", type=Map).keys()}

    gate = tmp_path / "gate"
    long = await start_long(api, jp_root_dir, gate)
    ids = await run_five(api, jp_root_dir)
    expected = {long, *ids[-LIMIT:]}
    await eventually(lambda: listed() == expected, timeout=10, what=f"{expected} listed, not {listed()}")

    gate.touch()
    assert (await api.finished(long))["status"] == "ok"
    await eventually(lambda: len(listed()) == LIMIT and ids[-1] in listed(), 10, f"{LIMIT} listed: {listed()}")
