"""The students of the classroom benchmark (``classroom.py``): a child process of N pycrdt clients in the
classroom room, and its handle on the teacher's side.

Contracts: ``python classroom_students.py URL TOKEN ROOM CELL_ID COUNT`` (:func:`fleet`) joins COUNT
students (:class:`rtc_client.RoomClient`) to ROOM with a JupyterLab-like presence, prints ``ready
{length}`` once each one's projection holds the shared cell CELL_ID, then on ``report {length}`` from
stdin waits (at most ``DELIVERY_DEADLINE`` s) until each has that length and prints one JSON line:
``{"base", "cpu", "arrivals": [{length: time.monotonic() it arrived}, ...]}``, one map per student.
:class:`Fleet` starts one and reads it. Times are ``time.monotonic()``: one clock for every process.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DELIVERY_DEADLINE = 10.0  # seconds after the last keystroke for every student to have every keystroke
STUDENTS_NICE = 19  # the students' processes' niceness where the idle scheduling class is not available
READY_TIMEOUT = 120.0  # seconds for the students to join, sync and see the shared cell

# -- the students (child process) ----------------------------------------------------------------


async def fleet(url: str, token: str, room: str, cell_id: str, count: int) -> None:
    """Join ``count`` students to ``room``; print ``ready {length}`` once each one's projection holds
    ``cell_id``; on ``report {length}`` from stdin, wait (bounded) until each has that length, then print
    one JSON line: every student's arrival time of each length after the ready one, then exit.

    It runs in the idle scheduling class (``SCHED_IDLE``; else at niceness ``STUDENTS_NICE``): real
    students decode on machines of their own, so the simulated ones must never hold a core the server or
    the teacher's side wakes up for; on a machine of two cores they would."""
    _yield_the_cpu()
    from pycrdt import Array, Map

    from rtc_client import RoomClient

    class Student(RoomClient):
        """A RoomClient that notes when each length of the shared cell's source arrives: checked after every
        message it applies (an observer of the text would cost the students more than their client does)."""

        text: Any = None
        arrivals: dict[int, float]

        def _handle(self, message: bytes) -> None:
            super()._handle(message)
            text = self.text
            if text is not None:
                arrivals, now = self.arrivals, time.monotonic()
                for length in range(base + len(arrivals) + 1, len(str(text)) + 1):
                    arrivals[length] = now

    students = [Student(f"{url}api/collaboration/room/{room}", token=token, keepalive=None) for _ in range(count)]

    def text_of(client: RoomClient) -> Any:
        for cell in client.doc.get("cells", type=Array):
            if isinstance(cell, Map) and cell.get("id") == cell_id:
                return cell["source"]
        return None

    for batch in range(0, count, 20):  # a class arriving, not one burst of 100 upgrades
        await asyncio.gather(*(s.__aenter__() for s in students[batch : batch + 20]))
    for number, student in enumerate(students):
        user = {"username": f"student{number}", "name": f"Student {number}", "display_name": f"Student {number}"}
        student.awareness.set_local_state({"user": user, "classroom": {"following": True}})
    await asyncio.gather(*(s.wait_for(lambda s=s: text_of(s) is not None, READY_TIMEOUT) for s in students))
    base = len(str(text_of(students[0])))
    for student in students:
        student.arrivals = {}
        student.text = text_of(student)
    print(f"ready {base}", flush=True)
    cpu = time.process_time()
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    final = int(line.split()[1])
    deadline = time.monotonic() + DELIVERY_DEADLINE
    while time.monotonic() < deadline and any(len(str(s.text)) < final for s in students):
        await asyncio.sleep(0.05)  # a bench's bounded wait for the stragglers
    cpu = time.process_time() - cpu
    print(
        json.dumps(
            {"base": base, "cpu": cpu, "arrivals": [{str(k): v for k, v in s.arrivals.items()} for s in students]}
        ),
        flush=True,
    )
    for student in students:
        await student.close()


def _yield_the_cpu() -> None:
    """Run this process only on a core nothing else wants (Linux's SCHED_IDLE), or at the lowest priority."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(STUDENTS_NICE - os.nice(0))


class Fleet:
    """The students' child process, seen from the teacher's side."""

    def __init__(self, url: str, token: str, room: str, cell_id: str, count: int) -> None:
        self.argv = [sys.executable, __file__, url, token, room, cell_id, str(count)]
        self.proc: asyncio.subprocess.Process | None = None
        self.base = 0
        self.cpu = 0.0  # CPU seconds the students took between ready and their report

    async def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "clients"), os.environ.get("PYTHONPATH", "")]),
        }
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, limit=1 << 26
        )
        line = await asyncio.wait_for(self.proc.stdout.readline(), READY_TIMEOUT + 30)
        if not line.startswith(b"ready "):
            await self.stop()
            raise RuntimeError(f"the students did not get ready: {line!r}")
        self.base = int(line.split()[1])

    async def report(self, final: int) -> list[dict[int, float]]:
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"report {final}\n".encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), DELIVERY_DEADLINE + 30)
        answer = json.loads(line)
        self.cpu = answer["cpu"]
        await asyncio.wait_for(self.proc.wait(), 30)
        return [{int(k): v for k, v in a.items()} for a in answer["arrivals"]]

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


# -- the teacher (this process) ---------------------------------------------------------------------


if __name__ == "__main__":
    url, token, room, cell_id, count = sys.argv[1:6]
    asyncio.run(fleet(url, token, room, cell_id, int(count)))
