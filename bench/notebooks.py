"""Notebook benchmark: open and save through the Jupyter collaboration API, our server against
jupyter-collaboration.

Both servers are ``python -m jupyter server`` from their own venv: ours from the project's venv (its
extensions serve the API), jupyter-collaboration 5.0 from a separate venv that this script creates
on first use (``--jc-venv``, default ``~/.cache/jupyter-rtc-bench/jc-venv``; never a dependency of
the project). Each run starts a fresh server on a free port with its own root, config, data and
runtime directories and a fresh copy of one notebook, so every open is cold (not in memory, no
ystore). A run, with every wait bounded by ``--timeout``:

1. cold open: client A PUTs the session, opens the room websocket, sends SyncStep1; timed from the
   PUT's start to A's receipt of SyncStep2. The doc must then hold the notebook's cells (count, ids).
   A server that loads in stages sends the large outputs after SyncStep2: "whole" is the time from the
   PUT's start until A's doc holds every output of the file (their count, and no ``loading`` flag in
   its state map: ours says so until the last piece of a long stream is in; a server that sends
   everything in SyncStep2 has it then). The server's RSS is read once A holds the whole notebook,
   and again 3 s later (what the server does after an open, a cache write, a validation, is done).
   A leaves and the server is stopped (SIGTERM, as every morning's restart);
2. re-open: a new server on the same directories (root, data, runtime, working dir: whatever the
   server kept of the first open, its load cache or its ystore, is there), and a new client A opens
   the unchanged file, timed the same way;
3. late join: client B does the same while A stays connected, right after A holds the whole notebook
   (for a server that sends everything in SyncStep2, right after it; for one loading in stages, once the
   last output arrived: each server's re-open is then timed alone, and each late joiner joins a room
   whose first client has everything); "whole" as for A. B runs in a process of its own
   (``nb_peer.py``, started before the server, idle until then), as a person joining from another
   machine: its times are the server's, not those of one Python process taking A's and B's messages in
   turn;
4. save: A inserts a character at the start of cell 0's source, sends the update, then the custom
   "save" request; timed from the request to the ``"status": "success"`` reply (``"skipped"`` is
   retried). Then the file is read back: did it change, and does it hold the edit?

The runs alternate which server goes first; the table shows medians over ``--repeat`` runs and the
ratio ours/jc (lower is better, except for rows marked "info", which have no ratio).

Usage: ``python bench/notebooks.py [--notebooks 10,1000,5000,50mb] [--repeat 3] [--only jc|ours]
[--ours-python PY] [--jc-python PY | --jc-venv DIR] [--timeout 300] [--json FILE]``.
Exit status 1 if any run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nb_workloads
import procstat
from nb_client import EDIT_MARK, NotebookClient
from nb_peer import PeerProcess
from nb_server import DEFAULT_JC_VENV, JupyterServer, ensure_jc_venv
from servers import free_port

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
SERVERS = ("jc", "ours")
LABELS = {"jc": "jupyter-collaboration", "ours": "ours"}
RSS_SETTLE_S = 3.0
PEER_WAIT_S = 5.0  # how long B may take to see A's edit (informational check)

# (key, label, format, has_ratio). Booleans are shown as "k/n runs".
METRICS: list[tuple[str, str, str, bool]] = [
    ("cold_open_ms", "cold open ms (PUT -> SyncStep2)", "{:,.1f}", True),
    ("cold_whole_ms", "cold open ms (PUT -> whole notebook)", "{:,.1f}", True),
    ("reopen_ms", "re-open after restart ms (unchanged file)", "{:,.1f}", True),
    ("reopen_whole_ms", "re-open ms (PUT -> whole notebook)", "{:,.1f}", True),
    ("late_join_ms", "late join ms (PUT -> SyncStep2)", "{:,.1f}", True),
    ("late_whole_ms", "late join ms (PUT -> whole notebook)", "{:,.1f}", True),
    ("save_ms", "save ms (request -> success)", "{:,.1f}", True),
    ("file_changed", "file changed by save", "bool", False),
    ("edit_on_disk", "edit in saved file", "bool", False),
    ("peer_saw_edit", "B received A's edit", "bool", False),
    ("step2_mb", "SyncStep2 size MB (info)", "{:,.2f}", False),
    ("rss_open_mb", "server RSS after open MB", "{:,.0f}", True),
    ("rss_settled_mb", "server RSS 3 s later MB", "{:,.0f}", True),
    ("server_start_s", "server start s (info)", "{:.2f}", False),
]


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _measure_cold(server: JupyterServer, nb_path: str, cells: int, first_id: str, last_id: str,
                        outputs: int, timeout: float) -> dict:
    a = NotebookClient(server.base_url, server.token, nb_path, outputs=outputs)
    try:
        opened = await a.open(_deadline(timeout))
        _check(a, "A", cells, first_id, last_id)
        whole = await a.whole(_deadline(timeout))
        return {
            "cold_open_ms": opened["step2_ms"],
            "cold_whole_ms": whole,
            "cold_put_ms": opened["put_ms"],
            "cold_ws_ms": opened["ws_ms"],
            "cold_apply_ms": opened["apply_ms"],
            "step2_mb": opened["step2_bytes"] / 1e6,
            "rss_open_mb": procstat.rss_bytes(server.pid) / 1e6,
            "rss_settled_mb": await _settled_rss(server),
        }
    finally:
        await a.close()


async def _settled_rss(server: JupyterServer) -> float:
    """The server's RSS once what follows an open is done (a load cache or ystore written, a
    validation read): read RSS_SETTLE_S after the whole notebook arrived (memory, not time, is measured)."""
    await asyncio.sleep(RSS_SETTLE_S)
    return procstat.rss_bytes(server.pid) / 1e6


async def _measure(server: JupyterServer, nb_path: str, cells: int, first_id: str, last_id: str,
                   outputs: int, timeout: float, b: PeerProcess) -> dict:
    """``b``: the late joiner, another machine's (a process of its own, started before the server)."""
    disk = server.root / nb_path
    before = _digest(disk)
    a = NotebookClient(server.base_url, server.token, nb_path, outputs=outputs)
    try:
        opened = await a.open(_deadline(timeout))
        _check(a, "A", cells, first_id, last_id)
        reopen_whole = await a.whole(_deadline(timeout))
        joined = await b.open(timeout)
        _check_counts("B", joined["cells"], joined["ids"], cells, first_id, last_id)
        joined = joined["opened"]
        late_whole = await b.whole(timeout)
        saved = await a.edit_and_save(_deadline(timeout))
        after = _digest(disk)
        try:
            with disk.open() as f:
                saved_nb = json.load(f)
            source = saved_nb["cells"][0]["source"]
            source = "".join(source) if isinstance(source, list) else source
            edit_on_disk = source.startswith(EDIT_MARK)
        except (ValueError, KeyError, IndexError):
            edit_on_disk = False
        peer_saw_edit = await b.sees(EDIT_MARK, PEER_WAIT_S)
        await b.close()  # its message log comes with its end
        return {
            "reopen_ms": opened["step2_ms"],
            "reopen_whole_ms": reopen_whole,
            "late_join_ms": joined["step2_ms"],
            "late_whole_ms": late_whole,
            "late_put_ms": joined["put_ms"],
            "late_ws_ms": joined["ws_ms"],
            # A save that did not succeed has no place in the save time's median.
            "save_ms": saved["save_ms"] if saved["status"] == "success" else None,
            "save_reply_ms": saved["save_ms"],
            "save_status": saved["status"],
            "save_skipped": saved["skipped"],
            "file_changed": after != before,
            "edit_on_disk": edit_on_disk,
            "peer_saw_edit": peer_saw_edit,
            "rss_end_mb": procstat.rss_bytes(server.pid) / 1e6,
            "messages_a": a.log,
            "messages_b": b.log,
        }
    finally:
        await asyncio.gather(a.close(), b.close())


