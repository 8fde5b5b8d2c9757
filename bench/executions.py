"""Execution benchmark: cells run by id through our REST API, against the kernel's own time.

For each cell (A: ``print`` of N short lines; B: one ``display(..., display_id=True)`` updated M
times), each of ``--repeat`` rounds does:

1. reference: the same notebook run by nbclient (no server, same kernelspec, same machine):
   nbclient's total for the cell, the kernel's execute_input -> idle, its last output's date;
2. ours: a fresh server (``--SupernodeExtension.save_max_wait=1``) with a fresh copy of the notebook,
   a y-websocket client connected to the notebook's room, and a second subscriber on the kernel's
   iopub (the kernel's message dates are the reference clock). After a warm-up cell (kernel start),
   ``POST /api/rtc/executions`` of the cell, then: when the record is ``ok`` (its ``finished``
   stamp), when the connected client's doc holds the final output and the ``execution_count``, when
   the file on disk does; the server's and the kernel's CPU seconds (each process alone, /proc);
   the saved file's size and whether its outputs equal nbclient's (streams merged).

Then memory: a fresh server runs cell B ``--memory-runs`` times in a row through the REST API (a
client stays connected) and the server's RSS is read after every run. The first runs fill bounded
windows and caches (SQLite page caches, the kernel client's replay window, allocator pools), so the
verdict is on the steady state: over the second half of the runs (or from ``--memory-from``), the
least-squares slope of the floor (the lowest RSS of each block of ``MEMORY_BLOCK`` runs: a run's
transient peak moves a single sample by megabytes, a leak raises every floor) must stay under
``MEMORY_SLOPE_KB`` KB/run. The raw slope of every sample and the warm-up slope (runs 10 to the middle)
are printed too.

Targets (PASS/FAIL): request -> document complete < 2x nbclient's total for the cell; the saved
file's outputs equal nbclient's; memory flat.

Usage: ``python bench/executions.py [--quick] [--repeat 3] [--cells A,B|none] [--lines N] [--updates M]
[--memory-runs R] [--memory-cell B|lines|A] [--timeout 300] [--json FILE]``. Exit status 1 if a run failed or a target FAILs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import ex_proc
from ex_cells import TARGET_ID, WARMUP_ID, Workload, compare, merge_streams, write_notebook
from ex_live import Api, ExecServer, IopubWatcher, doc_cell, wait_doc, watch_doc, watch_file
from ex_reference import run_reference
from nb_client import NotebookClient
from servers import free_port

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
NB_NAME = "exec.ipynb"
SERVER_ARGS = ["--SupernodeExtension.save_max_wait=1"]
RECORD_POLL_S = 0.1  # the record's own "finished" stamp gives the time; polling only notices it
SETTLE_S = 0.5  # after the warm-up runs, before the measured one
SUBSCRIBE_TRIES = 10
KEEP_UP_FACTOR = 2.0
MEMORY_SLOPE_KB = 32.0  # KB per run, least squares over the steady runs
MEMORY_WARMUP_FROM = 10
MEMORY_BLOCK = 10  # runs per block of the floor slope
MEMORY_MARKS = (1, 10, 50, 100)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _doc_outputs(client: NotebookClient) -> list[dict]:
    ycell = doc_cell(client, TARGET_ID)
    return ycell["outputs"].to_py() if ycell is not None else []


async def _start_kernel(server: ExecServer, api: Api, deadline: float) -> tuple[IopubWatcher, int]:
    """Warm-up runs: start the kernel, subscribe to its iopub and make sure the subscription is live."""
    first = await api.submit(NB_NAME, [WARMUP_ID])
    await api.wait_finished(first["id"], deadline, 0.05)
    kernel_id = await api.kernel_id(NB_NAME)
    watcher = IopubWatcher(server.workdir / "runtime" / f"kernel-{kernel_id}.json")
    try:
        for attempt in range(SUBSCRIBE_TRIES):  # a SUB socket misses what is sent while it joins
            watcher.expect("pass")
            record = await api.submit(NB_NAME, [WARMUP_ID])
            await api.wait_finished(record["id"], deadline, 0.05)
            try:
                await watcher.finished(min(deadline, _deadline(2.0)))
                break
            except TimeoutError:
                if attempt == SUBSCRIBE_TRIES - 1:
                    raise
        pid = server.kernel_pid()
        if pid is None:
            raise RuntimeError("no ipykernel child of the server")
        return watcher, pid
    except BaseException:
        await watcher.close()
        raise


async def _measure(server: ExecServer, work: Workload, ref: dict, timeout: float) -> dict:
    api = Api(server.base_url, server.token)
    disk = server.root / NB_NAME
    client = NotebookClient(server.base_url, server.token, NB_NAME)
    watcher = None
    try:
        await client.open(_deadline(timeout))
        watcher, kernel_pid = await _start_kernel(server, api, _deadline(timeout))
        await asyncio.sleep(SETTLE_S)
        deadline = _deadline(timeout)
        watcher.expect(work.source)
        rss0 = ex_proc.rss_bytes(server.pid)
        cpu0, kcpu0, bench0 = ex_proc.cpu_seconds(server.pid), ex_proc.cpu_seconds(kernel_pid), time.process_time()
        doc_task = asyncio.ensure_future(watch_doc(client, TARGET_ID, work.probe, deadline))
        file_task = asyncio.ensure_future(watch_file(disk, TARGET_ID, work.final_in, deadline))
        try:
            t_req = time.time()
            submitted = await api.submit(NB_NAME, [TARGET_ID])
            t_accepted = time.time()
            record = await api.wait_finished(submitted["id"], deadline, RECORD_POLL_S)
            t_ok_seen = time.time()
            kernel = await watcher.finished(deadline)
            doc = await doc_task
            saved = await file_task
        finally:
            doc_task.cancel()
            file_task.cancel()
        cpu1, kcpu1, bench1 = ex_proc.cpu_seconds(server.pid), ex_proc.cpu_seconds(kernel_pid), time.process_time()
        rss1 = ex_proc.rss_bytes(server.pid)
        saved_outputs = next(c.get("outputs", []) for c in saved["json"]["cells"] if c.get("id") == TARGET_ID)
        file_eq, file_diff = compare(merge_streams(saved_outputs), ref["outputs"])
        doc_eq, doc_diff = compare(merge_streams(_doc_outputs(client)), ref["outputs"])
        rec_eq, rec_diff = compare(merge_streams(record["cells"][0].get("outputs") or []), ref["outputs"])
        ref_eq, ref_diff = compare(ref["outputs"], work.expected)
        total_doc = doc["complete"] - t_req
        return {
            "accepted_ms": (t_accepted - t_req) * 1000,
            "ok_s": _epoch(record["finished"]) - t_req,
            "ok_seen_s": t_ok_seen - t_req,
            "kernel_start_s": kernel["execute_input"] - t_req,
            "kernel_s": kernel["idle"] - kernel["execute_input"],
            "kernel_last_output_s": kernel.get("last_output", kernel["idle"]) - t_req,
            "kernel_output_msgs": kernel["output_msgs"],
            "doc_first_change_s": doc.get("first_change", doc["complete"]) - t_req,
            "doc_output_lag_ms": (doc["final_output"] - kernel.get("last_output", kernel["idle"])) * 1000,
            "doc_lag_ms": (doc["complete"] - kernel["idle"]) * 1000,
            "file_lag_ms": (saved["complete"] - kernel["idle"]) * 1000,
            "file_mtime_lag_ms": (saved["mtime"] - kernel["idle"]) * 1000,
            "record_lag_ms": (_epoch(record["finished"]) - kernel["idle"]) * 1000,
            "file_versions": saved["versions"],
            "doc_total_s": total_doc,
            "keep_up_ratio": total_doc / ref["total_s"],
            "server_cpu_s": cpu1 - cpu0,
            "kernel_cpu_s": kcpu1 - kcpu0,
            "bench_cpu_s": bench1 - bench0,
            "server_rss_mb": rss1 / 1e6,
            "server_rss_growth_mb": (rss1 - rss0) / 1e6,
            "saved_kb": saved["bytes"] / 1e3,
            "size_ratio": saved["bytes"] / ref["nb_bytes"],
            "file_equal": file_eq,
            "file_diff": file_diff,
            "doc_equal": doc_eq,
            "doc_diff": doc_diff,
            "record_equal": rec_eq,
            "record_diff": rec_diff,
            "reference_equals_expected": ref_eq,
            "reference_diff": ref_diff,
            "execution_count": record["cells"][0].get("execution_count"),
        }
    finally:
        if watcher is not None:
            await watcher.close()
        await client.close()


async def _memory(server: ExecServer, work: Workload, runs: int, timeout: float, slope_from: int | None = None) -> dict:
    api = Api(server.base_url, server.token)
    client = NotebookClient(server.base_url, server.token, NB_NAME)
    watcher = None
    try:
        await client.open(_deadline(timeout))
        watcher, kernel_pid = await _start_kernel(server, api, _deadline(timeout))
        samples = []
        cpu0 = ex_proc.cpu_seconds(server.pid)
        t0 = time.monotonic()
        for run in range(1, runs + 1):
            deadline = _deadline(timeout)
            watcher.expect(work.source)
            updates_before, started = client.updates_received, time.monotonic()
            submitted = await api.submit(NB_NAME, [TARGET_ID])
            record = await api.wait_finished(submitted["id"], deadline, 0.02)
            count = record["cells"][0].get("execution_count")
            kernel = await watcher.finished(deadline)

            def caught_up(count=count) -> bool:
                ycell = doc_cell(client, TARGET_ID)
                return (
                    ycell is not None
                    and ycell.get("execution_count") == count
                    and ycell.get("execution_state") == "idle"
                    and work.probe(ycell)
                )

            await wait_doc(client, caught_up, deadline, f"run {run}'s final output in the client's doc")
            sample = {
                "run": run,
                "rss_mb": ex_proc.rss_bytes(server.pid) / 1e6,
                "kernel_rss_mb": ex_proc.rss_bytes(kernel_pid) / 1e6,
                "s": time.monotonic() - started,
                "iopub_msgs": kernel["output_msgs"] + 3,  # + busy, execute_input, idle
                "doc_updates": client.updates_received - updates_before,
            }
            if run in MEMORY_MARKS or run == runs:
                sample["doc_update_kb"] = len(client.doc.get_update()) / 1e3
            samples.append(sample)
            if run in MEMORY_MARKS or run % 10 == 0:
                _log(f"  memory run {run}/{runs}: server RSS {sample['rss_mb']:.1f} MB")
        cpu = ex_proc.cpu_seconds(server.pid) - cpu0
        elapsed = time.monotonic() - t0
        steady_from = slope_from if slope_from is not None else max(1, runs // 2)
        tail = [s for s in samples if s["run"] >= min(steady_from, max(1, runs // 2))]
        slope = _slope([s["run"] for s in tail], [s["rss_mb"] * 1e3 for s in tail])
        floors = _floors(tail)
        floor_slope = _slope([run for run, _ in floors], [kb for _, kb in floors])
        warm = [s for s in samples if MEMORY_WARMUP_FROM <= s["run"] <= (tail[0]["run"] if tail else runs)]
        warm_slope = _slope([s["run"] for s in warm], [s["rss_mb"] * 1e3 for s in warm])
        kslope = _slope([s["run"] for s in tail], [s["kernel_rss_mb"] * 1e3 for s in tail])
        first, last = samples[: min(10, runs)], samples[-min(10, runs) :]
        return {
            "samples": samples,
            "slope_kb_per_run": slope,
            "floor_slope_kb_per_run": floor_slope,
            "warmup_slope_kb_per_run": warm_slope,
            "warmup_from_run": MEMORY_WARMUP_FROM,
            "kernel_slope_kb_per_run": kslope,
            "s_first_runs": statistics.fmean(s["s"] for s in first),
            "s_last_runs": statistics.fmean(s["s"] for s in last),
            "iopub_msgs_per_run": statistics.median(s["iopub_msgs"] for s in samples),
            "doc_updates_per_run": statistics.median(s["doc_updates"] for s in samples),
            "slope_from_run": tail[0]["run"] if tail else None,
            "server_cpu_ms_per_run": cpu / runs * 1000,
            "s_per_run": elapsed / runs,
            "flat": floor_slope is not None and floor_slope <= MEMORY_SLOPE_KB,
        }
    finally:
        if watcher is not None:
            await watcher.close()
        await client.close()


def _floors(samples: list[dict]) -> list[tuple[float, float]]:
    """(middle run, lowest server RSS in KB) of each block of ``MEMORY_BLOCK`` consecutive runs.

    What is alive sets the floor; a run's transient peak (a batch of a thousand iopub messages, a save)
    does not. A leak raises the floor block after block.
    """
    blocks = [samples[i : i + MEMORY_BLOCK] for i in range(0, len(samples), MEMORY_BLOCK)]
    return [
        (statistics.fmean(s["run"] for s in block), min(s["rss_mb"] for s in block) * 1e3)
        for block in blocks
        if len(block) == MEMORY_BLOCK
    ]


def _slope(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else None


def _with_server(python: str, source: Path, tmp: Path, args, body, total: float) -> dict:
    """A fresh server with a fresh copy of the notebook; ``body(server)`` is a coroutine function,
    given ``total`` seconds in all (its own waits have shorter deadlines). A failure is returned as
    ``{"failed": reason}``."""
    workdir = Path(tempfile.mkdtemp(prefix="srv-", dir=tmp))
    try:
        (workdir / "root").mkdir()
        shutil.copyfile(source, workdir / "root" / NB_NAME)
        server = ExecServer(
            python,
            workdir,
            free_port(),
            secrets.token_hex(16),
            SERVER_ARGS + args.server_arg,
            ready_timeout=args.ready_timeout,
        )
        try:
            with server:
                try:
                    return asyncio.run(asyncio.wait_for(body(server), timeout=total))
                except Exception as exc:
                    died = "" if server.alive() else f" (server exited)\n{server.output_tail()}"
                    return {"failed": f"{type(exc).__name__}: {exc}{died}"}
        except Exception as exc:  # ServerError from start-up
            return {"failed": f"{type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _reference(source: Path, tmp: Path, timeout: float) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="ref-", dir=tmp))
    try:
        ref = run_reference(source, workdir, timeout)
        ref["nb_kb"] = ref["nb_bytes"] / 1e3
        return ref
    except Exception as exc:
        return {"failed": f"nbclient: {type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- the report ------------------------------------------------------------------------------------

# (source, key, label, format); source "ref" = nbclient, "ours" = our server.
ROWS: list[tuple[str, str, str, str]] = [
    ("ref", "total_s", "nbclient: cell total s (the kernel's own time)", "{:.3f}"),
    ("ref", "busy_s", "nbclient: kernel execute_input -> idle s", "{:.3f}"),
    ("ref", "last_output_s", "nbclient: kernel's last output at s", "{:.3f}"),
    ("ref", "output_msgs", "nbclient: output messages", "{:,.0f}"),
    ("ref", "kernel_cpu_s", "nbclient: kernel CPU s", "{:.2f}"),
    ("ours", "ok_s", "ours: request -> record ok s (record.finished)", "{:.3f}"),
    ("ours", "kernel_start_s", "ours: request -> kernel execute_input s", "{:.3f}"),
    ("ours", "kernel_s", "ours: kernel execute_input -> idle s", "{:.3f}"),
    ("ours", "kernel_output_msgs", "ours: kernel output messages", "{:,.0f}"),
    ("ours", "doc_output_lag_ms", "ours: kernel last output -> doc has it ms", "{:,.0f}"),
    ("ours", "doc_lag_ms", "ours: kernel idle -> doc complete ms (a)", "{:,.0f}"),
    ("ours", "record_lag_ms", "ours: kernel idle -> record ok ms", "{:,.0f}"),
    ("ours", "file_lag_ms", "ours: kernel idle -> file complete ms (b)", "{:,.0f}"),
    ("ours", "doc_total_s", "ours: request -> doc complete s", "{:.3f}"),
    ("ours", "keep_up_ratio", "  / nbclient total (target < 2)", "{:.2f}"),
    ("ours", "server_cpu_s", "ours: server CPU s (server process only)", "{:.2f}"),
    ("ours", "kernel_cpu_s", "ours: kernel CPU s", "{:.2f}"),
    ("ours", "bench_cpu_s", "bench client CPU s (info)", "{:.2f}"),
    ("ours", "server_rss_growth_mb", "ours: server RSS growth in the run MB", "{:.1f}"),
    ("ref", "nb_kb", "nbclient notebook KB", "{:,.0f}"),
    ("ours", "saved_kb", "ours: saved notebook KB", "{:,.0f}"),
    ("ours", "size_ratio", "  saved / nbclient size", "{:.2f}"),
    ("ours", "file_equal", "saved outputs == nbclient's (merged)", "bool"),
    ("ours", "doc_equal", "doc outputs == nbclient's (merged)", "bool"),
]


def _median(runs: list[dict], key: str):
    values = [r[key] for r in runs if r.get(key) is not None]
    if not values:
        return None
    if isinstance(values[0], bool):
        return f"{sum(values)}/{len(values)}"
    return statistics.median(values)


def _fmt(fmt: str, value) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else fmt.format(value)


def _verdicts(results: dict, memory: dict | None) -> list[tuple[str, bool]]:
    out = []
    for key, res in results.items():
        ours = [r for r in res["ours"] if "failed" not in r]
        ratio = _median(ours, "keep_up_ratio")
        out.append(
            (
                f"{key}: document keeps up (request -> doc complete {_fmt('{:.2f}', ratio)}x "
                f"nbclient's total, target < {KEEP_UP_FACTOR:g}x)",
                ratio is not None and ratio < KEEP_UP_FACTOR and len(ours) == len(res["ours"]),
            )
        )
        equal = [r["file_equal"] for r in ours]
        out.append(
            (
                f"{key}: saved outputs equal nbclient's after merging streams ({sum(equal)}/{len(res['ours'])} runs)",
                bool(equal) and all(equal) and len(ours) == len(res["ours"]),
            )
        )
    if memory is not None:
        slope = memory.get("floor_slope_kb_per_run")
        out.append(
            (
                f"memory flat (server RSS floor slope {_fmt('{:+.1f}', slope)} KB/run over runs "
                f"{memory.get('slope_from_run')}..{memory.get('runs')}, target <= {MEMORY_SLOPE_KB:g})",
                bool(memory.get("flat")),
            )
        )
    return out


def _render(results: dict, memory: dict | None, memory_label: str) -> str:
    keys = list(results)
    header = ("metric", *[f"{k} ({results[k]['label']})" for k in keys])
    rows = [header]
    for source, key, label, fmt in ROWS:
        values = []
        for k in keys:
            runs = [r for r in results[k][source] if "failed" not in r]
            values.append(_fmt(fmt, _median(runs, key)))
        rows.append((label, *values))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines: list[str] = []
    for n, row in enumerate(rows if keys else []):
        lines.append(
            "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip()
        )
        if n == 0:
            lines.append("-" * len(lines[0]))
    if memory is not None:
        lines.append("")
        if "failed" in memory:
            lines.append(f"memory ({memory_label}): FAILED: {memory['failed']}")
        else:
            marks = [s for s in memory["samples"] if s["run"] in MEMORY_MARKS or s["run"] == memory["runs"]]
            lines.append(
                f"memory: {memory_label}, {memory['runs']} runs in a row, "
                f"{memory['s_per_run']:.2f} s and {memory['server_cpu_ms_per_run']:.0f} ms server CPU per run"
            )
            lines.append("  after run:        " + "".join(f"{s['run']:>9}" for s in marks))
            lines.append("  server RSS MB:    " + "".join(f"{s['rss_mb']:>9.1f}" for s in marks))
            lines.append("  kernel RSS MB:    " + "".join(f"{s['kernel_rss_mb']:>9.1f}" for s in marks))
            lines.append("  shared doc KB:    " + "".join(f"{s.get('doc_update_kb', 0):>9.1f}" for s in marks))
            lines.append(
                f"  per run: {memory['iopub_msgs_per_run']:,.0f} iopub messages of the cell, "
                f"{memory['doc_updates_per_run']:,.0f} doc updates to the client; "
                f"{memory['s_first_runs']:.2f} s (first 10 runs) vs {memory['s_last_runs']:.2f} s (last 10)"
            )
            lines.append(
                f"  server RSS floor slope {_fmt('{:+.1f}', memory.get('floor_slope_kb_per_run'))} KB/run "
                f"(lowest of each {MEMORY_BLOCK} runs), raw slope {memory['slope_kb_per_run']:+.1f} KB/run, kernel "
                f"{memory['kernel_slope_kb_per_run']:+.1f} KB/run (least squares, runs "
                f"{memory['slope_from_run']}..{memory['runs']}); warm-up "
                f"{_fmt('{:+.1f}', memory.get('warmup_slope_kb_per_run'))} KB/run (runs "
                f"{memory.get('warmup_from_run')}..{memory['slope_from_run']})"
            )
    lines.append("")
    for text, ok in _verdicts(results, memory):
        lines.append(f"{'PASS' if ok else 'FAIL'}  {text}")
    notes = [f"{k}: {n}" for k in keys for n in results[k]["notes"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def _notes(res: dict) -> list[str]:
    notes = []
    for i, r in enumerate(res["ref"], 1):
        if "failed" in r:
            notes.append(f"run {i} nbclient FAILED: {r['failed']}")
    for i, r in enumerate(res["ours"], 1):
        if "failed" in r:
            notes.append(f"run {i} ours FAILED: {r['failed']}")
            continue
        for what in ("file", "doc", "record"):
            if not r[f"{what}_equal"]:
                notes.append(f"run {i}: {what} outputs differ from nbclient's: {r[f'{what}_diff']}")
        if not r["reference_equals_expected"]:
            notes.append(f"run {i}: nbclient's outputs are not the expected ones: {r['reference_diff']}")
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark cell execution through our REST API against nbclient.")
    parser.add_argument("--quick", action="store_true", help="10,000 lines, 100 updates, 20 memory runs, 1 round")
    parser.add_argument("--cells", default="A,B", help="comma-separated: A (printed lines), B (display updates)")
    parser.add_argument("--lines", type=int, help="lines printed by cell A (default 100,000; quick 10,000)")
    parser.add_argument("--updates", type=int, help="display updates of cell B (default 1,000; quick 100)")
    parser.add_argument(
        "--memory-runs",
        type=int,
        help="runs of cell B for the memory check (default 300, the verdict on runs 150..300; quick 20; 0 skips it)",
    )
    parser.add_argument(
        "--memory-from",
        type=int,
        help="first run of the steady-state memory slope (default: the middle run)",
    )
    parser.add_argument(
        "--memory-cell",
        choices=("B", "lines", "A"),
        default="B",
        help="cell of the memory check: B, a cheaper one printing 1,000 lines, or A",
    )
    parser.add_argument("--repeat", type=int, help="rounds per cell, medians shown (default 3; quick 1)")
    default_python = PROJECT_DIR / ".venv" / "bin" / "python"
    parser.add_argument(
        "--python",
        default=str(default_python) if default_python.exists() else sys.executable,
        help="interpreter of the venv with our server (default: the project's .venv)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="deadline in s of each wait")
    parser.add_argument("--ready-timeout", type=float, default=90.0, help="deadline in s for /api/status")
    parser.add_argument("--json", metavar="FILE", help="also write every run and the summary as JSON")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument of our server (repeatable), e.g. --server-arg=--SupernodeExtension.tables=False",
    )
    args = parser.parse_args()
    lines = args.lines or (10_000 if args.quick else 100_000)
    updates = args.updates or (100 if args.quick else 1_000)
    memory_runs = args.memory_runs if args.memory_runs is not None else (20 if args.quick else 300)
    repeat = args.repeat or (1 if args.quick else 3)
    cells = [c.strip().upper() for c in args.cells.split(",") if c.strip() and c.strip().lower() != "none"]
    if any(c not in ("A", "B") for c in cells):
        parser.error("--cells takes A and/or B, or none")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stops servers, removes temp dirs

    workloads = {c: Workload(c, lines if c == "A" else updates) for c in cells}
    results: dict[str, dict] = {}
    memory: dict | None = None
    memory_work = {"B": Workload("B", updates), "lines": Workload("A", 1_000), "A": Workload("A", lines)}[
        args.memory_cell
    ]
    memory_label = f"cell {memory_work.key} ({memory_work.label})"
    with tempfile.TemporaryDirectory(prefix="exec-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for key, work in workloads.items():
            source = tmp / f"src-{key}.ipynb"
            write_notebook(source, work.source)
            res = results[key] = {"label": work.label, "ref": [], "ours": []}
            for r in range(repeat):
                ref = _reference(source, tmp, args.timeout)
                res["ref"].append(ref)
                if "failed" in ref:
                    _log(f"[{key}] round {r + 1}/{repeat}: nbclient FAILED: {ref['failed'].splitlines()[0]}")
                    res["ours"].append({"failed": "no nbclient reference"})
                    continue
                _log(
                    f"[{key}] round {r + 1}/{repeat}: nbclient {ref['total_s']:.3f} s "
                    f"(kernel {ref['busy_s']:.3f} s, {ref['output_msgs']} output msgs)"
                )
                ours = _with_server(
                    args.python,
                    source,
                    tmp,
                    args,
                    lambda server, work=work, ref=ref: _measure(server, work, ref, args.timeout),
                    4 * args.timeout,
                )
                res["ours"].append(ours)
                if "failed" in ours:
                    _log(f"[{key}] round {r + 1}/{repeat}: ours FAILED: {ours['failed'].splitlines()[0]}")
                else:
                    _log(
                        f"[{key}] round {r + 1}/{repeat}: ours: request -> doc complete {ours['doc_total_s']:.3f} s "
                        f"({ours['keep_up_ratio']:.2f}x), file +{ours['file_lag_ms']:.0f} ms after idle, "
                        f"server CPU {ours['server_cpu_s']:.2f} s, file equal: {ours['file_equal']}"
                    )
            res["notes"] = _notes(res)
        if memory_runs > 0:
            source = tmp / "src-memory.ipynb"
            write_notebook(source, memory_work.source)
            _log(f"[memory] {memory_label} x {memory_runs}")
            memory = _with_server(
                args.python,
                source,
                tmp,
                args,
                lambda server: _memory(server, memory_work, memory_runs, args.timeout, args.memory_from),
                (4 + memory_runs) * args.timeout,
            )
            memory["runs"] = memory_runs

    print(_render(results, memory, memory_label))
    verdicts = _verdicts(results, memory)
    if args.json:
        config = {
            **vars(args),
            "lines": lines,
            "updates": updates,
            "memory_runs": memory_runs,
            "repeat": repeat,
            "server_args": SERVER_ARGS + args.server_arg,
        }
        summary = {
            key: {
                src: {k: _median([r for r in res[src] if "failed" not in r], k) for s, k, _, _ in ROWS if s == src}
                for src in ("ref", "ours")
            }
            for key, res in results.items()
        }
        slim = {
            key: {**res, "ref": [{k: v for k, v in r.items() if k != "outputs"} for r in res["ref"]]}
            for key, res in results.items()
        }  # nbclient's outputs: megabytes, and known (ex_cells)
        Path(args.json).write_text(
            json.dumps(
                {
                    "config": config,
                    "results": slim,
                    "summary": summary,
                    "memory": memory,
                    "verdicts": [{"target": t, "pass": ok} for t, ok in verdicts],
                },
                indent=2,
                default=str,
            )
        )
    failed = any("failed" in r for res in results.values() for r in res["ref"] + res["ours"])
    failed = failed or (memory is not None and "failed" in memory)
    return 1 if failed or not all(ok for _, ok in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
