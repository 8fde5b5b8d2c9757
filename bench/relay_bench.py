"""Relay benchmark runner: each scenario against the baseline relay, the server under test and Hocuspocus.

For every scenario, ``--repeat`` times, it starts the baseline (``bench/baseline_relay.py``), the
server under test (default ``python -m rtc_relay --host 127.0.0.1 --port P --store memory
--log-level warning`` with its rate limits off, which echoes each update to its writer too) and, for
rtc_relay, the same with ``--no-echo``, Hocuspocus (``@hocuspocus/server`` in node,
``bench/js/hocuspocus_server.mjs``; its npm packages are installed into ``bench/js`` with ``npm ci`` on
first use) and any ``--also NAME=CMD``, one at a time, each fresh on a free port, rotating which goes
first, runs the same pre-generated workload against each, and prints the medians side by side with the
ratios server/baseline. The loadgen runs in this process; servers are killed at the end, even on error.

Usage: ``python bench/relay_bench.py [--scenarios 1x2,idle] [--duration 5] [--repeat 1]
[--server-cmd "python bench/baseline_relay.py"] [--no-echo-column/--no-no-echo-column]
[--hocuspocus/--no-hocuspocus] [--also "main=python -m rtc_relay ..."] [--json FILE]``.
Exit status 1 if any run failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import loadgen
import report
from servers import ServerProcess, free_port, server_command

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
RELAY_CMD = (
    "python -m rtc_relay --host 127.0.0.1 --port {port} --store memory --log-level warning"
    " --messages-per-second 0 --bytes-per-second 0"  # the loadgen's writers send far more than a person
)
BASELINE_CMD = f"python {BENCH_DIR / 'baseline_relay.py'} --port {{port}}"
JS_DIR = BENCH_DIR / "js"
HOCUSPOCUS_CMD = f"node {JS_DIR / 'hocuspocus_server.mjs'} --port {{port}}"
HOCUSPOCUS = "hocuspocus"
# Above this much CPU (% of one core) used by the rest of the host during a window, a run is flagged:
# loopback TCP work the kernel does not bill to either process stays well below it.
OTHER_CPU_WARN_PCT = 25.0
RUN_SLACK_S = 300.0  # bound on one run beyond its measured duration (connects, history, joins)


def _kind(scenario: str) -> str:
    if scenario in loadgen.THROUGHPUT:
        return "throughput"
    return "join" if scenario in loadgen.JOIN else "idle"


def install_js() -> None:
    """``npm ci`` in bench/js unless its node_modules are there (raises if npm fails)."""
    if (JS_DIR / "node_modules" / "@hocuspocus" / "server").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("Hocuspocus needs node and npm (or pass --no-hocuspocus)")
    print(f"installing the bench's npm packages in {JS_DIR} (npm ci)", file=sys.stderr, flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True, timeout=600)


def _run_once(scenario: str, cmd: str, answers_sync: bool, workload: loadgen.Workload, args,
              framing: str = "y-websocket") -> dict:
    """One fresh server, one run; a failure is returned as ``{"failed": reason}``, never raised."""
    port = free_port()
    try:
        with ServerProcess(server_command(cmd, port), port, cwd=str(PROJECT_DIR),
                           ready_timeout=args.ready_timeout) as server:
            target = loadgen.Target("127.0.0.1", port, server.pid, answers_sync, framing)
            run = loadgen.run_scenario(scenario, target, workload, args.duration, args.window)
            try:
                return asyncio.run(asyncio.wait_for(run, timeout=args.duration + RUN_SLACK_S))
            except Exception as exc:
                died = "" if server.alive() else f" (server exited)\n{server.output_tail()}"
                return {"failed": f"{type(exc).__name__}: {exc}{died}"}
    except Exception as exc:  # includes ServerError from start-up
        return {"failed": f"{type(exc).__name__}: {exc}"}


def _headline(kind: str, result: dict) -> str:
    if "failed" in result:
        return "FAILED: " + result["failed"].splitlines()[0]
    key, label, fmt = report.METRICS[kind][0]
    errors = f"  errors={result['errors']}" if result.get("errors") else ""
    return f"{label} {report.cell(fmt, result.get(key))}{errors}"


def _notes(scenario: str, kind: str, runs: dict[str, list[dict]], answers_sync: dict[str, bool]) -> list[str]:
    notes = []
    if kind == "join":
        for name in answers_sync:
            how = "TCP connect -> SyncStep2" if answers_sync[name] else "TCP connect -> ws open + pong (no history)"
            notes.append(f"{name} join measured as {how}")
    for name, results in runs.items():
        for i, r in enumerate(results, 1):
            if "failed" in r:
                notes.append(f"{name} run {i} FAILED: {r['failed']}")
            else:
                if r.get("errors"):
                    notes.append(f"{name} run {i} errors: {r['errors']} {r.get('error_messages') or ''}".rstrip())
                if r.get("refills"):
                    notes.append(f"{name} run {i}: update streams topped up {r['refills']}x mid-run "
                                 "(raise loadgen.BUDGET_*)")
                if kind == "throughput" and (r.get("other_cpu_pct") or 0) > OTHER_CPU_WARN_PCT:
                    notes.append(f"{name} run {i}: other processes used {r['other_cpu_pct']:.0f}% of a core "
                                 "during the window - figures disturbed, use --repeat or a quiet host")
                if kind == "throughput" and r.get("loadgen_cpu_pct", 0) > 90:
                    notes.append(f"{name} run {i}: loadgen CPU {r['loadgen_cpu_pct']:.0f}% "
                                 "- loadgen-bound, compare CPU us/delivery rather than deliveries/s")
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description="Benchmark the relay against the baseline relay.")
    parser.add_argument("--scenarios", default=",".join(loadgen.SCENARIOS),
                        help=f"comma-separated, from: {', '.join(loadgen.SCENARIOS)}")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per throughput run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per server and scenario; medians are shown")
    parser.add_argument("--window", type=int, default=8, help="updates in flight per writer")
    parser.add_argument("--server-cmd", default=RELAY_CMD,
                        help="server under test; {port} is substituted, else --port P is appended")
    parser.add_argument("--no-echo-column", action=argparse.BooleanOptionalAction, default=True,
                        help="with an rtc_relay server, also run it with --no-echo (the cost of echo)")
    parser.add_argument("--hocuspocus", action=argparse.BooleanOptionalAction, default=True,
                        help="also run Hocuspocus (@hocuspocus/server, node; npm ci in bench/js on first use)")
    parser.add_argument("--also", action="append", default=[], metavar="NAME=CMD",
                        help="another server to run in the same run (repeatable), e.g. an earlier checkout")
    parser.add_argument("--ready-timeout", type=float, default=30.0, help="seconds to wait for the ready line")
    parser.add_argument("--json", metavar="FILE", help="also write all runs and medians as JSON")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in loadgen.SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")
    # SIGTERM unwinds like Ctrl-C, so every `with ServerProcess` block stops its server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    loadgen.raise_fd_limit()  # servers inherit it: the idle scenario needs 1,000+ sockets each side

    commands = {"baseline": BASELINE_CMD, "relay": args.server_cmd}
    if args.no_echo_column and "rtc_relay" in args.server_cmd:
        commands["relay --no-echo"] = f"{args.server_cmd} --no-echo"
    for extra in args.also:
        name, sep, cmd = extra.partition("=")
        if not sep or not name or not cmd:
            parser.error(f"--also {extra!r}: want NAME=CMD")
        commands[name] = cmd
    if args.hocuspocus:
        install_js()
        commands[HOCUSPOCUS] = HOCUSPOCUS_CMD
    framings = {name: "hocuspocus" if name == HOCUSPOCUS else "y-websocket" for name in commands}
    # The baseline never answers SyncStep1; so neither does the baseline when benchmarked against itself.
    answers_sync = {name: "baseline_relay.py" not in cmd for name, cmd in commands.items()}
    kinds = {s: _kind(s) for s in scenarios}
    results: dict[str, dict] = {}
    for scenario in scenarios:
        t0 = time.monotonic()
        workload = loadgen.prepare(scenario, args.duration)
        print(f"[{scenario}] prepared {sum(len(s) for s in workload.streams):,} updates "
              f"in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
        runs: dict[str, list[dict]] = {name: [] for name in commands}
        for r in range(args.repeat):
            names = list(commands)
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                result = _run_once(scenario, commands[name], answers_sync[name], workload, args, framings[name])
                runs[name].append(result)
                print(f"[{scenario}] {name} run {r + 1}/{args.repeat}: {_headline(kinds[scenario], result)}",
                      file=sys.stderr, flush=True)
        summaries = {name: report.summarize(kinds[scenario], runs[name]) for name in commands}
        ratios = {name: report.compare(kinds[scenario], summaries["baseline"], s) for name, s in summaries.items()}
        results[scenario] = {
            "summaries": summaries,
            "ratios": ratios,
            "baseline": summaries["baseline"],  # as before: the server under test against the baseline
            "relay": summaries["relay"],
            "ratio": ratios["relay"],
            "notes": _notes(scenario, kinds[scenario], runs, answers_sync),
            "runs": runs,
        }
        del workload  # a throughput workload can hold a few hundred MB

    print(report.render(kinds, results))
    if args.json:
        config = {**vars(args), "commands": commands, "answers_sync": answers_sync}
        Path(args.json).write_text(json.dumps({"config": config, "results": results}, indent=2))
    failed = any("failed" in r for res in results.values() for runs in res["runs"].values() for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
