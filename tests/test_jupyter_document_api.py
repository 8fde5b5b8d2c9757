"""The HTTP document API inside jupyter_server (``/api/rtc/rooms/{room}/update`` and ``/json``): Jupyter's
identity and permissions, a notebook room read as JSON, an update posted to a room a client is in."""

from __future__ import annotations

import asyncio
import json

import pytest
from pycrdt import Doc, Text

from helpers import http_request
from jupyter_helpers import write_notebook
from test_jupyter_access import jp_server_config  # noqa: F401  (the read_only marker's authorizer)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def api(jp_http_port, jp_base_url, jp_serverapp):
    auth = {"Authorization": f"token {jp_serverapp.identity_provider.token}"}

    async def call(method: str, room: str, action: str, body: bytes | None = None, query: str = ""):
        url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/rtc/rooms/{room}/{action}{query}"
        return await http_request(method, url, body, auth)

    return call


async def test_a_notebook_room_reads_as_json_and_a_posted_update_reaches_a_client(
    collab, jp_root_dir, api, jp_serverapp
):
    path = write_notebook(jp_root_dir, "api.ipynb", ["print('a')", "x = 1"])
    _, session = await collab.open(path)
    status, kind, body = await api("GET", session.room, "json")
    assert (status, kind) == (200, "application/json")
    notebook = json.loads(body)
    assert [cell["source"] for cell in notebook["cells"]] == ["print('a')", "x = 1"]
    assert notebook["meta"]["nbformat"] == 4

    client = await collab.join("team/notes")
    await client.wait_synced(timeout=10)
    doc = Doc()
    doc["t"] = Text("posted")
    status, _, _ = await api("POST", "team/notes", "update", doc.get_update())
    assert status == 204
    await client.wait_for(lambda: str(client.doc.get("t", type=Text)) == "posted")
    status, kind, update = await api("GET", "team/notes", "update")
    assert (status, kind) == (200, "application/octet-stream")
    copy = Doc()
    copy.apply_update(update)
    assert str(copy.get("t", type=Text)) == "posted"
    status, _, body = await api("POST", "team/notes", "update", b"\x05garbage")
    assert status == 400 and json.loads(body)["error"] == "bad_request"

    # The shared tables' room has one writer, the server: it takes no update over HTTP either.
    await jp_serverapp.extension_manager.start_all_extensions()
    status, _, body = await api("POST", "supernode:tables", "update", doc.get_update())
    assert status == 403 and "takes no writes" in json.loads(body)["message"]
    # Reading the room starts the tables at once (else they start a second after the server): their rows follow.
    tables: dict = {}

    async def read_tables() -> bool:
        tables.update(json.loads((await api("GET", "supernode:tables", "json"))[2]))
        return "kernelspecs" in tables

    deadline = asyncio.get_running_loop().time() + 10
    while not await read_tables():
        assert asyncio.get_running_loop().time() < deadline, tables
        await asyncio.sleep(0.05)
    assert tables["kernelspecs"]


@pytest.mark.read_only
async def test_a_reader_reads_documents_but_cannot_post_updates(collab, api):
    doc = Doc()
    doc["t"] = Text("no")
    status, _, body = await api("POST", "team/notes", "update", doc.get_update())
    assert status == 403 and json.loads(body) == {"error": "forbidden", "message": "contents:write is required"}
    assert (await api("GET", "team/notes", "json"))[:3:2] == (200, b"{}")
