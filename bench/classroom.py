"""Classroom load: one teacher types in a shared cell while N students follow in the classroom room.

What it measures, on a real Jupyter server with our extensions (started here, from this checkout, unless
``--url`` names a running one):

- **students**: per keystroke, the time from the teacher's edit (made as a client of the notebook room
  would: one character appended to a shared cell's source, and the teacher's awareness updated with
  their cursor, as JupyterLab does on every keystroke) until each student's projection holds it. Every
  (keystroke, student) pair is one sample; p50/p99 in ms, and how many never arrived.
- **teacher**: the teacher's own round trip, from the edit until a second client of the notebook room
  (a collaborator) has it, with 0 students in the session (``alone``) and then with N (``class``): p50/p99
  in ms, and the ratio class/alone.

The students are real pycrdt clients (:class:`rtc_client.RoomClient`) that join ``classroom/{id}`` with a
JupyterLab-like presence ``{"user": ..., "classroom": {"following": true}}``. They run in child processes
(``classroom_students.py``, ``--processes`` of them), so their decoding does not slow the teacher's side of
the measurement; times are ``time.monotonic()``, which is one clock for every process of the machine.

Usage::

    python bench/classroom.py                       # 100 students, 200 keystrokes per phase at 10/s
    python bench/classroom.py --students 30 --keystrokes 50 --json out.json
    python bench/classroom.py --url http://127.0.0.1:8888/ --token T   # against a running server

Contracts: :func:`measure` runs one lesson against a server and returns the figures (a dict, see
:func:`report`); the test ``tests/test_classroom_load.py`` runs it with thresholds. A student that
does not get a keystroke within ``DELIVERY_DEADLINE`` seconds of the last one counts as ``missing``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # the bench's helpers (procstat, servers, nb_server)
from classroom_students import DELIVERY_DEADLINE, Fleet  # noqa: E402  (found through the line above)

WARMUP = 5  # keystrokes of each phase not counted
SOURCE = "print('teacher')  # "


def rest(base_url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        base_url + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


async def open_notebook(base_url: str, token: str, path: str) -> Any:
    """A client of the notebook's room, as JupyterLab opens it (collaboration session, then the room)."""
    from rtc_client import RoomClient

    session = await asyncio.to_thread(
        rest, base_url, token, "PUT", f"api/collaboration/session/{urllib.parse.quote(path)}",
        {"format": "json", "type": "notebook"},
    )  # fmt: skip
    ws = base_url.replace("http", "ws", 1)
    room = f"json:notebook:{session['fileId']}?sessionId={session['sessionId']}"
    client = RoomClient(f"{ws}api/collaboration/room/{room}", token=token, keepalive=None)
    await client.__aenter__()
    await client.wait_synced(30)
    return client


def source_of(client: Any, cell_id: str) -> Any:
    from pycrdt import Array

    for cell in client.doc.get("cells", type=Array):
        if cell.get("id") == cell_id:
            return cell["source"]
    raise LookupError(cell_id)


async def type_keystrokes(
    teacher: Any, echo: Any, cell_id: str, keystrokes: int, rate: float, presence: dict
) -> tuple[dict[int, float], dict[int, float]]:
    """Append ``keystrokes`` characters at ``rate`` per second; answer (sent, echoed): text length → time."""
    text, seen = source_of(teacher, cell_id), source_of(echo, cell_id)
    sent: dict[int, float] = {}
    echoed: dict[int, float] = {}
    start = len(str(seen))

    def changed(_: Any) -> None:
        now = time.monotonic()
        for length in range(start + len(echoed) + 1, len(str(seen)) + 1):
            echoed[length] = now

    subscription = seen.observe(changed)
    loop = asyncio.get_running_loop()
    begin = loop.time()
    try:
        for number in range(keystrokes):
            await asyncio.sleep(max(0.0, begin + number / rate - loop.time()))  # the typist's pace
            sent[len(str(text)) + 1] = time.monotonic()
            text += "x"
            teacher.awareness.set_local_state({**presence, "cursor": number})  # JupyterLab's cursor moves too
        final = len(str(text))
        await echo.wait_for(lambda: len(str(seen)) >= final, DELIVERY_DEADLINE)
    finally:
        seen.unobserve(subscription)
    return sent, echoed


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p99": round(p99, 2),
        "max": round(ordered[-1], 2),
        "n": len(ordered),
    }


