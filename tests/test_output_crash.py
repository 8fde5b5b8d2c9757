"""A Jupyter server killed with SIGKILL mid-run: after a restart the notebook holds every output the
kernel sent more than a second before the kill, once, in order.

A real ``jupyter server`` subprocess with our extensions runs a cell that prints a numbered line every
0.1 s and also appends it, with the time it was printed, to a file of its own (the kernel outlives
the server, so that file is the truth). The server is killed at a random moment, the kernel too,
and the server is started again; three rounds, each on a new notebook.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time

import nbformat

from browser.lab import JupyterLabServer

CELL = """\
import os, time
with open({truth!r}, "a", buffering=1) as truth:
    truth.write(f"pid {{os.getpid()}}\\n")
    for i in range(100_000):
        t = time.time()
        print(f"line {{i}} {{t:.3f}}", flush=True)
        truth.write(f"line {{i}} {{t:.3f}}\\n")
        time.sleep(0.1)
"""

ROUNDS = 3
GRACE = 1.0  # seconds: what the kernel sent this long before the kill must be in the file


def write_notebook(path, truth) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("a cell before"), nbformat.v4.new_code_cell(CELL.format(truth=str(truth)))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.write_text(nbformat.writes(nb))
    return nb.cells[1].id


def lines_on_disk(path) -> list[str]:
    nb = nbformat.reads(path.read_text(), as_version=4)
    return "".join(o.get("text", "") for o in nb.cells[1].outputs if o.get("output_type") == "stream").splitlines()


def read_truth(path) -> tuple[int | None, list[tuple[str, float]]]:
    pid, lines = None, []
    for line in path.read_text().splitlines():
        if line.startswith("pid "):
            pid = int(line.split()[1])
        elif line.count(" ") == 2:
            lines.append((line, float(line.split()[2])))
    return pid, lines


async def wait_for(check, timeout: float, what: str, server: JupyterLabServer):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}; log:\n{server.log_tail(40)}"
        await asyncio.sleep(0.05)
    return result


def kill_kernel(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def test_sigkill_mid_run_loses_no_output_sent_a_second_before(tmp_path):
    config = [f"--SupernodeExtension.journal_path={tmp_path / 'journal.sqlite'}"]  # saves as by default: 1 s / 5 s
    server = JupyterLabServer(tmp_path / "server", app="server", extra_args=config)
    rng = random.Random()
    lags = []
    await server.start()
    try:
        for round_ in range(ROUNDS):
            name = f"crash{round_}.ipynb"
            notebook, truth = server.root / name, tmp_path / f"truth{round_}.txt"
            cell_id = write_notebook(notebook, truth)
            status, record = await server.request("POST", "/api/rtc/executions", {"path": name, "cell_ids": [cell_id]})
            assert status == 202, record
            await wait_for(lambda truth=truth: truth.exists() and "line 0 " in truth.read_text(), 60, "the first line", server)
            await asyncio.sleep(rng.uniform(1.5, 4.0))  # the fault's random moment, not a wait on an event

            killed_at = time.time()
            os.kill(server._proc.pid, signal.SIGKILL)
            await server.stop()  # reaps it
            pid, printed = read_truth(truth)
            kill_kernel(pid)  # the kernel outlives its server

            await server.start()
            status, after = await server.request("GET", f"/api/rtc/executions/{record['id']}")  # after the replay
            assert status == 200, after
            assert after["status"] == "aborted", after

            kept = lines_on_disk(notebook)
            due = [line for line, t in printed if t < killed_at - GRACE]
            assert kept == [line for line, _ in printed[: len(kept)]], "not in order, or twice, or invented"
            assert len(kept) >= len(due), f"round {round_}: {len(kept)} lines kept, {len(due)} due: {kept[-3:]}"
            missing = [t for line, t in printed[len(kept) :] if t < killed_at]
            lags.append(killed_at - missing[0] if missing else 0.0)
            outputs = after["cells"][0]["outputs"]
            assert "".join(o.get("text", "") for o in outputs).splitlines() == kept  # the record has them too
            assert not list((tmp_path / "journal.outputs").iterdir())  # replayed once, then deleted
    finally:
        await server.stop()
        for round_ in range(ROUNDS):
            truth = tmp_path / f"truth{round_}.txt"
            if truth.exists():
                kill_kernel(read_truth(truth)[0])
    print(f"output lost on SIGKILL, per round (s before the kill): {[round(lag, 3) for lag in lags]}")
