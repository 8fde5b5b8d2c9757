"""Classroom tickets on a real Jupyter server (the teacher's): the join code buys a read-only, expiring ticket
for one session's room, with no Jupyter login; a ticket opens that room and nothing else, for its lifetime;
wrong codes are limited per address; remote joining is off unless the server's owner turns it on."""

from __future__ import annotations

import json
import time

import pytest
from pycrdt import Array, Map
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from helpers import close_code_of, raw_ws
from jupyter_helpers import server_config
from rtc_client import RoomClient
from rtc_relay.tokens import mint
from test_classroom import Classes, lesson

LIFETIME = 3.0  # seconds a ticket lives on this server


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(
        journal_path=str(tmp_path / "journal.sqlite"),
        classroom_remote_join=True,
        classroom_ticket_lifetime=LIFETIME,
        classroom_ticket_failures_per_minute=3,
    )
    # The strictest setting: every handler not marked as public refuses a caller with no login.
    config["ServerApp"]["allow_unauthenticated_access"] = False
    return config


@pytest.fixture
def api(jp_fetch) -> Classes:
    return Classes(jp_fetch)


@pytest.fixture
def anonymous(jp_http_port, jp_base_url):
    """HTTP and websocket calls to the server with no Jupyter credential at all."""

    class Anonymous:
        http = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
        ws = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}"

        async def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict | None, dict]:
            request = HTTPRequest(
                self.http + path,
                method=method,
                body=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"},
                allow_nonstandard_methods=True,
            )
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
            try:
                answer = json.loads(response.body) if response.body else None
            except ValueError:
                answer = None
            return response.code, answer, dict(response.headers)

        async def ticket(self, code: str) -> dict:
            status, answer, _ = await self.call("POST", "api/rtc/classrooms/tickets", {"code": code})
            assert status == 200, (status, answer)
            return answer

        def socket(self, session_id: str, ticket: str | None) -> str:
            query = f"?ticket={ticket}" if ticket is not None else ""
            return f"{self.ws}api/rtc/classrooms/socket/{session_id}{query}"

    return Anonymous()


async def closed_with(url: str) -> tuple[int | None, str]:
    return await closed_with_headers(url, {})


async def closed_with_headers(url: str, headers: dict[str, str]) -> tuple[int | None, str]:
    ws = await raw_ws(url, additional_headers=headers or None)
    code = await close_code_of(ws)
    return code, ws.protocol.close_rcvd.reason if ws.protocol.close_rcvd else ""


def sources(client: RoomClient) -> list[str]:
    return [str(c["source"]) for c in client.doc.get("cells", type=Array) if isinstance(c, Map)]


async def test_a_ticket_reads_its_session_room_only_read_only_until_it_expires(api, anonymous, jp_root_dir, collab):
    path, ids = await lesson(api, jp_root_dir, "lesson.ipynb", ["a = 1", "secret = 42"], [0])
    other, _ = await lesson(api, jp_root_dir, "other.ipynb", ["b = 2"], [0])
    session = await api.cls("POST", body={"path": path}, status=201)
    second = await api.cls("POST", body={"path": other}, status=201)

    answer = await anonymous.ticket(session["code"][:4].lower() + "-" + session["code"][4:])  # typed loosely
    assert answer["room"] == f"classroom/{session['id']}" and answer["ticket"].startswith("rtc1.")
    assert answer["session"] == {
        "id": session["id"],
        "code": session["code"],
        "path": path,
        "teacher": session["teacher"],
        "outputs": False,
    }
    assert abs(answer["expires"] - (time.time() + LIFETIME)) < 1.5

    # The ticket opens the room with no Jupyter login, read-only: the student's edit never reaches anyone.
    student = RoomClient(anonymous.socket(session["id"], answer["ticket"]), keepalive=None)
    await student.__aenter__()
    try:
        await student.wait_synced()
        assert sources(student) == ["a = 1"]
        student.doc.get("cells", type=Array).append(Map({"id": "forged", "source": "import os"}))
        watcher = await collab.join(session["room"])
        await watcher.wait_synced()
        await api.ok("PATCH", path, "cells", ids[0], body={"source": "a = 10"})
        await student.wait_for(lambda: sources(student)[0] == "a = 10")
        await watcher.wait_for(lambda: sources(watcher) == ["a = 10"])
        assert sources(watcher) == ["a = 10"] and "import os" not in str(watcher.doc.get_update())
        # ... until the ticket expires: the connection is closed, and the ticket opens nothing more.
        await student.closed.wait()
        assert (student.close_code, student.close_reason) == (4401, "token expired")
    finally:
        await student.close()
    assert await closed_with(anonymous.socket(session["id"], answer["ticket"])) == (4401, "token expired")

    # A ticket opens its own session's room alone; forged, missing or garbled tickets open nothing.
    fresh = (await anonymous.ticket(session["code"]))["ticket"]
    assert await closed_with(anonymous.socket(second["id"], fresh)) == (4401, "token not for this room")
    forged = mint("another-secret-of-32-characters!", room=session["room"], access="write", expires_in=60)
    assert await closed_with(anonymous.socket(session["id"], forged)) == (4401, "bad signature")
    assert await closed_with(anonymous.socket(session["id"], None)) == (4401, "a ticket is required")
    assert await closed_with(anonymous.socket(session["id"], "rtc1.garbage")) == (4401, "malformed token")
    # In a header, a ticket comes with the Ticket scheme (what mirrors send: no identity provider reads it)
    # or Bearer; other schemes are no ticket.
    for scheme in ("Ticket", "bearer"):
        in_header = RoomClient(
            anonymous.socket(session["id"], None), headers={"Authorization": f"{scheme} {fresh}"}, keepalive=None
        )
        await in_header.__aenter__()
        try:
            await in_header.wait_synced()
            assert sources(in_header) == ["a = 10"]
        finally:
            await in_header.close()
    headers = {"Authorization": f"Basic {fresh}"}
    code, reason = await closed_with_headers(anonymous.socket(session["id"], None), headers)
    assert (code, reason) == (4401, "a ticket is required")

    # The teacher ends the session: its ticket holders are told 4404, and no new ticket is issued for it.
    held = RoomClient(anonymous.socket(session["id"], fresh), keepalive=None)
    await held.__aenter__()
    try:
        await held.wait_synced()
        await api.cls("DELETE", session["id"])
        await held.closed.wait()
        assert held.close_code == 4404
    finally:
        await held.close()
    assert (await closed_with(anonymous.socket(session["id"], fresh)))[0] == 4404
    status, error, _ = await anonymous.call("POST", "api/rtc/classrooms/tickets", {"code": session["code"]})
    assert status == 404 and error["error"] == "not_found"


