"""Jupyter identity and permissions at the document rooms; other file kinds; the Python API."""

from __future__ import annotations

import json

import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_ydoc import YBlob, YNotebook, YUnicode
from pycrdt import Map

from helpers import eventually
from jupyter_helpers import EXTENSIONS, disk_sources, server_config, write_notebook


class ReadOnlyAuthorizer(Authorizer):
    """Every user may read, nobody may write."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return action == "read"


@pytest.fixture
def jp_server_config(request):
    config = server_config()
    if request.node.get_closest_marker("read_only"):
        config["ServerApp"]["authorizer_class"] = ReadOnlyAuthorizer
    if request.node.get_closest_marker("with_ydoc"):
        config["ServerApp"]["jpserver_extensions"] = {**EXTENSIONS, "jupyter_server_ydoc": True}
    return config


@pytest.mark.read_only
async def test_a_reader_opens_the_document_but_cannot_change_it(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "ro.ipynb", ["read me"])
    reader, session = await collab.open(path)  # PUT session needs contents:read only
    assert [c["source"] for c in YNotebook(reader.doc).get()["cells"]] == ["read me"]
    await reader.wait_for(lambda: {"type": "access", "access": "read", "room": session.room} in reader.notices)

    other, _ = await collab.open(path)
    reader.awareness.set_local_state({"user": {"name": "Reader"}})
    await other.wait_for(lambda: other.awareness.states.get(reader.awareness.client_id, {}).get("user") is not None)

    source = YNotebook(reader.doc).ycells[0]["source"]
    source += " and change me"  # dropped by the relay
    reader.save(3)
    await reader.wait_for(lambda: any(n.get("responseTo") == 3 for n in reader.notices))
    assert {"type": "save", "responseTo": 3, "status": "skipped"} in reader.notices
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    await eventually(lambda: relay.metrics.updates_dropped_readonly >= 1, what="update dropped")
    late, _ = await collab.open(path)
    assert [c["source"] for c in YNotebook(late.doc).get()["cells"]] == ["read me"]
    assert disk_sources(jp_root_dir, path) == ["read me"]


async def test_a_browser_from_another_origin_is_refused(collab, jp_root_dir, jp_serverapp, jp_http_port, jp_base_url):
    """With cookie authentication (a browser), a foreign Origin is refused, as on every Jupyter websocket."""
    from http.cookies import SimpleCookie
    from urllib.parse import urlencode

    from tornado.httpclient import AsyncHTTPClient
    from websockets.exceptions import InvalidStatus

    path = write_notebook(jp_root_dir, "o.ipynb", ["x"])
    session = await collab.session(path)
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    http = AsyncHTTPClient()
    page = await http.fetch(base + "login", raise_error=False)
    jar = SimpleCookie()
    for header in page.headers.get_list("Set-Cookie"):
        jar.load(header)
    xsrf = jar["_xsrf"].value
    login = await http.fetch(
        base + "login",
        method="POST",
        body=urlencode({"password": jp_serverapp.identity_provider.token, "_xsrf": xsrf}),
        headers={"Cookie": f"_xsrf={xsrf}"},
        follow_redirects=False,
        raise_error=False,
    )
    for header in login.headers.get_list("Set-Cookie"):
        jar.load(header)
    cookie = "; ".join(f"{k}={v.value}" for k, v in jar.items())
    ok = await collab.join(
        session.room, session.session_id, headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{jp_http_port}"}
    )
    await ok.wait_synced()
    with pytest.raises(InvalidStatus) as refused:
        await collab.join(session.room, session.session_id, headers={"Cookie": cookie, "Origin": "http://evil.example"})
    assert refused.value.response.status_code == 403


async def test_without_credentials_the_room_is_refused(collab, jp_root_dir):
    from websockets.exceptions import InvalidStatus

    path = write_notebook(jp_root_dir, "n.ipynb", ["x"])
    session = await collab.session(path)
    with pytest.raises(InvalidStatus) as refused:
        await collab.join(session.room, session.session_id, headers={"Authorization": "token wrong"})
    assert refused.value.response.status_code == 403


async def test_text_files_are_collaborative_and_saved(collab, jp_root_dir):
    (jp_root_dir / "notes.txt").write_text("line one\r\nline two\n")
    client, _ = await collab.open("notes.txt", "text", "file")
    doc = YUnicode(client.doc)
    assert doc.get() == "line one\nline two\n"
    text = doc._ysource
    text += "line three ✓\n"
    await eventually(
        lambda: (jp_root_dir / "notes.txt").read_text() == "line one\nline two\nline three ✓\n", timeout=10
    )


async def test_binary_files_are_collaborative(collab, jp_root_dir):
    (jp_root_dir / "blob.bin").write_bytes(b"\x00\x01binary\xff")
    client, _ = await collab.open("blob.bin", "base64", "file")
    assert YBlob(client.doc).get() == b"\x00\x01binary\xff"
    YBlob(client.doc).set(b"new bytes\x00")
    await eventually(lambda: (jp_root_dir / "blob.bin").read_bytes() == b"new bytes\x00", timeout=10)


async def test_other_extensions_get_the_live_document(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "api.ipynb", ["from the api"])
    app = jp_serverapp.extension_manager.extension_apps["supernode"]
    (supernode,) = app
    live = await supernode.get_document(path=path, content_type="notebook", file_format="json", copy=False)
    copy = await supernode.get_document(path=path, content_type="notebook", file_format="json")
    assert live.get()["cells"][0]["source"] == copy.get()["cells"][0]["source"] == "from the api"

    client, _ = await collab.open(path)
    live.ycells[0]["source"].insert(0, "# edited by an extension\n")
    await client.wait_for(
        lambda: YNotebook(client.doc).get()["cells"][0]["source"] == "# edited by an extension\nfrom the api"
    )
    assert copy.get()["cells"][0]["source"] == "from the api"  # a copy stays detached
    assert await supernode.get_document(path="missing.ipynb", content_type="notebook", file_format="json") is None
    state = client.doc.get("state", type=Map)
    await client.wait_for(lambda: state.get("dirty") is False, timeout=10)


@pytest.mark.with_ydoc
async def test_jupyter_server_ydoc_enabled_too_is_reported_and_we_stay_off(jp_serverapp, caplog, jp_fetch):
    from tornado.httpclient import HTTPClientError

    setup_log = " ".join(r.getMessage() for r in caplog.get_records("setup"))
    assert "jupyter_server_ydoc is also enabled" in setup_log
    with pytest.raises(HTTPClientError) as err:
        await jp_fetch(
            "api",
            "collaboration",
            "session",
            "x.ipynb",
            method="PUT",
            body=json.dumps({"format": "json", "type": "notebook"}),
        )
    assert err.value.code == 404
