"""A classroom across servers under a real JupyterHub: the teacher (alice) and a student (bob) each have their
own single-user server with our extensions; alice's admits students of other servers. Everything goes
through the hub's proxy, as a browser's requests do.

alice starts a session on her notebook; bob's server mirrors it with the URL of alice's server on the hub
and the join code; bob's pycrdt client, in his own server's classroom room, sees alice's edits live, pulls
a cell into his notebook, and shows in alice's view of the class; alice ends the session and bob's mirror
ends with it (4404). bob's credentials never reach alice's server (it records the headers of every request
it serves), the mirror's ticket never leaves alice's server for the hub, and the classroom endpoints of
alice's server other than the ticket's refuse a caller with no login.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse

import pytest
from pycrdt import Array, Map
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from browser.lab import rest_call, wait_until
from hub_helpers import running_hub
from jupyter_helpers import write_notebook
from rtc_client import RoomClient

SHARED = {"jupyter-rtc": {"shared": True}}

pytestmark = pytest.mark.timeout(240)

# A configuration file of alice's server: every request it serves is logged as usual, and its method, path,
# status and headers appended to a file, so the test sees what reached her server.
_RECORDER = """\
import json
from jupyterhub.log import log_request

c = get_config()  # noqa


def _record(handler):
    log_request(handler)
    request = handler.request
    entry = {{
        "method": request.method,
        "path": request.path,
        "status": handler.get_status(),
        "headers": [[name, value] for name, value in request.headers.get_all()],
    }}
    with open({log!r}, "a") as log:
        log.write(json.dumps(entry) + "\\n")


c.ServerApp.tornado_settings = {{"log_function": _record}}
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """alice's server (admits remote students, records its requests) and bob's, each his or her own."""
    base = tmp_path_factory.mktemp("classroom-hub")
    requests_log = base / "alice-requests.jsonl"
    recorder = base / "alice_recorder.py"
    recorder.write_text(_RECORDER.format(log=str(requests_log)))
    alice_args = ["--SupernodeExtension.classroom_remote_join=True", f"--config={recorder}"]
    with running_hub(base / "hub", "alice", user_args={"alice": alice_args}) as (server, users):
        loop = asyncio.new_event_loop()
        try:
            users["bob"] = loop.run_until_complete(server.login("bob"))
            loop.run_until_complete(users["bob"].start_server())
        finally:
            loop.close()
        yield server, users, requests_log


def ws_url(http_url: str) -> str:
    return "ws" + http_url[len("http") :]


def projected(client: RoomClient) -> list[tuple[str, str]]:
    return [(c["id"], str(c["source"])) for c in client.doc.get("cells", type=Array) if isinstance(c, Map)]


def present(client: RoomClient) -> list[str]:
    return sorted(s["user"]["username"] for s in client.awareness.states.values() if "user" in s)


async def anonymous(method: str, url: str, body: dict | None = None) -> int:
    """The status of a request with no credential at all (no token, no cookie), redirects not followed."""
    request = HTTPRequest(
        url,
        method=method,
        body=None if body is None else json.dumps(body),
        headers={"Content-Type": "application/json"},
        follow_redirects=False,
        allow_nonstandard_methods=True,
        request_timeout=30,
    )
    response = await AsyncHTTPClient().fetch(request, raise_error=False)
    return response.code


async def test_a_student_on_the_hub_mirrors_the_teachers_session_through_the_proxy(hub):
    server, users, requests_log = hub
    alice, bob = users["alice"], users["bob"]
    teacher_url, student_url = server.server_url("alice"), server.server_url("bob")
    home = server.base_dir / "users"

    # alice's lesson: cells 0 and 2 shared, a session on it (REST through the proxy, her token).
    write_notebook(home / "alice", "lesson.ipynb", ["a = 1", "secret = 42", "b = a + 1"])
    status, listed = await rest_call(teacher_url + "api/rtc/notebooks/lesson.ipynb/cells", alice.token)
    assert status == 200, listed
    ids = [cell["id"] for cell in listed["cells"]]
    for index in (0, 2):
        status, _ = await rest_call(
            teacher_url + f"api/rtc/notebooks/lesson.ipynb/cells/{ids[index]}",
            alice.token,
            "PATCH",
            {"metadata": SHARED},
        )
        assert status == 200
    status, session = await rest_call(teacher_url + "api/rtc/classrooms", alice.token, "POST", {"path": "lesson.ipynb"})
    assert status == 201, session

    # Nobody without a login reaches alice's classrooms through the proxy, except for a ticket.
    for method, path, body in (
        ("GET", "api/rtc/classrooms", None),
        ("POST", "api/rtc/classrooms", {"path": "lesson.ipynb"}),
        ("GET", f"api/rtc/classrooms/{session['id']}/class", None),
        ("GET", f"api/rtc/classrooms/join/{session['code']}", None),
        ("GET", f"api/rtc/classrooms/join/{session['code']}/cells", None),
        ("POST", f"api/rtc/classrooms/join/{session['code']}/pull", {"cell_id": ids[0], "path": "x.ipynb"}),
        ("DELETE", f"api/rtc/classrooms/{session['id']}", None),
        ("GET", "api/rtc/classrooms/remote", None),
    ):
        assert await anonymous(method, teacher_url + path, body) == 403, (method, path)

    # bob's server mirrors it: alice's server URL on the hub (as her browser shows it) and the code.
    mine = write_notebook(home / "bob", "mine.ipynb", ["# my notes"])
    link = teacher_url + "lab/tree/lesson.ipynb"
    status, mirror = await rest_call(
        student_url + "api/rtc/classrooms/remote", bob.token, "POST", {"url": link, "code": session["code"].lower()}
    )
    assert status == 201, mirror
    assert (mirror["id"], mirror["code"], mirror["room"]) == (session["id"], session["code"], session["room"])
    assert mirror["url"] == teacher_url and mirror["state"] == "connected"

    # bob's client, in his own server's classroom room, with his own credentials.
    status, me = await rest_call(student_url + "api/me", bob.token)
    assert status == 200 and me["identity"]["username"] == "bob"
    student = RoomClient(
        ws_url(student_url) + f"api/collaboration/room/{mirror['room']}",
        headers={"Authorization": f"token {bob.token}"},
    )
    watcher = RoomClient(
        ws_url(teacher_url) + f"api/collaboration/room/{session['room']}",
        headers={"Authorization": f"token {alice.token}"},
    )
    await student.__aenter__()
    try:
        await student.wait_synced(30)
        assert projected(student) == [(ids[0], "a = 1"), (ids[2], "b = a + 1")]

        # alice's class list (it reads the presence in her classroom room) shows bob, present through his
        # server's mirror.
        await watcher.__aenter__()
        await watcher.wait_synced(30)
        student.awareness.set_local_state({"user": me["identity"], "classroom": {"following": True}})
        await watcher.wait_for(lambda: present(watcher) == ["bob"], 30)

        # alice edits; bob sees it live.
        status, _ = await rest_call(
            teacher_url + f"api/rtc/notebooks/lesson.ipynb/cells/{ids[2]}",
            alice.token,
            "PATCH",
            {"source": "b = a * 2"},
        )
        assert status == 200
        await student.wait_for(lambda: projected(student)[1] == (ids[2], "b = a * 2"), 30)

        # bob pulls the cell into his own notebook, on his own server.
        code = urllib.parse.quote(session["code"])
        status, pulled = await rest_call(
            student_url + f"api/rtc/classrooms/join/{code}/pull", bob.token, "POST", {"cell_id": ids[2], "path": mine}
        )
        assert status == 200 and pulled["cell"]["source"] == "b = a * 2", pulled
        status, cells = await rest_call(student_url + f"api/rtc/notebooks/{mine}/cells", bob.token)
        assert [c["source"] for c in cells["cells"]] == ["# my notes", "b = a * 2"]

        # alice ends the session: bob's mirror ends, and his client is told (4404).
        status, _ = await rest_call(teacher_url + f"api/rtc/classrooms/{session['id']}", alice.token, "DELETE")
        assert status == 200
        await asyncio.wait_for(student.closed.wait(), 30)
        assert student.close_code == 4404
        status, mirrors = await rest_call(student_url + "api/rtc/classrooms/remote", bob.token)
        assert status == 200 and mirrors["mirrors"] == []
    finally:
        await watcher.close()
        await student.close()

    # What reached alice's server: the mirror's ticket requests and room sockets, with no credential of
    # bob's (nor any of a hub user's) in any request.
    served = [json.loads(line) for line in requests_log.read_text().splitlines()]
    from_mirror = [
        r for r in served if "/api/rtc/classrooms/tickets" in r["path"] or "/classrooms/socket/" in r["path"]
    ]
    assert {r["method"] for r in from_mirror} == {"POST", "GET"}, from_mirror
    assert all(r["status"] in (101, 200) for r in from_mirror), from_mirror
    for request in from_mirror:
        headers = {name.lower(): value for name, value in request["headers"]}
        assert "cookie" not in headers, request
        if request["method"] == "POST":
            assert "authorization" not in headers, request
        else:  # the ticket, in the scheme alice's hub login does not read
            assert headers["authorization"].startswith("Ticket rtc1."), request
    assert all(bob.token not in json.dumps(r) for r in served)
    # ... so her server never asked the hub who the mirror was: the ticket stayed on her server.
    assert " 403 GET /hub/api/user " not in server.log_path.read_text()


async def test_the_url_of_a_teachers_server_on_the_hub_as_students_may_give_it(hub):
    """The hub's own route to alice's server is her server; a user-redirect link, or the URL of a server that
    is not running, gets a clear answer."""
    server, users, _ = hub
    alice, bob = users["alice"], users["bob"]
    if "dave" not in users:
        users["dave"] = await server.login("dave")  # a hub user whose server is not running
    teacher_url, student_url = server.server_url("alice"), server.server_url("bob")
    write_notebook(server.base_dir / "users" / "alice", "links.ipynb", ["a = 1"])
    status, session = await rest_call(teacher_url + "api/rtc/classrooms", alice.token, "POST", {"path": "links.ipynb"})
    assert status == 201, session

    async def mirror(url: str) -> tuple[int, dict]:
        return await rest_call(
            student_url + "api/rtc/classrooms/remote", bob.token, "POST", {"url": url, "code": session["code"]}
        )

    status, error = await mirror(server.url + "/hub/user-redirect/lab/tree/links.ipynb")
    assert status == 400 and "user-redirect" in error["message"], error
    status, error = await mirror(server.server_url("dave") + "lab")
    assert status == 502 and error["error"] == "remote_unreachable", error
    assert "JupyterHub answered" in error["message"] and "running" in error["message"], error

    status, mirrored = await mirror(server.url + "/hub/user/alice/lab/tree/links.ipynb")
    assert status == 201, mirrored
    assert mirrored["url"] == teacher_url and mirrored["state"] == "connected"
    status, _ = await rest_call(teacher_url + f"api/rtc/classrooms/{session['id']}", alice.token, "DELETE")
    assert status == 200

    async def mirror_ended() -> bool:
        _, mirrors = await rest_call(student_url + "api/rtc/classrooms/remote", bob.token)
        return mirrors["mirrors"] == []

    await wait_until(mirror_ended, 30, "bob's mirror to end with alice's session")
