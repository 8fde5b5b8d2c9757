"""Cheap y-websocket load generator: the benchmark scenarios, as a library and a CLI.

Library: ``prepare(scenario, duration)`` builds the scenario's pre-generated updates (reuse it for
every run of that scenario), then ``await run_scenario(scenario, target, workload, ...)`` runs it once
against a listening server and returns a flat dict of figures (see each ``_run_*`` for the keys).
CLI: ``python bench/loadgen.py --url ws://127.0.0.1:P/ --scenario 1x20 [--server-pid PID]
[--baseline]`` prints that dict as JSON.

Scenarios (all on one host, loopback):
- ``RxN`` (``1x2``, ``1x20``, ``1x100``, ``10x10``): R rooms of N clients, one writer per room, N-1
  receivers; ``1x20-20w``: one room of 20 clients that all write (each receives the others').
  Closed loop (``window`` updates in flight per writer), 1 s warm-up, then ``duration`` s measured.
- ``join-history``: 20,000 small updates go into a room (until a second client has them all), then
  5 new clients join one after the other; join time = TCP connect -> the relay's SyncStep2.
- ``join-5mb``: the same with one 5 MB text insert.
- ``idle``: 1,000 synced idle clients in 100 rooms; server RSS growth per client.

``Target.framing`` is ``"hocuspocus"`` for a Hocuspocus server: every message then starts with the
document's name (the room), and clients authenticate first (``wsclient``).
``Target.answers_sync`` is False for the baseline relay, which never answers SyncStep1: there a
client counts as synced once its websocket is open, and a join is timed to the pong of a ping sent
on open (the baseline keeps no history, so that is all a join costs it).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import random
import resource
import statistics
import sys
import time
import urllib.parse
from dataclasses import dataclass
from time import perf_counter

import procstat
from traffic import Traffic, Writer
from wsclient import WsClient, address_prefix, connect
from ydata import UpdateStream


@dataclass(frozen=True)
class Shape:
    rooms: int
    clients: int  # per room
    writers: int  # per room


THROUGHPUT = {
    "1x2": Shape(1, 2, 1),
    "1x20": Shape(1, 20, 1),
    "1x100": Shape(1, 100, 1),
    "10x10": Shape(10, 10, 1),
    "1x20-20w": Shape(1, 20, 20),
}
# (updates, text of each; None: each its own marker, see ydata)
JOIN = {"join-history": (20_000, None), "join-5mb": (1, "x" * 5_000_000)}
SCENARIOS = [*THROUGHPUT, *JOIN, "idle"]

WARMUP_S = 1.0
JOINS = 5
IDLE_ROOMS, IDLE_PER_ROOM = 100, 10
CONNECT_CONCURRENCY = 32  # well under asyncio's default listen backlog (100): no SYN drops
# How many updates to pre-generate per second of run time: set above what was seen on a 2-core host
# (~110k sends/s in 1x2; up to ~1M deliveries/s with many receivers, for a relay that batches
# writes) so that streams need no topping up mid-run (Traffic.refills), which stalls the loadgen.
BUDGET_DELIVERIES_PER_S = 1_500_000
BUDGET_MAX_SENDS_PER_S = 120_000


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    pid: int | None  # server process for CPU/RSS; None = not measured
    answers_sync: bool = True  # False for the baseline relay (see module docstring)
    framing: str = "y-websocket"  # or "hocuspocus"

    def address(self, path: str) -> str | None:
        """The document name messages carry for a client of ``path`` (None: y-websocket, none)."""
        return path.lstrip("/") if self.framing == "hocuspocus" else None


@dataclass
class Workload:
    """Pre-generated updates of one scenario: ``streams[w]`` belongs to writer ``w``."""

    registry: dict[bytes, tuple[int, int]]
    streams: list[UpdateStream]


def prepare(scenario: str, duration: float) -> Workload:
    """Generate the scenario's updates; cost ~3 µs each (ydata). ``duration`` in seconds."""
    registry: dict[bytes, tuple[int, int]] = {}
    base = random.randrange(1, 2**31)  # distinct client ids per writer, fresh per workload
    if scenario in THROUGHPUT:
        shape = THROUGHPUT[scenario]
        writers = shape.rooms * shape.writers
        sends_per_s = min(BUDGET_MAX_SENDS_PER_S, BUDGET_DELIVERIES_PER_S / (shape.clients - 1))
        per_writer = math.ceil(sends_per_s * (WARMUP_S + duration + 1) / writers)
        streams = [UpdateStream(w, base + w, registry) for w in range(writers)]
        for stream in streams:
            stream.extend(per_writer)
    elif scenario in JOIN:
        count, text = JOIN[scenario]
        streams = [UpdateStream(0, base, registry)]
        streams[0].extend(count, text)
    elif scenario == "idle":
        streams = []
    else:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    return Workload(registry, streams)


async def run_scenario(
    scenario: str, target: Target, workload: Workload, duration: float = 5.0, window: int = 8
) -> dict:
    """Run one scenario once against ``target``; every wait has a deadline (raises TimeoutError)."""
    room_prefix = f"bench-{scenario}-{random.randrange(16**8):08x}"
    gc.collect()
    gc.freeze()  # the big registry is long-lived: keep the cyclic GC from rescanning it mid-run
    try:
        if scenario in THROUGHPUT:
            return await _run_throughput(THROUGHPUT[scenario], room_prefix, target, workload, duration, window)
        if scenario in JOIN:
            return await _run_join(room_prefix, target, workload)
        if scenario == "idle":
            return await _run_idle(room_prefix, target)
        raise ValueError(f"unknown scenario {scenario!r}")
    finally:
        gc.unfreeze()


async def _connect_many(target: Target, specs: list[tuple[str, int, int | None]], sink) -> list[WsClient]:
    """Connect clients ``(path, room_index, writer_index)`` at most CONNECT_CONCURRENCY at a time,
    each until synced; all or nothing (closes what opened and raises on any failure)."""
    ready_on = "step2" if target.answers_sync else "open"
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    clients: list[WsClient] = []

    async def one(path: str, room: int, writer: int | None) -> None:
        async with gate:
            client = await connect(target.host, target.port, path, ready_on, sink, 15.0, target.address(path))
        client.room_index, client.writer_index = room, writer
        clients.append(client)

    try:
        await asyncio.wait_for(asyncio.gather(*(one(*s) for s in specs)), timeout=30.0 + 0.05 * len(specs))
    except BaseException:
        _close_all(clients)
        raise
    return clients


def _close_all(clients: list[WsClient]) -> None:
    for client in clients:
        client.close()


def _errors(traffic: Traffic | None, clients: list[WsClient]) -> tuple[dict[str, int], list[str]]:
    counts = dict(traffic.errors) if traffic else {}
    lost = [c.error for c in clients if c.unexpected_close]
    if lost:
        counts["closed_by_server"] = len(lost)
    return counts, sorted(set(filter(None, lost)))[:5]


