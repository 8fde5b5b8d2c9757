"""Kernel clients end with their kernel: 500 notebooks run once each (on kernels shut down after every 50)
leave the server's thread count flat — no heartbeat thread, no zmq context of a gone kernel survives."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from execution_helpers import cell_ids
from helpers import eventually
from jupyter_helpers import server_config, write_notebook

NOTEBOOKS = 500
PER_KERNEL = 50  # notebooks run on one kernel before it is shut down (a kernel start costs a second or two)
AT_ONCE = 10  # notebooks run at the same time on that kernel
TOLERANCE = 8  # threads a pool may still start lazily (asyncio's default executor grows up to cpu + 4)


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(journal_path=str(tmp_path / "journal.sqlite"))


def threads() -> int:
    """Threads of this process, Python's and native ones (zmq's I/O threads) alike."""
    return len(os.listdir("/proc/self/task"))


async def test_notebooks_whose_kernel_was_shut_down_leave_no_thread_behind(collab, jp_serverapp, jp_fetch, jp_root_dir):
    settings = jp_serverapp.web_app.settings
    executions, file_ids, km = (
        settings["supernode_executions"],
        settings["file_id_manager"],
        jp_serverapp.kernel_manager,
    )
    paths = [write_notebook(jp_root_dir, f"nb{i:03}.ipynb", [f"print({i})"]) for i in range(NOTEBOOKS)]

    async def run_one(kernel_id: str, path: str) -> None:
        (cell,) = cell_ids(jp_root_dir, path)
        body = {"cell_id": cell, "document_id": f"json:notebook:{file_ids.index(path)}"}
        r = await jp_fetch("api", "kernels", kernel_id, "execute", method="POST", body=json.dumps(body))
        record = json.loads(r.body)
        execution = executions.active.get(record["id"])
        if execution is not None:
            await asyncio.wait_for(execution.done.wait(), 60)
        done = await executions.get(record["id"])
        assert done["status"] == "ok" and done["cells"][0]["outputs"][0]["text"] == f"{int(path[2:5])}\n", done

    async def run_on_one_kernel(batch: list[str]) -> None:
        kernel_id = await km.start_kernel(kernel_name="python3")
        for start in range(0, len(batch), AT_ONCE):
            await asyncio.gather(*(run_one(kernel_id, path) for path in batch[start : start + AT_ONCE]))
        await km.shutdown_kernel(kernel_id)

    async def executors_dropped() -> None:
        # The shutdown is heard through the server's event bus, a loop turn or so after it returns.
        await eventually(lambda: not executions.executors, 10, "the executors of gone kernels dropped")

    await run_on_one_kernel(paths[:PER_KERNEL])  # pools and caches started once are not leaks
    await executors_dropped()
    before = threads()
    for start in range(PER_KERNEL, NOTEBOOKS, PER_KERNEL):
        await run_on_one_kernel(paths[start : start + PER_KERNEL])
    await executors_dropped()
    after = threads()
    print(f"threads: {before} after the first {PER_KERNEL} notebooks, {after} after {NOTEBOOKS}")
    assert after - before <= TOLERANCE, f"{after - before} threads more after {NOTEBOOKS - PER_KERNEL} notebooks"
