"""Classroom sessions on a real Jupyter server: a teacher shares chosen cells, real pycrdt clients (the
teacher in their notebook, students in the read-only classroom room) see the projection live, and
students pull cells into their own notebooks, never overwritten unless they ask."""

from __future__ import annotations

import re

import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Array, Map, Text

from execution_helpers import stream_text
from helpers import eventually
from jupyter_helpers import disk_sources, server_config, write_notebook
from test_notebook_api import Notebooks, until

from supernode.classrooms import ALPHABET

SHARED = {"jupyter-rtc": {"shared": True}}


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(save_max_wait=1.0, journal_path=str(tmp_path / "journal.sqlite"))


class Classes(Notebooks):
    async def cls(self, method: str, *parts: str, body: dict | None = None, status: int = 200, **params):
        code, answer, _ = await self.call(method, "api", "rtc", "classrooms", *parts, body=body, **params)
        assert code == status, (code, answer)
        return answer


@pytest.fixture
def api(jp_fetch) -> Classes:
    return Classes(jp_fetch)


def projected(client) -> list[dict]:
    cells = client.doc.get("cells", type=Array)
    return [{**cell.to_py(), "source": str(cell["source"])} for cell in cells if isinstance(cell, Map)]


async def lesson(api, root, name: str, sources: list[str], shared: list[int]) -> tuple[str, list[str]]:
    path = write_notebook(root, name, sources)
    ids = [c["id"] for c in (await api.ok("GET", path, "cells"))["cells"]]
    for index in shared:
        await api.ok("PATCH", path, "cells", ids[index], body={"metadata": SHARED})
    return path, ids


async def test_sessions_project_only_shared_cells_live_and_never_touch_each_other(api, collab, jp_root_dir):
    path, ids = await lesson(api, jp_root_dir, "lesson.ipynb", ["a = 1", "secret = 42", "b = a + 1"], [0, 2])
    other, _ = await lesson(api, jp_root_dir, "other.ipynb", ["x = 'other'"], [0])
    first = await api.cls("POST", body={"path": path}, status=201)
    second = await api.cls("POST", body={"path": other}, status=201)
    assert re.fullmatch(f"[{ALPHABET}]{{8}}", first["code"]) and first["code"] != second["code"]
    assert first["shared"] == [ids[0], ids[2]] and first["room"] != second["room"]
    assert [s["id"] for s in (await api.cls("GET"))["classrooms"]] == [first["id"], second["id"]]

    # A student finds the session by its code, however typed, and joins its room.
    typed = first["code"][:4].lower() + "-" + first["code"][4:]
    assert (await api.cls("GET", "join", typed))["id"] == first["id"]
    code, error, _ = await api.call("GET", "api", "rtc", "classrooms", "join", "AAAAAAAA")
    assert code == 404 and "code" in error["message"]
    student = await collab.join(first["room"])
    await student.wait_synced()
    assert [(c["id"], c["source"]) for c in projected(student)] == [(ids[0], "a = 1"), (ids[2], "b = a + 1")]
    assert "secret" not in str(student.doc.get_update())

    # The teacher types in a shared cell, shares the secret cell, then unshares the first one.
    teacher, _ = await collab.open(path)
    nb = YNotebook(teacher.doc)
    text = nb.ycells[2]["source"]
    text += "  # typed live"
    await student.wait_for(lambda: [c["source"] for c in projected(student)][-1] == "b = a + 1  # typed live")
    await api.ok("PATCH", path, "cells", ids[1], body={"metadata": SHARED})
    await api.ok("PATCH", path, "cells", ids[0], body={"metadata": {"jupyter-rtc": None}})
    await student.wait_for(lambda: [c["id"] for c in projected(student)] == [ids[1], ids[2]])

    # Ending one session closes its students and leaves the other one as it was.
    other_student = await collab.join(second["room"])
    await other_student.wait_synced()
    ended = await api.cls("DELETE", second["id"])
    assert ended["ended"] is True
    await eventually(lambda: other_student.close_code == 4404, timeout=5, what="the ended session's student closed")
    assert (await api.cls("GET", "join", first["code"]))["id"] == first["id"]
    code, _, _ = await api.call("GET", "api", "rtc", "classrooms", "join", second["code"])
    assert code == 404
    text += "!"
    await student.wait_for(lambda: projected(student)[-1]["source"].endswith("live!"))


