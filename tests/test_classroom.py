"""Classroom sessions on a real Jupyter server: a teacher shares chosen cells, real pycrdt clients (the
teacher in their notebook, students in the read-only classroom room) see the projection live, and
students pull cells into their own notebooks, never overwritten unless they ask."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_ydoc import YNotebook
from pycrdt import Array, Map, Text

from execution_helpers import stream_text
from helpers import eventually
from jupyter_helpers import disk_sources, server_config, write_notebook
from test_notebook_api import Notebooks, until

from supernode.classrooms import ALPHABET

SHARED = {"jupyter-rtc": {"shared": True}}
SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "schema" / "classroom.json").read_text())


def conforms(value, definition: str) -> bool:
    """Whether ``value`` is a valid ``definition`` of schema/classroom.json (raises saying why if not)."""
    jsonschema.Draft202012Validator({**SCHEMA, "$ref": f"#/$defs/{definition}"}).validate(value)
    return True


class ReaderHeaderAuthorizer(Authorizer):
    """Grants everything, but only reading to a request with the header ``X-Test-Reader`` (a read-only share)."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return action == "read" or "X-Test-Reader" not in handler.request.headers


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(save_max_wait=1.0, journal_path=str(tmp_path / "journal.sqlite"))
    config["ServerApp"]["authorizer_class"] = ReaderHeaderAuthorizer
    return config


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
    assert first["changed"] is True and "\n-    return 10  # mine\n+    return 2" in first["diff"]  # one line each
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


def follow_of(client) -> dict | None:
    value = client.doc.get("meta", type=Map).get("follow")
    return {k: v for k, v in value.items() if k != "at"} if isinstance(value, dict) else None


def teacher_state(session_id: str, cell: str | None, top: str | None, name: str = "Ada Lovelace") -> dict:
    user = {"username": "ada", "name": name, "display_name": name, "initials": "AL", "color": "#f00"}
    return {"user": user, "classroom": {"session": session_id, "cell": cell, "top": top}}


async def test_students_follow_the_teachers_position_mapped_to_shared_cells(api, collab, jp_root_dir):
    path, ids = await lesson(api, jp_root_dir, "follow.ipynb", ["a = 1", "b = 2", "hidden = 3", "d = 4"], [0, 1, 3])
    other, other_ids = await lesson(api, jp_root_dir, "other.ipynb", ["x = 1", "y = 2"], [0, 1])
    session = await api.cls("POST", body={"path": path}, status=201)
    second = await api.cls("POST", body={"path": other}, status=201)
    student = await collab.join(session["room"])
    await student.wait_synced()
    meta = student.doc.get("meta", type=Map)
    await student.wait_for(lambda: meta.get("session") is not None)
    assert meta.get("session") == {
        "id": session["id"],
        "code": session["code"],
        "teacher": session["teacher"],
        "outputs": False,
    }
    assert follow_of(student) is None  # the teacher has not said where they are yet

    # The teacher's UI publishes its position in the notebook room's awareness; an unshared cell maps up.
    teacher, _ = await collab.open(path)
    teacher.awareness.set_local_state(teacher_state(session["id"], ids[2], ids[0]))
    await student.wait_for(lambda: follow_of(student) == {"cell": ids[1], "top": ids[0], "teacher": "Ada Lovelace"})
    at = meta.get("follow")["at"]
    assert isinstance(at, float) and at > 0
    assert conforms(meta.to_py(), "projection_meta")
    assert conforms(teacher_state(session["id"], ids[2], ids[0])["classroom"], "teacher_position")
    teacher.awareness.set_local_state(teacher_state(session["id"], ids[3], ids[1]))
    await student.wait_for(lambda: follow_of(student) == {"cell": ids[3], "top": ids[1], "teacher": "Ada Lovelace"})

    # Unsharing a cell maps the position to the shared cell above it; above every shared cell: null.
    await api.ok("PATCH", path, "cells", ids[1], body={"metadata": {"jupyter-rtc": None}})
    await student.wait_for(lambda: follow_of(student) == {"cell": ids[3], "top": ids[0], "teacher": "Ada Lovelace"})
    await api.ok("PATCH", path, "cells", ids[0], body={"metadata": {"jupyter-rtc": None}})
    await student.wait_for(lambda: follow_of(student) == {"cell": ids[3], "top": None, "teacher": "Ada Lovelace"})

    # Two sessions on two notebooks never mix: each follows its own notebook's teacher and session id.
    other_student = await collab.join(second["room"])
    await other_student.wait_synced()
    other_teacher, _ = await collab.open(other)
    other_teacher.awareness.set_local_state(teacher_state(second["id"], other_ids[1], other_ids[0], "Grace Hopper"))
    await other_student.wait_for(
        lambda: follow_of(other_student) == {"cell": other_ids[1], "top": other_ids[0], "teacher": "Grace Hopper"}
    )
    teacher.awareness.set_local_state(teacher_state(second["id"], ids[0], ids[0]))  # not this notebook's session
    other_teacher.awareness.set_local_state(teacher_state(session["id"], other_ids[0], None))  # nor this one's
    teacher.awareness.set_local_state(teacher_state(session["id"], ids[2], ids[2]))
    await student.wait_for(lambda: follow_of(student) == {"cell": None, "top": None, "teacher": "Ada Lovelace"})
    assert follow_of(other_student) == {"cell": other_ids[1], "top": other_ids[0], "teacher": "Grace Hopper"}

    # The teacher leaves: students stay where they were.
    teacher.awareness.set_local_state(teacher_state(session["id"], ids[3], ids[3]))
    await student.wait_for(lambda: follow_of(student) == {"cell": ids[3], "top": ids[3], "teacher": "Ada Lovelace"})
    watcher, _ = await collab.open(path)
    gone = teacher.awareness.client_id
    await watcher.wait_for(lambda: gone in watcher.awareness.states)
    await teacher.close()
    await watcher.wait_for(lambda: gone not in watcher.awareness.states)
    await api.ok("PATCH", path, "cells", ids[0], body={"metadata": SHARED})  # a change the projection must make
    await student.wait_for(lambda: [c["id"] for c in projected(student)] == [ids[0], ids[3]])
    assert follow_of(student) == {"cell": ids[3], "top": ids[3], "teacher": "Ada Lovelace"}


