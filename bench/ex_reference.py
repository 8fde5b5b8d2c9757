"""The kernel's own time for a cell: the same notebook run by nbclient, without any server.

Contract: ``run_reference(nb_path, workdir, timeout)`` runs every cell of the notebook written by
``ex_cells.write_notebook`` with ``nbclient.NotebookClient`` (kernel python3, defaults: one output per
stream message, ``record_timing``), with JUPYTER_RUNTIME_DIR and IPYTHONDIR in ``workdir`` so the
kernel's files stay there. It times the ``TARGET_ID`` cell and returns:

- ``total_s``: wall time from nbclient's ``on_cell_execute`` hook (just before the execute request)
  to its ``on_cell_executed`` hook (reply and idle status processed): nbclient's total for the cell;
- ``busy_s``: the kernel's execute_input -> idle status, from the messages' header dates (the
  kernel's clock is the host's);
- ``last_output_s``: the header date of the kernel's last output message, from the request;
- ``output_msgs``: output messages of the cell; ``outputs``: its outputs, streams merged
  (``ex_cells.merge_streams``); ``outputs_raw``: how many outputs nbclient wrote;
- ``nb_bytes``: size of nbclient's notebook written with ``nbformat.write`` (kept as
  ``workdir/nbclient.ipynb``); ``kernel_cpu_s``: utime+stime of the kernel process during the cell.
Kernel start-up is not in any figure; the kernel's own stdout/stderr go to ``workdir/kernel.log``. The kernel is shut down by nbclient; if it is still alive
afterwards (error, signal), it is killed by its pid. Raises on any cell error or after ``timeout``
seconds of one cell.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

import ex_proc
from ex_cells import TARGET_ID, merge_streams

OUTPUT_MSG_TYPES = frozenset(("stream", "display_data", "execute_result", "error", "clear_output",
                              "update_display_data"))


def header_time(msg: dict[str, Any]) -> float:
    """A message header's ``date`` as epoch seconds (jupyter_client gives a datetime or a string)."""
    date = msg["header"]["date"]
    if isinstance(date, str):
        date = datetime.fromisoformat(date.replace("Z", "+00:00"))
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    return date.timestamp()


class _TimedClient(NotebookClient):
    marks: dict[str, Any]
    target_index: int

    def process_message(self, msg, cell, cell_index):  # type: ignore[override]
        if cell_index == self.target_index:
            kind = msg["msg_type"]
            if kind in OUTPUT_MSG_TYPES:
                self.marks["output_msgs"] += 1
                self.marks["last_output"] = header_time(msg)
            elif kind == "execute_input":
                self.marks["execute_input"] = header_time(msg)
            elif kind == "status":
                self.marks[msg["content"]["execution_state"]] = header_time(msg)
        return super().process_message(msg, cell, cell_index)


def run_reference(nb_path: Path, workdir: Path, timeout: float) -> dict[str, Any]:
    nb = nbformat.read(str(nb_path), as_version=4)
    target_index = next(i for i, c in enumerate(nb.cells) if c.get("id") == TARGET_ID)
    for sub in ("runtime", "ipython"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    marks: dict[str, Any] = {"output_msgs": 0}
    kernel: dict[str, Any] = {}

    def _kernel_pid(client: NotebookClient) -> int | None:
        provisioner = getattr(client.km, "provisioner", None)
        return getattr(provisioner, "pid", None)

    def on_execute(cell, cell_index, **_):
        kernel["pid"] = kernel.get("pid") or _kernel_pid(client)  # known from the first cell on, for the cleanup
        if cell_index == target_index:
            kernel["cpu0"] = ex_proc.cpu_seconds(kernel["pid"]) if kernel["pid"] else None
            marks["request"] = time.time()

    def on_executed(cell, cell_index, **_):
        if cell_index == target_index:
            marks["done"] = time.time()
            if kernel.get("cpu0") is not None:
                kernel["cpu1"] = ex_proc.cpu_seconds(kernel["pid"])

    client = _TimedClient(nb, timeout=int(timeout), kernel_name="python3", startup_timeout=120,
                          resources={"metadata": {"path": str(workdir)}},
                          on_cell_execute=on_execute, on_cell_executed=on_executed)
    client.marks, client.target_index = marks, target_index
    saved = {k: os.environ.get(k) for k in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR")}
    os.environ["JUPYTER_RUNTIME_DIR"] = str(workdir / "runtime")
    os.environ["IPYTHONDIR"] = str(workdir / "ipython")
    log_path = workdir / "kernel.log"
    try:
        with log_path.open("wb") as log:  # the kernel's own output (start-up warnings), shown on failure
            try:
                client.execute(stdout=log, stderr=log)
            except Exception as exc:
                tail = log_path.read_bytes()[-1500:].decode(errors="replace")
                raise RuntimeError(f"{type(exc).__name__}: {exc}\n--- kernel output tail ---\n{tail}") from exc
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        pid = kernel.get("pid")
        if pid and ex_proc.alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    out_path = workdir / "nbclient.ipynb"
    nbformat.write(nb, str(out_path))
    cell = nb.cells[target_index]
    request = marks["request"]
    return {
        "total_s": marks["done"] - request,
        "busy_s": marks["idle"] - marks["execute_input"],
        "last_output_s": marks["last_output"] - request if "last_output" in marks else None,
        "idle_s": marks["idle"] - request,
        "output_msgs": marks["output_msgs"],
        "outputs_raw": len(cell.outputs),
        "outputs": merge_streams(nbformat.reads(nbformat.writes(nb), as_version=4).cells[target_index].outputs),
        "nb_bytes": out_path.stat().st_size,
        "kernel_cpu_s": (kernel["cpu1"] - kernel["cpu0"]) if kernel.get("cpu1") is not None else None,
        "execution_count": cell.get("execution_count"),
    }