async def test_students_cannot_write_the_room_or_reach_the_teachers_notebook(api, collab, jp_root_dir, jp_serverapp):
    path, ids = await lesson(api, jp_root_dir, "ro.ipynb", ["shared = True"], [0])
    session = await api.cls("POST", body={"path": path}, status=201)
    student = await collab.join(session["room"])
    await student.wait_synced()
    cells = student.doc.get("cells", type=Array)
    await student.wait_for(lambda: len(cells) == 1)
    metrics = jp_serverapp.web_app.settings["rtc_relay"].metrics
    dropped = metrics.updates_dropped_readonly
    text = cells[0]["source"]
    text += " # student's edit"
    cells.append(Map({"id": "injected", "source": Text("import os")}))
    await eventually(lambda: metrics.updates_dropped_readonly >= dropped + 2, what="both writes dropped")
    observer = await collab.join(session["room"])
    await observer.wait_synced()
    assert [c["source"] for c in projected(observer)] == ["shared = True"]
    assert (await api.ok("GET", path, "cells"))["cells"][0]["source"] == "shared = True"
    assert disk_sources(jp_root_dir, path) == ["shared = True"]


async def test_pulling_adds_or_replaces_only_when_asked_and_marks_what_changed(api, collab, jp_root_dir):
    path, ids = await lesson(api, jp_root_dir, "teach.ipynb", ["def f():\n    return 1", "print(f())"], [0, 1])
    session = await api.cls("POST", body={"path": path, "outputs": True}, status=201)
    code = session["code"]
    mine = write_notebook(jp_root_dir, "mine.ipynb", ["# my own work"])

    status = await api.cls("GET", "join", code, "cells", path=mine)
    assert [(c["id"], c["changed"], c["pulled_hash"]) for c in status["cells"]] == [
        (ids[0], False, None),
        (ids[1], False, None),
    ]
    pulled = await api.cls("POST", "join", code, "pull", body={"cell_id": ids[0], "path": mine})
    assert pulled["cell"]["source"] == "def f():\n    return 1" and pulled["cell"]["index"] == 1
    assert pulled["cell"]["metadata"]["jupyter-rtc"]["cell_id"] == ids[0]

    # The student edits their copy; the teacher changes theirs: marked changed, with a diff; nothing overwritten.
    await api.ok("PATCH", mine, "cells", pulled["cell"]["id"], body={"source": "def f():\n    return 10  # mine"})
    await api.ok("PATCH", path, "cells", ids[0], body={"source": "def f():\n    return 2"})
    status = await until(
        lambda: api.cls("GET", "join", code, "cells", path=mine),
        lambda answer: answer["cells"][0]["source"] == "def f():\n    return 2",  # the projection follows next turn
        what="the projection",
    )
    first = status["cells"][0]
    assert first["changed"] is True and "-    return 10  # mine" in first["diff"] and "+    return 2" in first["diff"]
    assert (await api.ok("GET", mine, "cells"))["cells"][1]["source"] == "def f():\n    return 10  # mine"

    again = await api.cls("POST", "join", code, "pull", body={"cell_id": ids[0], "path": mine})
    assert again["cell"]["index"] == 2 and again["cell"]["id"] != pulled["cell"]["id"]
    replaced = await api.cls("POST", "join", code, "pull", body={"cell_id": ids[0], "path": mine, "replace": True})
    assert replaced["cell"]["id"] == again["cell"]["id"] and replaced["cell"]["source"] == "def f():\n    return 2"
    sources = [c["source"] for c in (await api.ok("GET", mine, "cells"))["cells"]]
    assert sources == ["# my own work", "def f():\n    return 10  # mine", "def f():\n    return 2"]
    status = await api.cls("GET", "join", code, "cells", path=mine)
    assert status["cells"][0]["changed"] is False

    # The teacher sees who has the latest of what; outputs reach the room when the session shares them.
    klass = await api.cls("GET", session["id"], "class")  # (a token's requests are anonymous users: one per pull)
    assert [ids[0]] in [s["up_to_date"] for s in klass["students"]]
    code_, record, _ = await api.nb("POST", path, "execute", body={})
    assert (await api.finished(record["id"], timeout=60))["status"] == "ok"
    student = await collab.join(session["room"])
    await student.wait_synced()
    await student.wait_for(lambda: stream_text(projected(student)[1].get("outputs") or []) == "2\n")

    for body, expected in (
        ({"cell_id": "nope", "path": mine}, 404),
        ({"cell_id": ids[1], "path": mine, "replace": True}, 400),  # nothing pulled from it to replace
        ({"cell_id": ids[0], "path": path}, 400),  # never into the teacher's notebook
        ({"path": mine}, 400),
    ):
        status_code, error, _ = await api.call("POST", "api", "rtc", "classrooms", "join", code, "pull", body=body)
        assert status_code == expected, (body, error)
    code_, error, _ = await api.call("POST", "api", "rtc", "classrooms", body={"path": "missing.ipynb"})
    assert code_ == 404