async def test_without_a_login_only_tickets_and_the_ticket_socket_answer(api, anonymous, jp_root_dir):
    path, _ = await lesson(api, jp_root_dir, "lesson.ipynb", ["a = 1"], [0])
    session = await api.cls("POST", body={"path": path}, status=201)
    for method, url, body in (
        ("GET", "api/rtc/classrooms", None),
        ("POST", "api/rtc/classrooms", {"path": path}),
        ("GET", f"api/rtc/classrooms/join/{session['code']}", None),
        ("GET", f"api/rtc/classrooms/join/{session['code']}/cells", None),
        ("POST", f"api/rtc/classrooms/join/{session['code']}/pull", {"cell_id": "x", "path": path}),
        ("GET", f"api/rtc/classrooms/{session['id']}/class", None),
        ("DELETE", f"api/rtc/classrooms/{session['id']}", None),
        ("GET", "api/rtc/classrooms/remote", None),
        ("POST", "api/rtc/classrooms/remote", {"url": "http://127.0.0.1:1/", "code": session["code"]}),
        ("DELETE", f"api/rtc/classrooms/remote/{session['id']}", None),
        ("GET", f"api/rtc/notebooks/{path}/cells", None),
    ):
        status, _, _ = await anonymous.call(method, url, body)
        assert status == 403, (method, url, status)
    # The room itself, at the stock websocket route, wants a Jupyter login as ever.
    with pytest.raises(Exception) as refused:
        await raw_ws(f"{anonymous.ws}api/collaboration/room/{session['room']}")
    assert "403" in str(refused.value)
    assert (await anonymous.call("POST", "api/rtc/classrooms/tickets", {"code": session["code"]}))[0] == 200


async def test_wrong_codes_are_limited_per_address_and_remote_joining_can_be_turned_off(
    api, anonymous, jp_root_dir, jp_serverapp
):
    path, _ = await lesson(api, jp_root_dir, "lesson.ipynb", ["a = 1"], [0])
    session = await api.cls("POST", body={"path": path}, status=201)
    tickets = "api/rtc/classrooms/tickets"
    ticket = (await anonymous.ticket(session["code"]))["ticket"]
    assert (await anonymous.call("POST", tickets, {}))[0] == 400
    for _ in range(3):  # classroom_ticket_failures_per_minute
        status, error, _ = await anonymous.call("POST", tickets, {"code": "AAAAAAAA"})
        assert status == 404 and error["error"] == "not_found"
    status, error, headers = await anonymous.call("POST", tickets, {"code": session["code"]})  # even the right one
    assert status == 429 and error["error"] == "rate_limited", (status, error)
    assert 1 <= int(headers["Retry-After"]) <= 20  # one wrong code more every 20 s
    # A logged-in user of this server is not held back by it: the limit is on tickets only.
    assert (await api.cls("GET", "join", session["code"]))["id"] == session["id"]

    app = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    app.classroom_remote_join = False  # takes effect at once, for tickets and for the socket
    status, error, _ = await anonymous.call("POST", tickets, {"code": session["code"]})
    assert status == 403 and "other servers" in error["message"]
    code, reason = await closed_with(anonymous.socket(session["id"], ticket))
    assert code == 4401 and "other servers" in reason
