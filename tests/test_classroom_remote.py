"""Classrooms across two real Jupyter servers: the teacher's (a server subprocess) and the student's
(pytest-jupyter's, in this process). The student's server mirrors the teacher's session with nothing but
the teacher's URL and the join code; a pycrdt client on the student's server sees the teacher's edits live,
pulls write into the student's notebook there, the mirror moves to a new ticket before the old one expires,
and it ends when the teacher ends the session or the teacher's server is gone for good. The teacher's token
appears in nothing the student's server answers."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from pycrdt import Array, Map

from browser.lab import JupyterLabServer
from helpers import eventually
from jupyter_helpers import server_config, write_notebook
from rtc_client import RoomClient
from supernode.classroom_remote import base_url
from supernode.errors import ApiError
from test_classroom import Classes

SHARED = {"jupyter-rtc": {"shared": True}}
TICKET_LIFETIME = 4.0  # seconds, on the teacher's server: the mirror renews within the test
GIVE_UP = 3.0  # seconds the student's server keeps trying to reach a teacher's server that is gone

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(
        journal_path=str(tmp_path / "journal.sqlite"), classroom_remote_timeout=5.0, classroom_remote_give_up=GIVE_UP
    )


class Recorded(Classes):
    """The student's server's REST API, keeping every answer (to look for the teacher's token in them)."""

    def __init__(self, fetch) -> None:
        super().__init__(fetch)
        self.answers: list[str] = []

    async def call(self, method: str, *parts: str, body: dict | None = None, **params: str):
        code, answer, location = await super().call(method, *parts, body=body, **params)
        self.answers.append(json.dumps(answer))
        return code, answer, location

    async def remote(self, body: dict) -> tuple[int, dict]:
        code, answer, _ = await self.call("POST", "api", "rtc", "classrooms", "remote", body=body)
        return code, answer


@pytest.fixture
def api(jp_fetch) -> Recorded:
    return Recorded(jp_fetch)


@pytest.fixture
def teacher(tmp_path, jp_asyncio_loop):
    server = JupyterLabServer(
        tmp_path / "teacher",
        app="server",
        extra_args=[
            "--SupernodeExtension.classroom_remote_join=True",
            f"--SupernodeExtension.classroom_ticket_lifetime={TICKET_LIFETIME}",
        ],
    )
    jp_asyncio_loop.run_until_complete(server.start())
    yield server
    jp_asyncio_loop.run_until_complete(server.stop())


async def teach(teacher: JupyterLabServer, sources: list[str], shared: list[int]) -> tuple[dict, list[str]]:
    """A session on the teacher's server over a notebook of ``sources``, cells ``shared`` shared."""
    write_notebook(teacher.root, "lesson.ipynb", sources)
    status, listed = await teacher.request("GET", "/api/rtc/notebooks/lesson.ipynb/cells")
    assert status == 200, listed
    ids = [cell["id"] for cell in listed["cells"]]
    for index in shared:
        status, _ = await teacher.request(
            "PATCH", f"/api/rtc/notebooks/lesson.ipynb/cells/{ids[index]}", {"metadata": SHARED}
        )
        assert status == 200
    status, session = await teacher.request("POST", "/api/rtc/classrooms", {"path": "lesson.ipynb"})
    assert status == 201, session
    return session, ids


def present(client: RoomClient) -> list[str]:
    return sorted(state["user"]["username"] for state in client.awareness.states.values() if "user" in state)


def projected(client) -> list[tuple[str, str]]:
    return [(c["id"], str(c["source"])) for c in client.doc.get("cells", type=Array) if isinstance(c, Map)]


async def test_a_students_server_mirrors_the_teachers_session_live_until_the_teacher_ends_it(
    teacher, api, collab, jp_root_dir, jp_serverapp
):
    session, ids = await teach(teacher, ["a = 1", "secret = 42", "b = a + 1"], [0, 2])
    mine = write_notebook(jp_root_dir, "mine.ipynb", ["# my notes"])

    # The student pastes the teacher's link, token and all, and the code as they heard it.
    link = teacher.lab_url("lesson.ipynb")
    assert teacher.token in link
    typed = session["code"][:4].lower() + " " + session["code"][4:]
    status, mirror = await api.remote({"url": link, "code": typed})
    assert status == 201, mirror
    assert (mirror["id"], mirror["code"], mirror["room"]) == (session["id"], session["code"], session["room"])
    assert mirror["url"] == teacher.url + "/" and mirror["state"] == "connected"
    assert mirror["shared"] == [ids[0], ids[2]]
    status, again = await api.remote({"url": teacher.url, "code": session["code"]})  # a second student
    assert status == 200 and again["id"] == mirror["id"]

    # Students of the student's server use the mirror as a session of their own server.
    student = await collab.join(mirror["room"])
    await student.wait_synced()
    assert projected(student) == [(ids[0], "a = 1"), (ids[2], "b = a + 1")]
    meta = student.doc.get("meta", type=Map)
    assert meta["code"] == session["code"] and meta["path"] == "lesson.ipynb"
    assert (await api.cls("GET", "join", session["code"]))["id"] == session["id"]

    # The teacher sees the student of the other server in the classroom room's presence, while they are there.
    watcher = RoomClient(
        f"ws://{teacher.url.split('://')[1]}/api/collaboration/room/{session['room']}",
        headers={"Authorization": f"token {teacher.token}"},
    )
    await watcher.__aenter__()
    try:
        await watcher.wait_synced()
        me = {"username": "stu", "name": "Stu Dent", "display_name": "Stu Dent", "initials": "SD", "color": "#f00"}
        student.awareness.set_local_state({"user": me, "classroom": {"following": True}})
        await watcher.wait_for(lambda: present(watcher) == ["stu"])
        student.awareness.set_local_state(None)
        await watcher.wait_for(lambda: present(watcher) == [])
    finally:
        await watcher.close()

    status, _ = await teacher.request(
        "PATCH", f"/api/rtc/notebooks/lesson.ipynb/cells/{ids[2]}", {"source": "b = a * 2"}
    )
    assert status == 200
    await student.wait_for(lambda: projected(student)[1] == (ids[2], "b = a * 2"))

    # A pull writes the teacher's cell into the student's notebook on the student's server.
    pulled = await api.cls("POST", "join", session["code"], "pull", body={"cell_id": ids[2], "path": mine})
    assert pulled["cell"]["source"] == "b = a * 2"
    listed = await api.ok("GET", mine, "cells")
    assert [c["source"] for c in listed["cells"]] == ["# my notes", "b = a * 2"]
    await teacher.request("PATCH", f"/api/rtc/notebooks/lesson.ipynb/cells/{ids[2]}", {"source": "b = a * 3"})
    await student.wait_for(lambda: projected(student)[1] == (ids[2], "b = a * 3"))
    cells = (await api.cls("GET", "join", session["code"], "cells", path=mine))["cells"]
    changed = {c["id"]: c for c in cells}[ids[2]]
    assert changed["changed"] is True and "+b = a * 3" in changed["diff"]

    # The mirror moves to a new ticket before its ticket expires; the edits keep coming.
    started = time.monotonic()
    while (await api.cls("GET", "remote"))["mirrors"][0]["renewals"] < 2:
        assert time.monotonic() - started < 4 * TICKET_LIFETIME, "the mirror did not renew its ticket"
        await asyncio.sleep(0.2)
    await teacher.request("PATCH", f"/api/rtc/notebooks/lesson.ipynb/cells/{ids[0]}", {"source": "a = 5"})
    await student.wait_for(lambda: projected(student)[0] == (ids[0], "a = 5"))
    state = (await api.cls("GET", "remote"))["mirrors"][0]
    assert state["state"] == "connected" and state["reconnects"] == 0

    # A mirror is not handed on: the student's server gives no ticket for another server's session.
    student_app = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    student_app.classroom_remote_join = True
    code, error, _ = await api.call("POST", "api", "rtc", "classrooms", "tickets", body={"code": session["code"]})
    assert code == 404, error
    student_app.classroom_remote_join = False

    # Nothing the student's server told anyone carries the teacher's credential.
    assert all(teacher.token not in answer for answer in api.answers)
    assert teacher.token.encode() not in student.doc.get_update()

    # The teacher ends the session: the mirror ends, its students are told (4404).
    status, _ = await teacher.request("DELETE", f"/api/rtc/classrooms/{session['id']}")
    assert status == 200
    await asyncio.wait_for(student.closed.wait(), 10)
    assert student.close_code == 4404
    assert (await api.cls("GET", "remote"))["mirrors"] == []
    await api.cls("GET", "join", session["code"], status=404)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_mirror_says_what_went_wrong_and_gives_up_on_a_teachers_server_gone(
    teacher, api, collab, jp_http_port, jp_base_url
):
    session, _ = await teach(teacher, ["a = 1"], [0])

    # Nobody listens there: 502 within the server's timeout (5 s here).
    started = time.monotonic()
    status, error = await api.remote({"url": f"http://127.0.0.1:{closed_port()}/", "code": session["code"]})
    assert status == 502 and error["error"] == "remote_unreachable", error
    assert time.monotonic() - started < 10
    # Something listens there and never answers: 502 after the timeout, not later.
    held = []
    silent = await asyncio.start_server(lambda reader, writer: held.append(writer), "127.0.0.1", 0)
    try:
        port = silent.sockets[0].getsockname()[1]
        started = time.monotonic()
        status, error = await api.remote({"url": f"http://127.0.0.1:{port}/", "code": session["code"]})
        assert status == 502 and "did not answer" in error["message"], error
        assert 4 < time.monotonic() - started < 12
    finally:
        for writer in held:
            writer.close()
        silent.close()
        await silent.wait_closed()
    # A wrong code: 404; a URL that is none: 400.
    status, error = await api.remote({"url": teacher.url, "code": "AAAAAAAA"})
    assert status == 404 and teacher.url in error["message"]
    status, error = await api.remote({"url": "file:///etc/passwd", "code": session["code"]})
    assert status == 400
    # A server that does not admit students of other servers (the student's own, by default): 403.
    status, error = await api.remote({"url": f"http://127.0.0.1:{jp_http_port}{jp_base_url}", "code": session["code"]})
    assert status == 403 and "other servers" in error["message"], error

    status, mirror = await api.remote({"url": teacher.url, "code": session["code"]})
    assert status == 201
    student = await collab.join(mirror["room"])
    await student.wait_synced()
    assert [source for _, source in projected(student)] == ["a = 1"]

    # The teacher's server goes away: the mirror tries again for a while, then ends and tells its students.
    await teacher.kill()
    states = []

    async def state() -> str:
        mirrors = (await api.cls("GET", "remote"))["mirrors"]
        states.append(mirrors[0]["state"] if mirrors else "gone")
        return states[-1]

    while await state() == "connected":
        await asyncio.sleep(0.05)
    assert states[-1] == "reconnecting", states
    await eventually(lambda: student.closed.is_set(), timeout=GIVE_UP + 30, what="the mirror to give up")
    assert student.close_code == 4404
    assert (await api.cls("GET", "remote"))["mirrors"] == []

    # Ending a mirror here: DELETE (404 once it is gone).
    await api.cls("DELETE", "remote", mirror["id"], status=404)


def test_the_teachers_url_is_reduced_to_the_base_url_of_their_server():
    assert base_url(" https://host:8443/lab/tree/a/b.ipynb?token=secret#frag ") == "https://host:8443/"
    assert base_url("http://user:pw@[::1]:8888/notebooks/x.ipynb") == "http://[::1]:8888/"
    # on a JupyterHub: the teacher's server through the proxy, also when given as the hub's route to it
    assert base_url("https://hub.example/user/alice") == "https://hub.example/user/alice/"
    assert base_url("https://hub.example/user/alice/lab/tree/lesson.ipynb") == "https://hub.example/user/alice/"
    assert base_url("https://hub.example/jh/hub/user/alice/lab?x=1") == "https://hub.example/jh/user/alice/"
    assert base_url("https://hub.example/user/alice/named/lab") == "https://hub.example/user/alice/named/"
    for bad in ("https://hub.example/hub/user-redirect/lab/tree/x.ipynb", "file:///etc/passwd", "http://", "", 7):
        with pytest.raises(ApiError) as refused:
            base_url(bad)
        assert refused.value.code == "bad_request", bad