def _check(client: NotebookClient, name: str, cells: int, first_id: str, last_id: str) -> None:
    _check_counts(name, client.cell_count(), [client.cell_id(0), client.cell_id(-1)], cells, first_id, last_id)


def _check_counts(name: str, got: int, ids: list, cells: int, first_id: str, last_id: str) -> None:
    if got != cells:
        raise AssertionError(f"client {name}: doc has {got} cells after SyncStep2, notebook has {cells}")
    if tuple(ids) != (first_id, last_id):
        raise AssertionError(f"client {name}: first/last cell ids {tuple(ids)}, expected {(first_id, last_id)}")


def _run_once(python: str, source: Path, cells: int, ids: tuple[str, str], outputs: int, tmp: Path,
              args) -> dict:
    """One fresh server and notebook copy; a failure is returned as ``{"failed": reason}``."""
    workdir = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    try:
        (workdir / "root").mkdir()
        shutil.copyfile(source, workdir / "root" / source.name)
        token = secrets.token_hex(16)
        result: dict = {}
        peer: PeerProcess | None = None
        for measure in (_measure_cold, _measure):  # the second on a new server: a restart
            port = free_port()
            extra: dict = {}
            if measure is _measure:  # the late joiner, started and idle before the server starts
                extra["b"] = peer = PeerProcess(sys.executable, f"http://127.0.0.1:{port}", token, source.name, outputs)
                peer.start()
            t0 = time.monotonic()
            server = JupyterServer(python, workdir, port, token, ready_timeout=args.ready_timeout)
            try:
                with server:
                    result.setdefault("server_start_s", time.monotonic() - t0)
                    run = measure(server, source.name, cells, ids[0], ids[1], outputs, args.timeout, **extra)
                    try:
                        result.update(asyncio.run(asyncio.wait_for(run, timeout=4 * args.timeout)))
                    except Exception as exc:
                        died = "" if server.alive() else f" (server exited)\n{server.output_tail()}"
                        hint = ""
                        if "404" in str(exc):
                            hint = " (no collaboration API on this server: extension missing or disabled?)"
                        return {"failed": f"{measure.__name__}: {type(exc).__name__}: {exc}{hint}{died}"}
            except Exception as exc:  # ServerError from start-up
                return {"failed": f"{type(exc).__name__}: {exc}"}
        return result
    finally:
        if peer is not None:
            peer.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if "failed" not in r]
    out: dict = {"runs_ok": len(ok), "runs": len(runs)}
    for key, _, fmt, _ in METRICS:
        values = [r[key] for r in ok if r.get(key) is not None]
        if fmt == "bool":
            out[key] = f"{sum(bool(v) for v in values)}/{len(values)}" if values else None
        else:
            out[key] = statistics.median(values) if values else None
    return out


