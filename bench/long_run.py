"""Long-run benchmark: the server's CPU per output line early in a run and 200,000 lines into it.

A training loop printing a line per step for hours must not slow the server down as its output
grows: one more line must cost the server the same (target: within 2x) at line 1,000 and at line
200,000. Reaching line 200,000 at 10 ms a line would take 33 minutes, so the measured cell gets
there in fast bursts and is paced only in the two measured windows:

1. lines ``0 .. --early - 1`` (1,000), every ``--period`` (10 ms);
2. window **early**: the next ``--window`` lines (4,000, about 42 s: several autosaves), every 10 ms;
3. burst: lines up to ``--late`` (200,000) written 10,000 at a time, as fast as the kernel goes;
4. the cell waits until the server is idle (its CPU under 5 % of a core over 1 s, at most
   ``--settle`` s): the burst's writes, saves and read-backs are done;
5. window **late**: ``--window`` lines from ``--late`` on, every 10 ms.

Every paced line is ``print(f"line {i}", flush=True)``: one iopub message per line, the costliest
pacing for the server. With ``--no-flush`` it is a plain ``print``, as a training loop usually has it:
ipykernel then sends the lines of each 200 ms as one message, so the fixed cost of a message is
shared by 20 lines and what grows with the output weighs more in the ratio. The cell
itself does the timing: it runs in the kernel, a child of the server process, and reads the server's
utime+stime (all its threads: the event loop, the journal's and output log's threads, the contents
manager's) from ``/proc/<its parent>/stat`` every ``--sample`` lines of a window, then writes its
samples to a JSON file the bench reads. So the window holds everything the server does while a cell
prints: receiving the messages, writing them into the shared document, sending them to the connected
client, the output log, the record journalled every ``save_max_wait``, the autosaves (every
``save_max_wait``, 5 s by default, or further apart once a save costs more than ``save_share`` of
that time) and their read-backs, the file poll.

The run: a fresh server (``nb_server.JupyterServer``, default options plus ``--server-arg``s;
``--pythonpath DIR`` puts ``DIR`` first on the server's ``PYTHONPATH``, to measure another checkout
with the same venv), a notebook with a warm-up cell (starts the kernel) and the measured cell, one
y-websocket client (``nb_client.py``) connected to its room all along, as a browser would be. Then
``POST /api/rtc/executions`` of the cell. The bench waits on the client's document (the cell idle with
an execution count), not on the record (a GET of a running record costs the server O(the output)),
then reads the record once. Checks: the record is ``ok``, the saved file's output
and the client's document equal the expected text (``line 0`` .. the last line, one stream: what
nbclient writes for this cell, its one output per message merged).

Figures: server CPU µs per line in each window (and per ``--sample`` lines, to show the trend), the
ratio late / early (target < 2), the saved file's size. Exit status 1 if a check or the target fails.

Usage: ``python bench/long_run.py [--pythonpath DIR] [--python PY] [--early 1000] [--late 200000]
[--window 2000] [--period 0.01] [--no-flush] [--timeout 900] [--json FILE] [--server-arg=ARG ...]``.
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
from pathlib import Path

from ex_cells import TARGET_ID, WARMUP_ID, write_notebook
from ex_live import Api, ExecServer, doc_cell, wait_doc
from nb_client import NotebookClient
from servers import free_port

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
NB_NAME = "long.ipynb"
RECORD_POLL_S = 0.5
TARGET_RATIO = 2.0

# The measured cell. {samples} is the file it writes its samples to.
CELL = """\
import json, os, sys, time
_TICK = os.sysconf("SC_CLK_TCK")
_SERVER = os.getppid()

def _cpu():
    stat = open(f"/proc/{{_SERVER}}/stat").read()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK

def _paced(first, count, sample=None):
    points = []
    for i in range(first, first + count):
        if sample is not None and (i - first) % sample == 0:
            points.append((i, time.time(), _cpu()))
        print(f"line {{i}}", flush={flush})
        time.sleep({period})
    if sample is not None:
        points.append((first + count, time.time(), _cpu()))
    return points

def _idle(settle):
    deadline = time.monotonic() + settle
    last = _cpu()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _cpu()
        if now - last < 0.05:
            return True
        last = now
    return False