def latencies(sent: dict[int, float], received: dict[int, float]) -> tuple[list[float], int]:
    counted = sorted(sent)[WARMUP:]
    return [(received[k] - sent[k]) * 1000 for k in counted if k in received], sum(k not in received for k in counted)


class CpuWindow:
    """CPU seconds of the server's process tree (if its pid is known), of this process (the teacher's side)
    and of the whole host over a phase."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.server = self.host = self.own = 0.0

    def __enter__(self) -> CpuWindow:
        from procstat import cpu_seconds, host_busy_seconds

        self._server0 = cpu_seconds(self.server_pid) if self.server_pid else 0.0
        self._host0 = host_busy_seconds()
        self._own0 = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        from procstat import cpu_seconds, host_busy_seconds

        self.server = cpu_seconds(self.server_pid) - self._server0 if self.server_pid else 0.0
        self.host = host_busy_seconds() - self._host0
        self.own = time.process_time() - self._own0


async def measure(
    base_url: str,
    token: str,
    path: str,
    *,
    students: int = 100,
    keystrokes: int = 200,
    rate: float = 10.0,
    processes: int = 2,
    server_pid: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """One lesson on the notebook ``path`` (its first cell is shared) of the server at ``base_url``; the
    figures of :func:`report`. The students are shared among ``processes`` child processes (real students
    decode in browsers of their own; one process decoding for all would queue them behind each other).
    ``server_pid``: the server's process, to report its CPU per keystroke."""
    quoted = urllib.parse.quote(path)
    cells = await asyncio.to_thread(rest, base_url, token, "GET", f"api/rtc/notebooks/{quoted}/cells")
    cell_id = cells["cells"][0]["id"]
    shared = {"metadata": {"jupyter-rtc": {"shared": True}}}
    await asyncio.to_thread(rest, base_url, token, "PATCH", f"api/rtc/notebooks/{quoted}/cells/{cell_id}", shared)
    session = await asyncio.to_thread(rest, base_url, token, "POST", "api/rtc/classrooms", {"path": path})
    teacher = await open_notebook(base_url, token, path)
    echo = await open_notebook(base_url, token, path)
    fleets: list[Fleet] = []
    figures: dict[str, Any] = {
        "students_count": students,
        "keystrokes": keystrokes,
        "rate": rate,
        "processes": processes,
    }
    try:
        user = {"username": "teacher", "name": "Teacher", "display_name": "Teacher"}
        presence = {"user": user, "classroom": {"session": session["id"], "cell": cell_id, "top": cell_id}}
        teacher.awareness.set_local_state(presence)
        log(f"alone: {keystrokes} keystrokes at {rate}/s, no student")
        with CpuWindow(server_pid) as alone_cpu:
            sent, echoed = await type_keystrokes(teacher, echo, cell_id, keystrokes, rate, presence)
        figures["teacher_alone"] = stats(*latencies(sent, echoed))

        log(f"class: {students} students joining")
        ws = base_url.replace("http", "ws", 1)
        shares = [students // processes + (n < students % processes) for n in range(processes)]
        fleets = [Fleet(ws, token, session["room"], cell_id, share) for share in shares if share]
        await asyncio.gather(*(fleet.start() for fleet in fleets))
        log(f"class: {keystrokes} keystrokes at {rate}/s, {students} students following")
        with CpuWindow(server_pid) as class_cpu:
            sent, echoed = await type_keystrokes(teacher, echo, cell_id, keystrokes, rate, presence)
        figures["teacher_class"] = stats(*latencies(sent, echoed))
        arrivals = [a for fleet in fleets for a in await fleet.report(max(sent))]
        each: list[float] = []
        slowest: list[float] = []
        missing = 0
        for length in sorted(sent)[WARMUP:]:
            got = [a[length] for a in arrivals if length in a]
            missing += len(arrivals) - len(got)
            each += [(t - sent[length]) * 1000 for t in got]
            if len(got) == len(arrivals):
                slowest.append((max(got) - sent[length]) * 1000)
        figures["students"] = stats(each, missing)
        figures["last_student"] = stats(slowest, 0)
        figures["cpu_ms_per_keystroke"] = {
            "server_alone": round(alone_cpu.server * 1000 / keystrokes, 2) if server_pid else None,
            "server_class": round(class_cpu.server * 1000 / keystrokes, 2) if server_pid else None,
            "students": round(sum(fleet.cpu for fleet in fleets) * 1000 / keystrokes, 2),
            "host_busy_class": round(class_cpu.host * 1000 / keystrokes, 2),
        }
        if server_pid:  # what the rest of the machine took meanwhile: the load the figures were measured under
            ours = class_cpu.server + class_cpu.own + sum(fleet.cpu for fleet in fleets)
            figures["cpu_ms_per_keystroke"]["others_class"] = round((class_cpu.host - ours) * 1000 / keystrokes, 2)
    finally:
        for fleet in fleets:
            await fleet.stop()
        await teacher.close()
        await echo.close()
        await asyncio.to_thread(rest, base_url, token, "DELETE", f"api/rtc/classrooms/{session['id']}")
    alone, klass = figures["teacher_alone"], figures["teacher_class"]
    figures["teacher_p50_ratio"] = round(klass["p50"] / alone["p50"], 2) if alone["p50"] and klass["p50"] else None
    figures["teacher_p99_ratio"] = round(klass["p99"] / alone["p99"], 2) if alone["p99"] and klass["p99"] else None
    return figures


def stats(samples: list[float], missing: int) -> dict[str, Any]:
    """p50, p99 and max of ``samples`` (ms), how many, and how many never arrived."""
    return {**percentiles(samples), "missing": missing}


def report(figures: dict[str, Any]) -> str:
    s, last, a, c = figures["students"], figures["last_student"], figures["teacher_alone"], figures["teacher_class"]
    cpu = figures["cpu_ms_per_keystroke"]
    return "\n".join(
        [
            f"{figures['students_count']} students in {figures['processes']} processes, "
            f"{figures['keystrokes']} keystrokes per phase at {figures['rate']}/s",
            f"  teacher → each student : p50 {s['p50']} ms  p99 {s['p99']} ms  max {s['max']} ms  ({s['n']} samples, {s['missing']} missing)",
            f"  teacher → last student : p50 {last['p50']} ms  p99 {last['p99']} ms",
            f"  teacher round trip, 0 students  : p50 {a['p50']} ms  p99 {a['p99']} ms",
            f"  teacher round trip, {figures['students_count']} students: p50 {c['p50']} ms  p99 {c['p99']} ms",
            f"  ratio with/without students: p50 {figures['teacher_p50_ratio']}  p99 {figures['teacher_p99_ratio']}",
            f"  CPU ms per keystroke: server {cpu['server_alone']} (0 students) / {cpu['server_class']} "
            f"({figures['students_count']} students), students' process {cpu['students']}, "
            f"whole host {cpu['host_busy_class']} (other processes {cpu.get('others_class')})",
        ]
    )


# -- the command line -----------------------------------------------------------------------------


def write_lesson(root: Path, name: str = "lesson.ipynb") -> str:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(SOURCE),
        nbformat.v4.new_code_cell("hidden = 1"),
        nbformat.v4.new_markdown_cell("# Notes"),
    ]
    nbformat.write(nb, root / name)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--keystrokes", type=int, default=200, help="per phase")
    parser.add_argument("--rate", type=float, default=10.0, help="keystrokes per second")
    parser.add_argument("--processes", type=int, default=2, help="child processes the students run in")
    parser.add_argument("--url", help="a running Jupyter server with jupyter-rtc (default: start one)")
    parser.add_argument("--token", default="")
    parser.add_argument("--path", help="with --url: a notebook of that server (its first cell gets shared)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.url:
        figures = asyncio.run(
            measure(
                args.url.rstrip("/") + "/",
                args.token,
                args.path,
                students=args.students,
                keystrokes=args.keystrokes,
                rate=args.rate,
                processes=args.processes,
            )
        )
    else:
        from nb_server import JupyterServer
        from servers import free_port

        class Server(JupyterServer):
            def _env(self) -> dict[str, str]:  # this checkout's packages, not an installed copy
                env = super()._env()
                env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "clients")])
                return env

        with tempfile.TemporaryDirectory() as tmp:
            token = "classroom-bench"
            with Server(sys.executable, Path(tmp), free_port(), token) as server:
                path = write_lesson(server.root)
                figures = asyncio.run(
                    measure(
                        server.base_url + "/",
                        token,
                        path,
                        students=args.students,
                        keystrokes=args.keystrokes,
                        rate=args.rate,
                        processes=args.processes,
                        server_pid=server.pid,
                    )
                )
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