async def test_the_teacher_sees_who_joined_follows_and_pulled(api, collab, jp_root_dir):
    path, ids = await lesson(api, jp_root_dir, "class.ipynb", ["a = 1", "b = 2"], [0, 1])
    session = await api.cls("POST", body={"path": path}, status=201)
    assert (await api.cls("GET", session["id"], "class"))["students"] == []

    def student_state(username: str, following: bool) -> dict:
        user = {"username": username, "name": username, "display_name": username.title(), "initials": "S"}
        return {"user": user, "classroom": {"following": following}}

    # Students' presence passes through the read-only room: each sees the other.
    ann = await collab.join(session["room"])
    bob = await collab.join(session["room"])
    await ann.wait_synced()
    await bob.wait_synced()
    ann.awareness.set_local_state(student_state("ann", True))
    bob.awareness.set_local_state(student_state("bob", False))
    await ann.wait_for(lambda: bob.awareness.client_id in ann.awareness.states)
    await bob.wait_for(lambda: ann.awareness.states.get(ann.awareness.client_id, {}).get("classroom") is not None)
    await bob.wait_for(lambda: ann.awareness.client_id in bob.awareness.states)
    assert ann.access == "read" and bob.access == "read"

    assert conforms(student_state("ann", True), "student_presence")
    klass = await api.cls("GET", session["id"], "class")
    assert conforms(klass, "class")
    assert klass["students"] == [
        {"user": "ann", "name": "Ann", "joined": True, "following": True, "pulled": {}, "up_to_date": []},
        {"user": "bob", "name": "Bob", "joined": True, "following": False, "pulled": {}, "up_to_date": []},
    ]

    # Bob breaks away then follows again; Ann leaves: still listed (she pulled), not joined.
    bob.awareness.set_local_state(student_state("bob", True))
    mine = write_notebook(jp_root_dir, "ann.ipynb", ["# ann's"])
    pulled = await api.cls("POST", "join", session["code"], "pull", body={"cell_id": ids[0], "path": mine})
    await ann.close()
    await bob.wait_for(lambda: ann.awareness.client_id not in bob.awareness.states)

    async def listed() -> dict:
        return {s["user"]: s for s in (await api.cls("GET", session["id"], "class"))["students"]}

    students = await until(listed, lambda s: s.get("bob", {}).get("following") is True, what="bob following")
    assert "ann" not in students  # (a token's requests are anonymous users: the pull is another user's)
    (puller,) = [s for s in students.values() if s["pulled"]]
    hash_pulled = pulled["cell"]["metadata"]["jupyter-rtc"]["pulled_hash"]
    assert puller["joined"] is False and puller["following"] is None and puller["name"] == puller["user"]
    assert puller["pulled"] == {ids[0]: hash_pulled} and puller["up_to_date"] == [ids[0]]
    await api.ok("PATCH", path, "cells", ids[0], body={"source": "a = 10"})
    await until(listed, lambda s: s[puller["user"]]["up_to_date"] == [], what="the pull outdated")


async def test_a_reader_of_the_teachers_notebook_cannot_lead_the_class(api, collab, jp_root_dir, jp_auth_header):
    path, ids = await lesson(api, jp_root_dir, "lead.ipynb", ["a = 1", "b = 2"], [0, 1])
    session = await api.cls("POST", body={"path": path}, status=201)
    student = await collab.join(session["room"])
    await student.wait_synced()
    teacher, collaboration = await collab.open(path)
    teacher.awareness.set_local_state(teacher_state(session["id"], ids[1], ids[1]))
    await student.wait_for(lambda: follow_of(student) == {"cell": ids[1], "top": ids[1], "teacher": "Ada Lovelace"})

    # Someone who may only read the teacher's notebook (a student with a read-only share) claims the lead.
    reader = await collab.join(collaboration.room, collaboration.session_id, {**jp_auth_header, "X-Test-Reader": "1"})
    await reader.wait_synced()
    assert reader.access == "read"
    reader.awareness.set_local_state(teacher_state(session["id"], ids[0], ids[0], "Mallory"))
    await teacher.wait_for(lambda: reader.awareness.client_id in teacher.awareness.states)
    teacher.awareness.set_local_state({**teacher_state(session["id"], ids[1], ids[1]), "cursor": 1})  # a change
    await api.ok("PATCH", path, "cells", ids[0], body={"source": "a = 10"})  # then one students see after it
    await student.wait_for(lambda: projected(student)[0]["source"] == "a = 10")
    assert follow_of(student) == {"cell": ids[1], "top": ids[1], "teacher": "Ada Lovelace"}
