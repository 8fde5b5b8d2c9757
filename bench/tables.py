"""Shared tables benchmark: what keeping the tables current costs a server at idle.

For each mode (tables off, then on; ``--repeat`` rounds alternate the order), a fresh server
(``--SupernodeExtension.tables=...``, ``tables_poll_interval=--poll``) with a root holding
``--files`` files in one folder:

1. ``--kernels`` kernels are started through ``POST /api/kernels`` and the folder is listed once
   (``GET /api/contents/files``), as a file browser does;
2. tables on: a client joins the tables room and the time until it holds every kernel and every file
   is taken;
3. after ``--settle`` seconds, the server's own CPU time (the process alone, not its kernels) is read
   over ``--idle`` seconds of idle;
4. tables on: one more kernel is started and one file deleted through the REST API; the time until
   the client's tables show each is taken (it must be under one poll interval plus the request).

Target (PASS/FAIL): the server CPU the tables add at idle (on - off, % of one core) is under 2%.

Usage: ``python bench/tables.py [--kernels 50] [--files 2000] [--poll 1.0] [--idle 30] [--settle 10]
[--repeat 1] [--json FILE]``. Exit status 1 if a run failed or the target FAILs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients"))

import ex_proc  # noqa: E402
from ex_live import Api, ExecServer  # noqa: E402
from servers import free_port  # noqa: E402

TARGET_PCT = 2.0
ROOM = "supernode:tables"


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _until(check, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def _start_kernels(api: Api, count: int, parallel: int = 4) -> list[str]:
    ids: list[str] = []
    gate = asyncio.Semaphore(parallel)

    async def one() -> None:
        async with gate:
            status, kernel, _ = await api.call("POST", "/api/kernels", {"name": "python3"}, timeout=120)
            if status != 201:
                raise RuntimeError(f"POST /api/kernels answered {status}: {kernel}")
            ids.append(kernel["id"])

    await asyncio.gather(*(one() for _ in range(count)))
    return ids


async def _stop_kernels(api: Api, ids: list[str]) -> None:
    gate = asyncio.Semaphore(8)

    async def one(kernel_id: str) -> None:
        async with gate:
            await api.call("DELETE", f"/api/kernels/{kernel_id}", timeout=60)

    await asyncio.gather(*(one(k) for k in ids), return_exceptions=True)


async def _round(server: ExecServer, tables_on: bool, args) -> dict:
    from pycrdt import Map
    from rtc_client import RoomClient

    api = Api(server.base_url, server.token)
    out: dict = {"tables": tables_on}
    t0 = time.monotonic()
    kernels = await _start_kernels(api, args.kernels)
    out["kernels_started_s"] = time.monotonic() - t0
    status, listing, _ = await api.call("GET", "/api/contents/files", timeout=120)
    if status != 200 or len(listing.get("content") or []) != args.files:
        raise RuntimeError(f"GET /api/contents/files answered {status} with {len(listing.get('content') or [])} files")
    client = None
    try:
        if tables_on:
            url = server.base_url.replace("http", "ws") + f"/api/collaboration/room/{ROOM}"
            client = RoomClient(url, headers={"Authorization": f"token {server.token}"})
            await client.__aenter__()
            await client.wait_synced(60)

            def rows(table: str) -> dict:
                return dict(client.doc.get(table, type=Map).items())

            out["tables_current_s"] = await _until(
                lambda: len(rows("kernels")) == args.kernels
                and sum(1 for p in rows("contents") if p.startswith("files/")) == args.files,
                120,
                "every kernel and file in the tables",
            )
            out["doc_kb"] = len(client.doc.get_update()) / 1e3
        await asyncio.sleep(args.settle)
        cpu0, w0 = ex_proc.cpu_seconds(server.pid), time.monotonic()
        await asyncio.sleep(args.idle)
        cpu1, w1 = ex_proc.cpu_seconds(server.pid), time.monotonic()
        out["idle_cpu_pct"] = 100 * (cpu1 - cpu0) / (w1 - w0)
        out["server_rss_mb"] = ex_proc.rss_bytes(server.pid) / 1e6
        if tables_on:
            t = time.monotonic()
            extra = await _start_kernels(api, 1)
            kernels += extra
            await _until(lambda: extra[0] in rows("kernels"), 30, "the new kernel's row")
            out["kernel_row_after_request_s"] = time.monotonic() - t
            t = time.monotonic()
            status, _, _ = await api.call("DELETE", "/api/contents/files/f0000.txt")
            if status != 204:
                raise RuntimeError(f"DELETE answered {status}")
            await _until(lambda: "files/f0000.txt" not in rows("contents"), 30, "the deleted file's row gone")
            out["file_row_gone_s"] = time.monotonic() - t
        return out
    finally:
        if client is not None:
            await client.close()
        await _stop_kernels(api, kernels)


def _run(python: str, tables_on: bool, args, tmp: Path) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="srv-", dir=tmp))
    try:
        files = workdir / "root" / "files"
        files.mkdir(parents=True)
        for i in range(args.files):
            (files / f"f{i:04d}.txt").write_text(f"file {i}\n")
        extra = [f"--SupernodeExtension.tables={tables_on}", f"--SupernodeExtension.tables_poll_interval={args.poll}"]
        server = ExecServer(python, workdir, free_port(), secrets.token_hex(16), extra, ready_timeout=90)
        with server:
            try:
                return asyncio.run(asyncio.wait_for(_round(server, tables_on, args), timeout=args.timeout))
            except Exception as exc:
                return {"tables": tables_on, "failed": f"{type(exc).__name__}: {exc}\n{server.output_tail()}"}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", type=int, default=50)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--poll", type=float, default=1.0, help="tables_poll_interval (s)")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measured")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before the idle window")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tables-bench-"))
    results: dict[str, list[dict]] = {"off": [], "on": []}
    try:
        for r in range(args.repeat):
            for on in (False, True) if r % 2 == 0 else (True, False):
                key = "on" if on else "off"
                _log(f"[{key}] round {r + 1}/{args.repeat}: {args.kernels} kernels, {args.files} files ...")
                res = _run(args.python, on, args, tmp)
                results[key].append(res)
                _log(f"  {json.dumps(res)[:400]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    failed = [r for rs in results.values() for r in rs if "failed" in r]
    lines = [f"tables benchmark: {args.kernels} kernels, {args.files} files listed, poll {args.poll:g} s, "
             f"{args.idle:g} s idle window, {args.repeat} round(s)"]
    ok = not failed
    if not failed:
        def med(key: str, field: str) -> float:
            return statistics.median(r[field] for r in results[key])

        off, on = med("off", "idle_cpu_pct"), med("on", "idle_cpu_pct")
        added = on - off
        lines += [
            f"  server CPU at idle: tables off {off:.2f}%, on {on:.2f}% of one core; the tables add {added:+.2f}%",
            f"  tables current {med('on', 'tables_current_s'):.2f} s after the listing; doc {med('on', 'doc_kb'):.0f} KB; "
            f"server RSS off {med('off', 'server_rss_mb'):.0f} MB, on {med('on', 'server_rss_mb'):.0f} MB",
            f"  a new kernel's row {med('on', 'kernel_row_after_request_s'):.2f} s after POST /api/kernels was sent "
            f"(the request itself takes most); a deleted file's row gone {med('on', 'file_row_gone_s'):.2f} s after DELETE",
        ]
        passed = added < TARGET_PCT
        ok = passed
        lines.append(f"{'PASS' if passed else 'FAIL'}  tables add {added:+.2f}% CPU at idle (target < {TARGET_PCT:g}%)")
    else:
        lines += [f"  FAILED ({r['tables'] and 'on' or 'off'}): {r['failed']}" for r in failed]
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
