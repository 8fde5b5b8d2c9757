"""A server restart in the middle of a run: the record says aborted, the outputs so far are in the file, once."""

from __future__ import annotations

import asyncio
import json

import nbformat

from browser.lab import JupyterLabServer


def lines_on_disk(path) -> list[str]:
    try:
        nb = nbformat.reads(path.read_text(), as_version=4)
    except (OSError, ValueError):
        return []
    return "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream").splitlines()


async def test_a_restart_mid_run_aborts_the_record_and_keeps_the_outputs(tmp_path):
    config = [
        "--SupernodeExtension.save_max_wait=0.5",
        "--SupernodeExtension.save_delay=0.2",
        f"--SupernodeExtension.journal_path={tmp_path / 'journal.sqlite'}",
    ]
    server = JupyterLabServer(tmp_path / "server", app="server", extra_args=config)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import time\nfor i in range(100):\n    print(f'line {i}', flush=True)\n    time.sleep(0.2)"
        )
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = server.root / "restart.ipynb"
    notebook.write_text(nbformat.writes(nb))
    cell_id = nb.cells[0].id

    await server.start()
    try:
        status, record = await server.request(
            "POST", "/api/rtc/executions", {"path": "restart.ipynb", "cell_ids": [cell_id]}
        )
        assert status == 202, record
        deadline = asyncio.get_running_loop().time() + 30
        while len(lines_on_disk(notebook)) < 5:
            assert asyncio.get_running_loop().time() < deadline, server.log_tail(40)
            await asyncio.sleep(0.1)
    finally:
        await server.stop()  # SIGTERM in the middle of the run

    kept = lines_on_disk(notebook)
    assert len(kept) >= 5
    assert kept == [f"line {i}" for i in range(len(kept))]  # in order, nothing twice

    await server.start()
    try:
        status, after = await server.request("GET", f"/api/rtc/executions/{record['id']}")
        assert status == 200, after
        assert after["status"] == "aborted"
        assert after["cells"][0]["status"] == "aborted"
        assert lines_on_disk(notebook) == kept  # the restart added and removed nothing
        outputs_log = tmp_path / "journal.outputs"
        assert not outputs_log.exists() or not list(outputs_log.iterdir())  # no output log left behind
    finally:
        await server.stop()
    json.dumps(after)