_paced(0, {early})
early = _paced({early}, {window}, {sample})
for start in range({early} + {window}, {late}, 10_000):
    sys.stdout.write("".join(f"line {{i}}\\n" for i in range(start, min(start + 10_000, {late}))))
    sys.stdout.flush()
idle = _idle({settle})
late = _paced({late}, {window}, {sample})
with open({samples!r}, "w") as f:
    json.dump({{"early": early, "late": late, "idle_before_late": idle}}, f)
"""


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


class _Server(ExecServer):
    """``ExecServer`` with ``pythonpath`` first on the server's (and so the kernel's) ``PYTHONPATH``."""

    def __init__(self, *args, pythonpath: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pythonpath = pythonpath

    def _env(self) -> dict[str, str]:
        env = super()._env()
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env


def per_line(points: list[list[float]]) -> float:
    """Server CPU seconds per line over a window's samples ``(line, time, cpu)``."""
    (line0, _, cpu0), (line1, _, cpu1) = points[0], points[-1]
    return (cpu1 - cpu0) / (line1 - line0)


def trend(points: list[list[float]], every: int) -> list[float]:
    """Server CPU µs per line over each ``every`` lines of a window (samples are ``--sample`` lines apart)."""
    out = []
    step = max(1, every // max(1, int(points[1][0] - points[0][0])))
    for k in range(0, len(points) - step, step):
        out.append(per_line(points[k : k + step + 1]) * 1e6)
    return out


def expected_text(args: argparse.Namespace) -> str:
    last = args.late + args.window
    return "".join(f"line {i}\n" for i in range(last))


def _stream_text(outputs: list[dict]) -> tuple[int, str]:
    """(number of outputs, their stream text joined; multiline strings as saved joined)."""
    texts = []
    for out in outputs:
        text = out.get("text", "")
        texts.append("".join(text) if isinstance(text, list) else text)
    return len(outputs), "".join(texts)


async def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="rtc-long-run-"))
    samples_file = workdir / "samples.json"
    source = CELL.format(
        period=args.period,
        flush=not args.no_flush,
        early=args.early,
        window=args.window,
        sample=args.sample,
        late=args.late,
        settle=args.settle,
        samples=str(samples_file),
    )
    server = _Server(
        args.python, workdir, free_port(), secrets.token_hex(16), args.server_arg, pythonpath=args.pythonpath
    )
    try:
        (workdir / "root").mkdir(parents=True)
        write_notebook(workdir / "root" / NB_NAME, source)
        with server:
            api = Api(server.base_url, server.token)
            client = NotebookClient(server.base_url, server.token, NB_NAME)
            try:
                await client.open(_deadline(args.timeout))
                warm = await api.submit(NB_NAME, [WARMUP_ID])
                await api.wait_finished(warm["id"], _deadline(120), RECORD_POLL_S)
                started = time.monotonic()
                submitted = await api.submit(NB_NAME, [TARGET_ID])
                _log(
                    f"running the cell ({args.early + args.window:,} paced lines, a burst to {args.late:,}, "
                    f"{args.window:,} paced lines)"
                )
                cell = doc_cell(client, TARGET_ID)
                # Watched on the client's document: polling the record would cost the server O(the output)
                # per GET (the record holds the outputs so far), which is not what this measures.
                await wait_doc(
                    client,
                    lambda: cell.get("execution_state") == "idle" and cell.get("execution_count") is not None,
                    _deadline(args.timeout),
                    "the cell to finish",
                )
                took = time.monotonic() - started
                record = await api.wait_finished(submitted["id"], _deadline(60), RECORD_POLL_S)
                want = expected_text(args)
                want_bytes = len(want.encode())

                def doc_done() -> bool:
                    outputs = doc_cell(client, TARGET_ID)["outputs"]
                    return len(outputs) == 1 and len(outputs[0]["text"]) >= want_bytes

                await wait_doc(client, doc_done, _deadline(60), "the client's document holds every line")
                doc_outputs = doc_cell(client, TARGET_ID)["outputs"].to_py()
            finally:
                await client.close()
            saved = json.loads((server.root / NB_NAME).read_text())
            saved_outputs = next(c["outputs"] for c in saved["cells"] if c.get("id") == TARGET_ID)
            file_size = (server.root / NB_NAME).stat().st_size
        samples = json.loads(samples_file.read_text())
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    early, late = per_line(samples["early"]), per_line(samples["late"])
    file_count, file_text = _stream_text(saved_outputs)
    doc_count, doc_text = _stream_text(doc_outputs)
    return {
        "early_line": args.early,
        "late_line": args.late,
        "window_lines": args.window,
        "period_s": args.period,
        "flush": not args.no_flush,
        "early_cpu_us_per_line": early * 1e6,
        "late_cpu_us_per_line": late * 1e6,
        "ratio": late / early,
        "early_trend_us": trend(samples["early"], args.trend),
        "late_trend_us": trend(samples["late"], args.trend),
        "early_window_s": samples["early"][-1][1] - samples["early"][0][1],
        "late_window_s": samples["late"][-1][1] - samples["late"][0][1],
        "idle_before_late": samples["idle_before_late"],
        "run_s": took,
        "record_status": record["status"],
        "file_bytes": file_size,
        "file_equal": file_count == 1 and file_text == want,
        "doc_equal": doc_count == 1 and doc_text == want,
    }


