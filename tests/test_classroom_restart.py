"""Classroom sessions survive a restart of the server: the teacher finds their session again (same id,
code and room), students join it with the same code and see the shared cells, the class keeps who pulled
what; a session whose notebook vanished while the server was down is ended, with a log line; an ended
session does not come back."""

from __future__ import annotations

import asyncio
import signal

import nbformat
from pycrdt import Array, Map

from browser.lab import JupyterLabServer
from rtc_client import RoomClient

SHARED = {"jupyter-rtc": {"shared": True}}


def lesson(path, sources: list[str], shared: list[int]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    for index in shared:
        nb.cells[index].metadata.update(SHARED)
    path.write_text(nbformat.writes(nb))


async def student(server: JupyterLabServer, room: str) -> RoomClient:
    url = f"ws://127.0.0.1:{server.port}/api/collaboration/room/{room}"
    client = RoomClient(url, headers={"Authorization": f"token {server.token}"})
    await client.__aenter__()
    await asyncio.wait_for(client.wait_synced(), 20)
    return client


def projected(client: RoomClient) -> list[str]:
    return [str(cell["source"]) for cell in client.doc.get("cells", type=Array) if isinstance(cell, Map)]


async def stop(server: JupyterLabServer) -> None:
    """Stop the server as a service manager does (SIGTERM): it must exit by itself, sessions running."""
    proc = server._proc
    proc.send_signal(signal.SIGTERM)
    await asyncio.wait_for(proc.wait(), 60)
    await server.stop()


async def call(server: JupyterLabServer, method: str, path: str, body=None, status: int = 200):
    code, answer = await server.request(method, path, body, timeout=30)
    assert code == status, (method, path, code, answer)
    return answer


async def test_sessions_come_back_after_a_restart_and_vanished_notebooks_end_them(tmp_path):
    server = JupyterLabServer(tmp_path / "server", app="server")
    lesson(server.root / "lesson.ipynb", ["a = 1", "secret = 2", "b = a + 1"], [0, 2])
    lesson(server.root / "gone.ipynb", ["x = 1"], [0])
    lesson(server.root / "mine.ipynb", ["# my work"], [])

    await server.start()
    try:
        kept = await call(server, "POST", "/api/rtc/classrooms", {"path": "lesson.ipynb", "outputs": True}, 201)
        gone = await call(server, "POST", "/api/rtc/classrooms", {"path": "gone.ipynb"}, 201)
        pull = {"cell_id": kept["shared"][0], "path": "mine.ipynb"}
        await call(server, "POST", f"/api/rtc/classrooms/join/{kept['code']}/pull", pull)
        before = await call(server, "GET", f"/api/rtc/classrooms/{kept['id']}/class")
        assert [s["pulled"] for s in before["students"]] == [{kept["shared"][0]: pull_hash(before)}]
        await stop(server)
    finally:
        await server.stop()

    (server.root / "gone.ipynb").unlink()  # while the server is down
    await server.start()
    try:
        sessions = (await call(server, "GET", "/api/rtc/classrooms"))["classrooms"]
        assert [{k: s[k] for k in kept if k != "shared"} for s in sessions] == [
            {k: kept[k] for k in kept if k != "shared"}
        ]
        assert sessions[0]["shared"] == kept["shared"]
        assert (await call(server, "GET", f"/api/rtc/classrooms/join/{kept['code'].lower()}"))["id"] == kept["id"]
        await call(server, "GET", f"/api/rtc/classrooms/join/{gone['code']}", status=404)
        after = await call(server, "GET", f"/api/rtc/classrooms/{kept['id']}/class")
        assert after == before  # who pulled what (not in the room now)

        client = await student(server, kept["room"])
        try:
            await client.wait_for(lambda: projected(client) == ["a = 1", "b = a + 1"], 20)
            assert client.doc.get("meta", type=Map).get("session")["code"] == kept["code"]
        finally:
            await client.close()
        log = server.log_path.read_text()
        assert f"classroom {gone['code']} on gone.ipynb ended: the notebook is gone" in log
        assert f"classroom {kept['code']} on lesson.ipynb restored" in log

        # Ended by the teacher: gone for good, across the next restart too.
        await call(server, "DELETE", f"/api/rtc/classrooms/{kept['id']}")
        await stop(server)
    finally:
        await server.stop()
    await server.start()
    try:
        assert (await call(server, "GET", "/api/rtc/classrooms"))["classrooms"] == []
        await call(server, "GET", f"/api/rtc/classrooms/join/{kept['code']}", status=404)
    finally:
        await server.stop()


def pull_hash(klass: dict) -> str:
    (student,) = klass["students"]
    (value,) = student["pulled"].values()
    return value
