"""One process's CPU time and memory from /proc (Linux), without its children, and its children.

``procstat`` sums a whole process tree; the execution benchmark must tell the server from its
kernel (a child), so it reads single processes. Contracts:
- ``cpu_seconds(pid)``: utime + stime of that process only (all its threads), in seconds
  (resolution 1/CLK_TCK); ``rss_bytes(pid)``: its VmRSS. Both raise ``ProcessLookupError`` if the
  process is gone.
- ``children(pid)``: pids of its direct children; ``cmdline(pid)``: its argv ("" if gone);
  ``alive(pid)``: exists and is not a zombie.
"""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        raise ProcessLookupError(path) from None


def cpu_seconds(pid: int) -> float:
    stat = _read(f"/proc/{pid}/stat")
    fields = stat[stat.rindex(")") + 2 :].split()  # after comm, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / _TICK


def rss_bytes(pid: int) -> int:
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                out.extend(int(c) for c in _read(f"/proc/{pid}/task/{task}/children").split())
            except ProcessLookupError:
                pass
    except FileNotFoundError:
        return []
    return sorted(set(out))


def cmdline(pid: int) -> str:
    try:
        return _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()
    except ProcessLookupError:
        return ""


def alive(pid: int) -> bool:
    try:
        stat = _read(f"/proc/{pid}/stat")
    except ProcessLookupError:
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"