def _percentile(sorted_values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, ``p`` in 0..100."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(p / 100 * len(sorted_values)) - 1)]


def _rss_mb(target: Target) -> float | None:
    return procstat.rss_bytes(target.pid) / 2**20 if target.pid else None


def _cpu(target: Target) -> float | None:
    return procstat.cpu_seconds(target.pid) if target.pid else None


def place_clients(
    shape: Shape, workload: Workload, prefix: str
) -> tuple[list[Writer], list[tuple[str, int, int, int | None]]]:
    """The writers of ``shape`` and one ``(path, room, client index in its room, writer index or None)``
    per client: the first ``shape.writers`` clients of each room write."""
    writers: list[Writer] = []
    placed: list[tuple[str, int, int, int | None]] = []
    for room in range(shape.rooms):
        for c in range(shape.clients):
            writer = None
            if c < shape.writers:
                writer = len(writers)
                writers.append(Writer(writer, room, workload.streams[writer], shape.clients - 1))
            placed.append((f"/{prefix}-{room}", room, c, writer))
    return writers, placed


async def _run_throughput(
    shape: Shape, prefix: str, target: Target, workload: Workload, duration: float, window: int
) -> dict:
    """Keys: deliveries_per_s, echoes_per_s (updates sent back to their writer, not deliveries),
    p50_ms, p99_ms, server_cpu_us_per_delivery, server_rss_mb,
    loadgen_cpu_pct (of one core: near 100 means the loadgen, not the server, set the pace),
    other_cpu_pct (the rest of the host, % of one core), plus raw counts, errors and refills."""
    writers, placed = place_clients(shape, workload, prefix)
    specs = [(path, room, writer) for path, room, _, writer in placed]
    for path, _, _, writer in placed:
        if writer is not None and target.framing == "hocuspocus":
            writers[writer].address(address_prefix(target.address(path)))
    traffic = Traffic(writers, window)
    clients = await _connect_many(target, specs, traffic.sink)
    try:
        for client in clients:
            if client.writer_index is not None:
                writers[client.writer_index].client = client
        traffic.start()
        await asyncio.sleep(WARMUP_S)
        cpu0, lg0, host0, t0 = _cpu(target), time.process_time(), procstat.host_busy_seconds(), perf_counter()
        traffic.measuring = True
        await asyncio.sleep(duration)
        traffic.measuring = False
        cpu1, lg1, host1, t1 = _cpu(target), time.process_time(), procstat.host_busy_seconds(), perf_counter()
        rss = _rss_mb(target)
        traffic.stop()
    finally:
        _close_all(clients)
    window_s = t1 - t0
    lat = sorted(traffic.latencies)
    n = traffic.deliveries
    errors, messages = _errors(traffic, clients)
    if n == 0:
        errors["no_deliveries"] = 1
    cpu = None if cpu0 is None else cpu1 - cpu0
    return {
        "kind": "throughput",
        "deliveries_per_s": n / window_s,
        "echoes_per_s": traffic.echoes / window_s,
        "p50_ms": None if not lat else _percentile(lat, 50) * 1e3,
        "p99_ms": None if not lat else _percentile(lat, 99) * 1e3,
        "server_cpu_us_per_delivery": None if cpu is None or n == 0 else cpu / n * 1e6,
        "server_cpu_pct": None if cpu is None else cpu / window_s * 100,
        "server_rss_mb": rss,
        "loadgen_cpu_pct": (lg1 - lg0) / window_s * 100,
        # CPU the rest of the host used meanwhile (other processes, unattributed kernel work), in % of
        # one core: when it is high the two measured processes did not have both cores.
        # Clamped at 0: /proc/stat is tick-sampled, per-process times are not, so they differ by a few %.
        "other_cpu_pct": None if cpu is None else max(0.0, (host1 - host0) - cpu - (lg1 - lg0)) / window_s * 100,
        "window_s": window_s,
        "deliveries": n,
        "updates_per_message": None if not traffic.received_messages else n / traffic.received_messages,
        "sent": traffic.sent,
        "refills": traffic.refills,
        "errors": errors,
        "error_messages": messages,
    }


async def _run_join(prefix: str, target: Target, workload: Workload) -> dict:
    """Keys: join_ms (median of JOINS), join_ms_all, join_measure ("connect->step2" or, for the
    baseline, "connect->open+pong"), server_rss_mb (with the history loaded), errors."""
    path = f"/{prefix}"
    stream = workload.streams[0]
    writer = Writer(0, 0, stream, expected=1)
    if target.framing == "hocuspocus":
        writer.address(address_prefix(target.address(path)))
    traffic = Traffic([writer], window=64, limit=len(stream))
    clients = await _connect_many(target, [(path, 0, 0), (path, 0, None)], traffic.sink)
    joins: list[float] = []
    try:
        writer.client = next(c for c in clients if c.writer_index == 0)
        traffic.start()
        await _wait_history(traffic, clients, timeout=120.0)
        ready_on = "step2" if target.answers_sync else "pong"
        for _ in range(JOINS):
            t0 = perf_counter()
            joiner = await connect(target.host, target.port, path, ready_on, None, 30.0, target.address(path))
            joins.append(joiner.ready_at - t0)
            joiner.close()
            await asyncio.sleep(0.05)  # let the server retire the joiner before the next one
        rss = _rss_mb(target)
    finally:
        _close_all(clients)
    errors, messages = _errors(traffic, clients)
    return {
        "kind": "join",
        "join_ms": statistics.median(joins) * 1e3,
        "join_ms_all": [j * 1e3 for j in joins],
        "join_measure": "connect->step2" if target.answers_sync else "connect->open+pong",
        "history_updates": len(stream),
        "history_bytes": sum(len(m) for m in stream.messages),
        "server_rss_mb": rss,
        "errors": errors,
        "error_messages": messages,
    }


async def _wait_history(traffic: Traffic, clients: list[WsClient], timeout: float) -> None:
    """Wait until the second client has every update (the history is in), failing fast if the
    server drops a client; ``timeout`` in seconds."""
    deadline = perf_counter() + timeout
    while not traffic.done.done():
        lost = [c.error for c in clients if c.unexpected_close]
        if lost:
            raise ConnectionError(f"while loading the history: {lost[0]}")
        if perf_counter() > deadline:
            raise TimeoutError(f"history not delivered within {timeout:.0f} s ({traffic.completed} updates done)")
        await asyncio.wait({traffic.done}, timeout=0.1)


async def _run_idle(prefix: str, target: Target) -> dict:
    """Keys: idle_kb_per_client = (RSS with the clients - RSS with none) / clients, in KiB."""
    if target.pid is None:
        raise ValueError("the idle scenario needs the server pid")
    # One throw-away client first, so code paths loaded lazily on the first connection are not
    # charged to the 1,000 measured ones.
    warm = await _connect_many(target, [(f"/{prefix}-warm", 0, None)], None)
    _close_all(warm)
    await asyncio.sleep(0.5)
    rss0 = procstat.rss_bytes(target.pid)
    specs = [(f"/{prefix}-{r}", r, None) for r in range(IDLE_ROOMS) for _ in range(IDLE_PER_ROOM)]
    clients = await _connect_many(target, specs, None)
    try:
        await asyncio.sleep(1.0)  # let the server finish any per-connection work it deferred
        rss1 = procstat.rss_bytes(target.pid)
    finally:
        _close_all(clients)
    errors, messages = _errors(None, clients)
    return {
        "kind": "idle",
        "idle_kb_per_client": (rss1 - rss0) / len(specs) / 1024,
        "clients": len(specs),
        "server_rss_mb_before": rss0 / 2**20,
        "server_rss_mb_after": rss1 / 2**20,
        "errors": errors,
        "error_messages": messages,
    }


def raise_fd_limit(want: int = 65536) -> None:
    """Raise this process's soft RLIMIT_NOFILE towards ``want`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description="y-websocket load generator (one scenario, one run)")
    parser.add_argument("--url", required=True, help="ws://HOST:PORT/ of the server (rooms are made up)")
    parser.add_argument("--scenario", required=True, choices=SCENARIOS)
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds (throughput)")
    parser.add_argument("--window", type=int, default=8, help="updates in flight per writer")
    parser.add_argument("--server-pid", type=int, help="server pid, for CPU and RSS figures")
    parser.add_argument("--baseline", action="store_true", help="server never answers SyncStep1")
    args = parser.parse_args()
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "ws" or not url.hostname or not url.port:
        sys.exit("--url must look like ws://127.0.0.1:PORT/")
    raise_fd_limit()
    target = Target(url.hostname, url.port, args.server_pid, answers_sync=not args.baseline)
    workload = prepare(args.scenario, args.duration)
    result = asyncio.run(run_scenario(args.scenario, target, workload, args.duration, args.window))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