def report(results: list[dict]) -> bool:
    ok = True
    print(
        f"\nServer CPU per output line, {results[0]['period_s'] * 1000:g} ms between lines "
        f"({'one iopub message each' if results[0]['flush'] else 'no flush: ipykernel batches 200 ms'}), "
        f"windows of {results[0]['window_lines']:,} lines:"
    )
    print("| run | near line | CPU µs/line | window s | trend (µs/line per 500 lines) |")
    print("|---|---:|---:|---:|---|")
    for n, r in enumerate(results, 1):
        for which in ("early", "late"):
            trend_text = " ".join(f"{v:.0f}" for v in r[f"{which}_trend_us"])
            print(
                f"| {n} | {r[f'{which}_line']:,} | {r[f'{which}_cpu_us_per_line']:.0f} | "
                f"{r[f'{which}_window_s']:.1f} | {trend_text} |"
            )
    ratios = [r["ratio"] for r in results]
    ratio = statistics.median(ratios)
    verdict = "PASS" if ratio < TARGET_RATIO else "FAIL"
    ok &= ratio < TARGET_RATIO
    print(
        f"\nratio late/early: {ratio:.2f} (median of {', '.join(f'{x:.2f}' for x in ratios)}; "
        f"target < {TARGET_RATIO:g}) {verdict}"
    )
    for n, r in enumerate(results, 1):
        checks = {
            "record ok": r["record_status"] == "ok",
            "file equals": r["file_equal"],
            "doc equals": r["doc_equal"],
            "server idle before late window": r["idle_before_late"],
        }
        ok &= all(v for k, v in checks.items() if k != "server idle before late window")
        print(
            f"run {n}: {' · '.join(f'{k}: {v}' for k, v in checks.items())}; saved file "
            f"{r['file_bytes'] / 1e6:.1f} MB; cell ran {r['run_s']:.0f} s"
        )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=str(PROJECT_DIR / ".venv" / "bin" / "python"))
    parser.add_argument("--pythonpath", default=None, help="first on the server's PYTHONPATH (another checkout)")
    parser.add_argument("--early", type=int, default=1000, help="first line of the early window")
    parser.add_argument("--late", type=int, default=200_000, help="first line of the late window")
    parser.add_argument("--window", type=int, default=4000, help="lines per measured window")
    parser.add_argument("--sample", type=int, default=100, help="lines between CPU samples in a window")
    parser.add_argument("--trend", type=int, default=500, help="lines per trend figure")
    parser.add_argument("--period", type=float, default=0.01, help="seconds between paced lines")
    parser.add_argument("--no-flush", action="store_true", help="paced lines without flush (ipykernel batches them)")
    parser.add_argument("--settle", type=float, default=120.0, help="longest wait for an idle server before late")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--server-arg", action="append", default=[])
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stops the server, removes temp dirs
    if not Path(args.python).exists():
        args.python = sys.executable
    results = []
    for n in range(args.repeat):
        _log(f"run {n + 1}/{args.repeat}")
        results.append(asyncio.run(run(args)))
    ok = report(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