def _ratios(jc: dict, ours: dict) -> dict:
    return {key: (ours[key] / jc[key] if has_ratio and jc.get(key) and ours.get(key) is not None else None)
            for key, _, _, has_ratio in METRICS}


def _cell(fmt: str, value) -> str:
    if value is None:
        return "-"
    return value if fmt == "bool" else fmt.format(value)


def _render(results: dict[str, dict]) -> str:
    rows = [("notebook", "metric", LABELS["jc"], LABELS["ours"], "ours/jc")]
    for nb, res in results.items():
        for i, (key, label, fmt, _) in enumerate(METRICS):
            ratio = res["ratio"].get(key)
            rows.append((nb if i == 0 else "", label, _cell(fmt, res["jc"].get(key)),
                         _cell(fmt, res["ours"].get(key)), "-" if ratio is None else f"{ratio:.2f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i])
                               for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("-" * len(lines[0]))
    notes = [f"{nb}: {note}" for nb, res in results.items() for note in res["notes"]]
    return "\n".join(lines + ([""] + notes if notes else []))


def _fmt_messages(log: list) -> str:
    return ", ".join(f"{what} ({size:,} B) @{ms:.1f} ms" for ms, what, size in log[:6]) or "nothing"


def _notes(runs: dict[str, list[dict]]) -> list[str]:
    notes = []
    for name, results in runs.items():
        for i, r in enumerate(results, 1):
            if "failed" in r:
                notes.append(f"{name} run {i} FAILED: {r['failed']}")
            elif r.get("save_skipped"):
                notes.append(f"{name} run {i}: save answered 'skipped' {r['save_skipped']}x before "
                             f"'{r['save_status']}'")
            elif r.get("save_status") != "success":
                notes.append(f"{name} run {i}: save status {r.get('save_status')!r}")
        first = next((r for r in results if "failed" not in r), None)
        if first:
            notes.append(f"{name} messages to A: {_fmt_messages(first['messages_a'])}")
            notes.append(f"{name} messages to B: {_fmt_messages(first['messages_b'])}")
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark notebook open/save: ours vs jupyter-collaboration.")
    parser.add_argument("--notebooks", default=",".join(nb_workloads.WORKLOADS),
                        help=f"comma-separated, from: {', '.join(nb_workloads.WORKLOADS)}")
    parser.add_argument("--repeat", type=int, default=3, help="runs per server and notebook; medians are shown")
    parser.add_argument("--only", choices=SERVERS, help="run one server only")
    default_ours = PROJECT_DIR / ".venv" / "bin" / "python"
    parser.add_argument("--ours-python", default=str(default_ours) if default_ours.exists() else sys.executable,
                        help="interpreter of the venv with our server (default: the project's .venv)")
    parser.add_argument("--jc-python", help="interpreter of a venv with jupyter-collaboration (skips --jc-venv)")
    parser.add_argument("--jc-venv", default=str(DEFAULT_JC_VENV),
                        help="venv for jupyter-collaboration, created if missing (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=300.0, help="deadline in s of each open, join or save")
    parser.add_argument("--ready-timeout", type=float, default=90.0, help="deadline in s for /api/status")
    parser.add_argument("--json", metavar="FILE", help="also write all runs and medians as JSON")
    args = parser.parse_args()
    notebooks = [n.strip() for n in args.notebooks.split(",") if n.strip()]
    unknown = [n for n in notebooks if n not in nb_workloads.WORKLOADS]
    if unknown:
        parser.error(f"unknown notebooks: {', '.join(unknown)}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stops servers, removes temp dirs

    servers = [args.only] if args.only else list(SERVERS)
    pythons: dict[str, str] = {}
    if "ours" in servers:
        pythons["ours"] = args.ours_python
    if "jc" in servers:
        try:
            pythons["jc"] = args.jc_python or ensure_jc_venv(Path(args.jc_venv), log=_log)
        except RuntimeError as exc:
            _log(f"cannot set up jupyter-collaboration: {exc}")
            return 1

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="nb-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for nb in notebooks:
            t0 = time.monotonic()
            nb_dir = tmp / f"src-{nb}"
            nb_dir.mkdir()
            source, cells = nb_workloads.write(nb, nb_dir)
            ids = (nb_workloads.cell_id(0), nb_workloads.cell_id(cells - 1))
            with source.open() as f:
                outputs = sum(len(cell.get("outputs", ())) for cell in json.load(f)["cells"])
            _log(f"[{nb}] wrote {source.name}: {cells:,} cells, {source.stat().st_size / 1e6:,.1f} MB "
                 f"in {time.monotonic() - t0:.1f} s")
            runs: dict[str, list[dict]] = {name: [] for name in SERVERS}
            for r in range(args.repeat):
                order = servers if r % 2 == 0 else servers[::-1]
                for name in order:
                    result = _run_once(pythons[name], source, cells, ids, outputs, tmp, args)
                    runs[name].append(result)
                    if "failed" in result:
                        head = "FAILED: " + result["failed"].splitlines()[0]
                    else:
                        head = (f"open {result['cold_open_ms']:,.1f} ms (whole {result['cold_whole_ms']:,.1f}), "
                                f"join {result['late_join_ms']:,.1f} ms (whole {result['late_whole_ms']:,.1f}), "
                                f"save {result['save_reply_ms']:,.1f} ms ({result['save_status']}, "
                                f"file changed: {result['file_changed']})")
                    _log(f"[{nb}] {name} run {r + 1}/{args.repeat}: {head}")
            summary = {name: _summarize(runs[name]) for name in SERVERS}
            results[nb] = {
                "file_mb": source.stat().st_size / 1e6,
                "cells": cells,
                **summary,
                "ratio": _ratios(summary["jc"], summary["ours"]),
                "notes": _notes({name: runs[name] for name in servers}),
                "runs": runs,
            }
            shutil.rmtree(nb_dir, ignore_errors=True)

    print(_render(results))
    if args.json:
        config = {**vars(args), "pythons": pythons, "servers": servers}
        Path(args.json).write_text(json.dumps({"config": config, "results": results}, indent=2))
    failed = any("failed" in r for res in results.values() for name in servers for r in res["runs"][name])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
