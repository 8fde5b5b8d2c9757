"""Scale-out benchmark: rooms served by 1, 2 or 3 relays sharing one Redis (``--redis-url``).

Each run starts a fresh ``redis-server`` (no persistence) and fresh relays
(``python -m rtc_relay --redis-url ... --log-level warning``), then runs a loadgen workload
(``loadgen.prepare``: real Yjs updates, closed loop, ``--window`` updates in flight per writer)
with the clients spread over the relays. Scenarios:

- ``1room-1relay-plain``: the baseline, 1 room × 20 clients (one writer) on one relay without
  Redis (memory store) — what one process does today;
- ``1room-Nrelay`` (N = 1, 2, 3): the same room, clients dealt round-robin over N relays with Redis
  (the writer on relay 0): each update crosses Redis to reach the other relays' clients;
- ``rooms-1relay-plain``: 10 rooms × 10 clients on one relay without Redis;
- ``rooms-3relay``: the same 10 rooms over 3 relays with Redis, each room's clients on one relay
  (room r on relay r mod 3, as a load balancer hashing the room name would place them).

Figures per run: deliveries/s (updates received, summed over receivers), p50/p99 latency (send ->
receive, ms), CPU of the relays (summed) and of Redis in % of one core and in µs per delivered
update (Redis: per update sent), loadgen CPU, and the CPU the rest of the host used meanwhile (a
disturbed run). Ratio: deliveries/s against the plain one-relay scenario of the same shape in the
same repeat (runs are interleaved), median over ``--repeat``; other figures are medians.

Usage: ``python bench/redis_bench.py [--duration 5] [--repeat 3] [--window 8] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from time import perf_counter

import loadgen
import procstat
from servers import ServerProcess, free_port, server_command
from traffic import Traffic
from wsclient import connect

PROJECT_DIR = Path(__file__).resolve().parent.parent
RELAY_CMD = (
    "python -m rtc_relay --host 127.0.0.1 --port {port} --messages-per-second 0 --bytes-per-second 0 --log-level "
    + os.environ.get("RTC_BENCH_LOG", "warning")
)  # rate limits off: the loadgen's writers send far more than a person

# name -> (loadgen shape, relays, with redis, placement: "spread" clients round-robin, "room" by room)
SCENARIOS = {
    "1room-1relay-plain": ("1x20", 1, False, "spread"),
    "1room-1relay": ("1x20", 1, True, "spread"),
    "1room-2relay": ("1x20", 2, True, "spread"),
    "1room-3relay": ("1x20", 3, True, "spread"),
    "rooms-1relay-plain": ("10x10", 1, False, "room"),
    "rooms-3relay": ("10x10", 3, True, "room"),
}
BASELINE = {"1x20": "1room-1relay-plain", "10x10": "rooms-1relay-plain"}


class RedisProcess:
    """``redis-server`` on a free port, no persistence; ``with`` starts it and waits for PING."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            sys.exit("redis-server is not installed")
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory()
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.dir.name, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisProcess:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("redis-server did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.dir.cleanup()


async def run_spread(shape: loadgen.Shape, ports: list[int], placement: str, pids: list[int],
                     redis_pid: int | None, workload: loadgen.Workload, duration: float, window: int) -> dict:
    """One closed-loop run with the clients placed on ``ports``; every wait has a deadline."""
    prefix = f"bench-redis-{os.getpid()}-{int(time.time() * 1000) % 10**8}"
    writers, placed = loadgen.place_clients(shape, workload, prefix)
    specs = [  # (path, port, room, writer)
        (path, ports[c % len(ports)] if placement == "spread" else ports[room % len(ports)], room, writer)
        for path, room, c, writer in placed
    ]
    traffic = Traffic(writers, window)
    gate = asyncio.Semaphore(loadgen.CONNECT_CONCURRENCY)
    clients = []

    async def one(path: str, port: int, room: int, writer: int | None) -> None:
        async with gate:
            client = await connect("127.0.0.1", port, path, "step2", traffic.sink, timeout=15.0)
        client.room_index, client.writer_index = room, writer
        clients.append(client)
        if writer is not None:
            writers[writer].client = client

    def cpu() -> tuple[float, float | None, float]:
        redis_s = procstat.cpu_seconds(redis_pid) if redis_pid else None
        return sum(procstat.cpu_seconds(p) for p in pids), redis_s, procstat.host_busy_seconds()

    try:
        await asyncio.wait_for(asyncio.gather(*(one(*s) for s in specs)), timeout=60)
        traffic.start()
        await asyncio.sleep(loadgen.WARMUP_S)
        (relay0, redis0, host0), lg0, t0 = cpu(), time.process_time(), perf_counter()
        traffic.measuring = True
        await asyncio.sleep(duration)
        traffic.measuring = False
        (relay1, redis1, host1), lg1, t1 = cpu(), time.process_time(), perf_counter()
        traffic.stop()
    finally:
        for client in clients:
            client.close()
    window_s = t1 - t0
    n = traffic.deliveries
    lat = sorted(traffic.latencies)
    redis_cpu = None if redis0 is None else redis1 - redis0
    return {
        "deliveries_per_s": n / window_s,
        "p50_ms": loadgen._percentile(lat, 50) * 1e3 if lat else None,
        "p99_ms": loadgen._percentile(lat, 99) * 1e3 if lat else None,
        "relays_cpu_pct": (relay1 - relay0) / window_s * 100,
        "relays_cpu_us_per_delivery": (relay1 - relay0) / n * 1e6 if n else None,
        "redis_cpu_pct": None if redis_cpu is None else redis_cpu / window_s * 100,
        "redis_cpu_us_per_update_sent": None if redis_cpu is None or not traffic.sent else redis_cpu / traffic.sent * 1e6,
        "loadgen_cpu_pct": (lg1 - lg0) / window_s * 100,
        # CPU the rest of the host used meanwhile (other processes), % of one core: high = disturbed run
        "other_cpu_pct": max(0.0, (host1 - host0) - (relay1 - relay0) - (redis_cpu or 0) - (lg1 - lg0))
        / window_s
        * 100,
        "sent": traffic.sent,
        "deliveries": n,
        "errors": dict(traffic.errors),
        "refills": traffic.refills,
    }


def run_once(name: str, workload: loadgen.Workload, args) -> dict:
    shape_name, relays, with_redis, placement = SCENARIOS[name]
    shape = loadgen.THROUGHPUT[shape_name]
    redis = RedisProcess() if with_redis else None
    servers: list[ServerProcess] = []
    try:
        if redis is not None:
            redis.__enter__()
        for _ in range(relays):
            port = free_port()
            cmd = RELAY_CMD + (f" --redis-url {redis.url}" if redis else " --store memory")
            server = ServerProcess(server_command(cmd, port), port, cwd=str(PROJECT_DIR))
            server.__enter__()
            servers.append(server)
        run = run_spread(shape, [s.port for s in servers], placement, [s.pid for s in servers],
                         redis.proc.pid if redis else None, workload, args.duration, args.window)
        result = asyncio.run(asyncio.wait_for(run, timeout=args.duration + 120))
        if result["errors"]:
            result["relay_logs"] = [s.output_tail() for s in servers]
        return result
    except Exception as exc:
        return {"failed": f"{type(exc).__name__}: {exc}"}
    finally:
        for server in servers:
            server.stop()
        if redis is not None:
            redis.__exit__()


def median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if "failed" not in r and r.get(key) is not None]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description="Scale-out benchmark: relays sharing rooms through Redis.")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"from: {', '.join(SCENARIOS)}")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per run")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (medians shown)")
    parser.add_argument("--window", type=int, default=8, help="updates in flight per writer")
    parser.add_argument("--json", metavar="FILE", help="also write every run as JSON")
    args = parser.parse_args()
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for name in names:
        if name not in SCENARIOS:
            parser.error(f"unknown scenario {name}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    loadgen.raise_fd_limit()
    workloads = {shape: loadgen.prepare(shape, args.duration) for shape in {SCENARIOS[n][0] for n in names}}
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for r in range(args.repeat):  # interleaved, so a disturbance spreads over every scenario
        for name in names if r % 2 == 0 else reversed(names):
            result = run_once(name, workloads[SCENARIOS[name][0]], args)
            runs[name].append(result)
            head = result.get("failed") or f"{result['deliveries_per_s']:,.0f} deliveries/s errors={result['errors']}"
            print(f"[{name}] run {r + 1}/{args.repeat}: {head}", file=sys.stderr, flush=True)

    keys = ("deliveries_per_s", "p50_ms", "p99_ms", "relays_cpu_pct", "relays_cpu_us_per_delivery",
            "redis_cpu_pct", "redis_cpu_us_per_update_sent", "loadgen_cpu_pct", "other_cpu_pct")
    summary = {name: {k: median(runs[name], k) for k in keys} for name in names}
    for name in names:  # ratio: median over repeats of (this run / the baseline's run of the same repeat)
        base = runs.get(BASELINE[SCENARIOS[name][0]], [])
        pairs = [r["deliveries_per_s"] / b["deliveries_per_s"] for r, b in zip(runs[name], base, strict=False)
                 if "failed" not in r and "failed" not in b and b["deliveries_per_s"]]
        summary[name]["ratio"] = statistics.median(pairs) if pairs else None
    print("| scenario | deliveries/s | ratio | p50 / p99 ms | relays CPU % (µs/delivery) | Redis CPU % "
          "(µs/update) | loadgen CPU % | other CPU % |")
    print("|---|---:|---:|---|---|---|---:|---:|")

    def fmt(v: float | None, spec: str) -> str:
        return "–" if v is None else format(v, spec)

    for name in names:
        s = summary[name]
        ratio = "–" if s["ratio"] is None else f"{s['ratio']:.2f}×"
        print(f"| {name} | {fmt(s['deliveries_per_s'], ',.0f')} | {ratio} | {fmt(s['p50_ms'], '.2f')} / "
              f"{fmt(s['p99_ms'], '.2f')} | {fmt(s['relays_cpu_pct'], '.0f')} "
              f"({fmt(s['relays_cpu_us_per_delivery'], '.2f')}) | {fmt(s['redis_cpu_pct'], '.0f')} "
              f"({fmt(s['redis_cpu_us_per_update_sent'], '.1f')}) | {fmt(s['loadgen_cpu_pct'], '.0f')} | "
              f"{fmt(s['other_cpu_pct'], '.0f')} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"config": vars(args), "summary": summary, "runs": runs}, indent=2))
    return 1 if any("failed" in r for rs in runs.values() for r in rs) else 0


if __name__ == "__main__":
    sys.exit(main())
