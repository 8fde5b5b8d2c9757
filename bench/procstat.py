"""CPU time and resident memory of a server process, read from /proc (Linux only, no psutil).

Both figures cover the process and its live descendants, so a server that forks workers is measured
whole. Contracts:
- ``cpu_seconds(pid)``: utime + stime in seconds (resolution 1/CLK_TCK, usually 10 ms), summed over
  the tree. Take a delta over a window of seconds, never read one value alone.
- ``rss_bytes(pid)``: VmRSS in bytes, summed over the tree.
Both raise ``ProcessLookupError`` if ``pid`` itself is gone; vanished descendants are skipped.
- ``host_busy_seconds()``: CPU seconds the whole host spent not idle (all cores, including time
  stolen by the hypervisor), from /proc/stat; a delta minus the server's and the loadgen's CPU shows
  how much other processes took during a window.
"""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def _tree(pid: int) -> list[int]:
    pids = [pid]
    i = 0
    while i < len(pids):
        try:
            tasks = os.listdir(f"/proc/{pids[i]}/task")
        except (FileNotFoundError, ProcessLookupError):
            if i == 0:
                raise ProcessLookupError(pid) from None
            tasks = []
        for task in tasks:
            try:  # a thread may end between the listing and this read: its children are gone with it
                with open(f"/proc/{pids[i]}/task/{task}/children") as f:
                    pids.extend(int(c) for c in f.read().split())
            except (FileNotFoundError, ProcessLookupError):
                pass
        i += 1
    return pids


def _cpu_one(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Field 2 (comm) may contain spaces: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime = fields 14, 15 of stat


def _rss_one(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # zombie: no VmRSS line


def _sum(pid: int, one) -> float:
    total = 0
    for p in _tree(pid):
        try:
            total += one(p)
        except FileNotFoundError:
            if p == pid:
                raise ProcessLookupError(pid) from None
    return total


def cpu_seconds(pid: int) -> float:
    return float(_sum(pid, _cpu_one))


def rss_bytes(pid: int) -> int:
    return int(_sum(pid, _rss_one))


def host_busy_seconds() -> float:
    with open("/proc/stat") as f:
        fields = f.readline().split()  # "cpu user nice system idle iowait irq softirq steal ..."
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICK
