"""The classroom under load: one teacher typing at 10 keystrokes per second in a shared cell, 100 students
following in the classroom room (real pycrdt clients, in child processes), on a real Jupyter server.

Each keystroke reaches every student's projection with p99 under 100 ms, none is lost, and the teacher's
own round trip (their edit reaching a collaborator in the notebook room) does not change with the class
there: p50 within 1.5 times what it is with no student, p99 under 100 ms. ``bench/classroom.py`` measures
the same lesson, longer.

The server runs in a process of its own, as in production: in the test's process, the teacher's clients
would share its event loop and measure themselves as much as the server. The machine may be shared: a run
during which other processes took more than one core is measured again (up to 3 runs); when every run was,
the test is skipped and says so (those figures measure the neighbours, not the server). A run whose teacher
ratio is over 1.5 is measured again too, and the last run decides. The students' processes run in the idle
scheduling class: on a machine of two cores they would otherwise hold the core the teacher's side wakes up
for, which real students, on machines of their own, never do.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from browser.lab import JupyterLabServer
from jupyter_helpers import write_notebook

BENCH = Path(__file__).resolve().parents[1] / "bench" / "classroom.py"
KEYSTROKES = 60
ATTEMPTS = 3
# CPU ms other processes may take per keystroke (100 ms at 10/s) for a run to count: under one of the 2 cores.
OTHERS_LIMIT = 100.0
# The teacher's p50 round trip with the class ÷ without it. A run over it is measured again (up to ATTEMPTS): a
# scheduling hiccup of the host lasts one run, a server that makes the teacher wait behind the class every run.
RATIO_LIMIT = 1.5


def _bench():
    spec = importlib.util.spec_from_file_location("classroom_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_a_hundred_students_follow_the_teachers_typing(tmp_path):
    bench = _bench()
    server = JupyterLabServer(tmp_path / "server", app="server")
    path = write_notebook(server.root, "lesson.ipynb", [bench.SOURCE, "hidden = 1"])
    busy: list[float] = []
    measured = None
    async with server:
        for _ in range(ATTEMPTS):  # a run while other work held the machine measures that work, not ours
            figures = await bench.measure(
                server.url + "/",
                server.token,
                path,
                students=100,
                keystrokes=KEYSTROKES,
                rate=10.0,
                server_pid=server._proc.pid,
                log=lambda line: None,
            )
            print(bench.report(figures))
            if figures["cpu_ms_per_keystroke"]["others_class"] >= OTHERS_LIMIT:
                busy.append(figures["cpu_ms_per_keystroke"]["others_class"])
                continue
            measured = figures
            if figures["teacher_p50_ratio"] < RATIO_LIMIT:
                break
    if measured is None:
        pytest.skip(f"other processes kept the host busy in every run ({busy} ms of CPU per 100 ms keystroke)")
    figures = measured
    students, alone, klass = figures["students"], figures["teacher_alone"], figures["teacher_class"]
    assert students["missing"] == 0 and students["n"] == 100 * (KEYSTROKES - bench.WARMUP), figures
    assert students["p99"] < 100, figures
    assert alone["missing"] == 0 and klass["missing"] == 0, figures
    assert klass["p99"] < 100, figures
    assert figures["teacher_p50_ratio"] < RATIO_LIMIT, figures
