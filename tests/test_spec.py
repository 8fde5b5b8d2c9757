"""spec.json is generated from the code and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import importlib.util

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec.json"


def _generator():
    spec = importlib.util.spec_from_file_location("spec_script", ROOT / "scripts" / "spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_json_matches_the_code():
    assert SPEC.read_text() == _generator().render(), "spec.json is stale: run `python scripts/spec.py > spec.json`"


def test_every_documented_path_exists_in_the_code():
    from supernode.app import SupernodeExtension

    paths = _generator().build()["paths"]
    assert "/api/collaboration/session/{path}" in paths
    assert any("collaboration/session" in pattern for pattern, _ in _routes(SupernodeExtension))


def _routes(extension_class):
    import re

    source = Path(extension_class.__module__.replace(".", "/") + ".py")
    text = (ROOT / source).read_text()
    return [(m, None) for m in re.findall(r'\(r"([^"]+)"', text)]


async def test_every_documented_path_is_served(relay):
    from helpers import http_get

    base = f"http://127.0.0.1:{relay.port}"
    assert (await http_get(base + "/health"))[0] == 200
    assert (await http_get(base + "/metrics"))[0] == 200
    # Room paths answer plain HTTP with 426 (they want a websocket upgrade).
    assert (await http_get(base + "/some-room"))[0] == 426
    assert (await http_get(base + "/api/collaboration/room/json:notebook:x"))[0] == 426


# -- drift between the document and what the servers serve -------------------------------------------

import asyncio  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402

from jupyter_helpers import server_config, write_notebook  # noqa: E402

METHODS = ("get", "post", "put", "delete", "patch")


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(journal_path=str(tmp_path / "journal.sqlite"))


def _shape(path: str) -> str:
    """A path or route with its parameters blanked: ``/a/{x}/b`` and ``/a/(?P<x>[^/]+)/b`` → ``/a/{}/b``."""
    path = re.sub(r"\{[^}]*\}", "{}", path)
    path = re.sub(r"\((?:\?P<\w+>)?[^)]*\)", "{}", path)
    return path.replace("\\.", ".")


def _served_by_jupyter(serverapp) -> dict[str, set[str]]:
    """Route shape → methods, for the handlers our two extensions add to the Jupyter server."""
    routes: dict[str, set[str]] = {}
    for name in ("rtc_relay", "supernode"):
        for app in serverapp.extension_manager.extension_apps[name]:
            for pattern, handler, *_ in app.handlers:
                ours = [c for c in handler.__mro__ if c.__module__.split(".")[0] in ("rtc_relay", "supernode")]
                methods = {m for m in METHODS if any(m in c.__dict__ for c in ours)}
                routes.setdefault(_shape(pattern), set()).update(methods)
    return routes


async def test_every_route_and_method_is_documented_and_every_documented_one_is_served(jp_serverapp, relay):
    from helpers import http_get
    from rtc_relay.endpoints import ENDPOINTS

    spec = _generator().build()
    documented = {_shape(path): set(ops) - {"parameters"} for path, ops in spec["paths"].items()}
    served = _served_by_jupyter(jp_serverapp)
    for endpoint in ENDPOINTS:  # the standalone relay routes by ENDPOINTS
        served.setdefault(_shape(endpoint.path), set()).add(endpoint.method)
    assert served == documented

    base = f"http://127.0.0.1:{relay.port}"
    for endpoint in ENDPOINTS:
        if endpoint.method != "get":
            continue
        status, _ = await http_get(base + endpoint.path.replace("{room}", "a-room"))
        assert status in {int(code) for code in endpoint.responses}, (endpoint.path, status)


class _Validator:
    """Checks answers against the responses spec.json documents for their path, method and status."""

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, path: str, method: str, status: int, body) -> None:
        from jsonschema import Draft202012Validator

        responses = self.spec["paths"][path][method]["responses"]
        assert str(status) in responses, f"{method.upper()} {path}: status {status} is not documented"
        content = responses[str(status)].get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is not None:
            errors = list(Draft202012Validator({**schema, "components": self.spec["components"]}).iter_errors(body))
            assert not errors, f"{method.upper()} {path} {status}: {errors[0].message} in {json.dumps(body)[:300]}"
        self.checked.add((path, method, status))


async def test_answers_match_the_documented_bodies(
    jp_fetch, collab, jp_root_dir, relay, jp_serverapp, jp_http_port, jp_base_url
):
    from tornado.httpclient import HTTPClientError

    from helpers import http_get

    spec = json.loads(SPEC.read_text())
    v = _Validator(spec)

    async def call(method: str, template: str, url: str, body=None, **params):
        try:
            r = await jp_fetch(
                *url.strip("/").split("/"),
                method=method.upper(),
                body=None if body is None and method != "post" else json.dumps(body or {}),
                params=params or None,
                allow_nonstandard_methods=True,
            )
            status, text = r.code, r.body
        except HTTPClientError as err:
            status, text = err.code, err.response.body
        answer = json.loads(text) if text else None
        v.check(template, method, status, answer)
        return status, answer

    path = write_notebook(jp_root_dir, "bodies.ipynb", ["print('a')", "name = input('? ')"])
    s = "/api/collaboration/session/{path}"
    assert (await call("put", s, f"api/collaboration/session/{path}", {"format": "json", "type": "notebook"}))[0] == 201
    assert (await call("put", s, f"api/collaboration/session/{path}", {"format": "json", "type": "notebook"}))[0] == 200
    status, session = await call("put", s, f"api/collaboration/session/{path}", {"format": "json", "type": "notebook"})
    await call("put", s, "api/collaboration/session/nope.ipynb", {"format": "json", "type": "notebook"})
    await call("put", s, f"api/collaboration/session/{path}", {"format": 1})

    client, _ = await collab.open(path)
    from jupyter_ydoc import YNotebook

    first, second = [c["id"] for c in YNotebook(client.doc).get()["cells"]]
    ex = "/api/rtc/executions"
    status, record = await call("post", ex, "api/rtc/executions", {"path": path, "cell_ids": [first]})
    assert status == 202
    await call("post", ex, "api/rtc/executions", {"path": 3})
    await call("post", ex, "api/rtc/executions", {"path": "nope.ipynb"})
    await call(
        "post", ex, "api/rtc/executions", {"path": path, "cell_ids": [first], "source_hashes": {first: "0" * 64}}
    )
    await call("get", ex, "api/rtc/executions", path=path)
    one = "/api/rtc/executions/{execution_id}"
    deadline = asyncio.get_running_loop().time() + 60
    while (await call("get", one, f"api/rtc/executions/{record['id']}"))[1]["status"] not in ("ok", "error"):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await call("get", one, f"api/rtc/executions/{'0' * 32}")
    await call("delete", one, f"api/rtc/executions/{record['id']}")  # 409 not_cancellable
    await call("post", one + "/interrupt", f"api/rtc/executions/{record['id']}/interrupt")  # 409 not_running
    await call("post", one + "/input", f"api/rtc/executions/{record['id']}/input", {"value": "x"})  # 409

    status, asking = await call("post", ex, "api/rtc/executions", {"path": path, "cell_ids": [second]})
    while not any(
        c.get("input_request") for c in (await call("get", one, f"api/rtc/executions/{asking['id']}"))[1]["cells"]
    ):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await call("post", one + "/input", f"api/rtc/executions/{asking['id']}/input", {"nope": 1})  # 400
    assert (await call("post", one + "/input", f"api/rtc/executions/{asking['id']}/input", {"value": "v"}))[0] == 200

    kx = "/api/kernels/{kernel_id}/execute"
    room = f"json:notebook:{session['fileId']}"
    assert (await call("post", kx, "api/kernels/k/execute", {"cell_id": first, "document_id": room}))[0] == 202
    await call("post", kx, "api/kernels/k/execute", {"cell_id": first, "document_id": "json:notebook:nope"})
    kernel = jp_serverapp.kernel_manager.list_kernel_ids()[0]  # the notebook's (jupyter-server-nbmodel's protocol)
    kr, ki = "/api/kernels/{kernel_id}/requests/{request_id}", "/api/kernels/{kernel_id}/input"
    status, asked = await call("post", kx, f"api/kernels/{kernel}/execute", {"code": "input('? ')"})
    assert status == 202
    while (await call("get", kr, asked["request_url"]))[0] != 300:  # 202 until the kernel asks
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert (await call("get", kx, f"api/kernels/{kernel}/execute"))[0] == 200
    await call("post", ki, f"api/kernels/{kernel}/input", {"value": "v"})  # 400
    assert (await call("post", ki, f"api/kernels/{kernel}/input", {"input": "v"}))[0] == 201
    await call("post", ki, f"api/kernels/{kernel}/input", {"input": "v"})  # 409
    await call("post", ki, "api/kernels/nope/input", {"input": "v"})  # 404
    while (await call("get", kr, asked["request_url"]))[0] != 200:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await call("get", kr, f"api/kernels/{kernel}/requests/nope")  # 404
    await call("post", kx, "api/kernels/nope/execute", {"code": "1"})  # 404
    await call("post", kx, f"api/kernels/{kernel}/execute", {"code": 1})  # 400
    _, sleeping = await call("post", kx, f"api/kernels/{kernel}/execute", {"code": "import time; time.sleep(30)"})
    _, queued = await call("post", kx, f"api/kernels/{kernel}/execute", {"code": "1"})
    assert (await call("delete", kr, queued["request_url"]))[0] == 204  # cancelled: its poll answers 500
    assert (await call("get", kr, queued["request_url"]))[0] == 500
    assert (await call("delete", kr, sleeping["request_url"]))[0] == 204  # interrupted
    await call("delete", kr, f"api/kernels/{kernel}/requests/{'0' * 32}")  # 404
    rs = "/api/rtc/kernels/restart"
    assert (await call("post", rs, "api/rtc/kernels/restart", {"path": path}))[0] == 200
    status, again = await call("post", rs, "api/rtc/kernels/restart", {"path": path, "run_all": True})
    assert status == 202
    while not any(
        c.get("input_request") for c in (await call("get", one, f"api/rtc/executions/{again['id']}"))[1]["cells"]
    ):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await call("post", one + "/input", f"api/rtc/executions/{again['id']}/input", {"value": "v"})
    await call("post", rs, "api/rtc/kernels/restart", {})
    await call("get", "/api/rtc/rooms", "api/rtc/rooms")
    await call("get", "/api/rtc/spec.json", "api/rtc/spec.json")
    for method in ("post", "get", "delete"):  # MCP clients (tests/test_mcp_http.py) get the 2xx answers
        headers = {"Content-Type": "application/json", "Mcp-Session-Id": "0" * 32}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}) if method == "post" else None
        r = await jp_fetch("api", "rtc", "mcp", method=method.upper(), headers=headers, body=body, raise_error=False)
        assert r.code == 404, (method, r.code, r.body)
        v.check("/api/rtc/mcp", method, r.code, json.loads(r.body))
    tb, one_table = "/api/rtc/tables", "/api/rtc/tables/{table}"
    assert (await call("get", one_table, "api/rtc/tables/kernels"))[0] == 503  # before the extensions start
    await jp_serverapp.extension_manager.start_all_extensions()  # as a real server does once its loop runs
    assert (await call("get", tb, "api/rtc/tables"))[0] == 200
    assert (await call("get", one_table, "api/rtc/tables/kernels"))[0] == 200
    assert (await call("get", one_table, "api/rtc/tables/nope"))[0] == 404
    assert (await call("post", one_table + "/refresh", "api/rtc/tables/contents/refresh"))[0] == 200
    assert (await call("post", one_table + "/refresh", "api/rtc/tables/nope/refresh"))[0] == 404

    tl, ur, fk = (
        "/api/collaboration/timeline/{path}",
        "/api/collaboration/undo_redo/{roomid}",
        "/api/collaboration/fork/{roomid}",
    )
    status, timeline = await call("get", tl, f"api/collaboration/timeline/{path}", format="json", type="notebook")
    assert status == 200
    await call("get", tl, "api/collaboration/timeline/nope.ipynb", format="json", type="notebook")  # 404
    await call("get", tl, f"api/collaboration/timeline/{path}")  # 400
    fork_room = timeline["forkRoom"]
    assert (await call("put", ur, f"api/collaboration/undo_redo/{room}", action="undo", steps="1", forkRoom=fork_room))[
        0
    ] == 200
    await call("put", ur, f"api/collaboration/undo_redo/{room}", action="nope", forkRoom=fork_room)  # 400
    await call("put", ur, f"api/collaboration/undo_redo/{room}", action="undo", forkRoom="0" * 32)  # 404
    assert (await call("put", ur, f"api/collaboration/undo_redo/{room}", action="restore", forkRoom=fork_room))[
        0
    ] == 200
    status, created = await call("put", fk, f"api/collaboration/fork/{room}", {"title": "t", "synchronize": True})
    assert status == 201
    await call("put", fk, "api/collaboration/fork/json:notebook:nope", {})  # 404
    await call("put", fk, f"api/collaboration/fork/{room}", {"synchronize": 1})  # 400
    assert (await call("get", fk, f"api/collaboration/fork/{room}"))[0] == 200
    assert (await call("delete", fk, f"api/collaboration/fork/{created['fork_roomid']}", merge="true"))[0] == 200
    await call("delete", fk, f"api/collaboration/fork/{created['fork_roomid']}")  # 404
    await call("delete", fk, f"api/collaboration/fork/{created['fork_roomid']}", merge="maybe")  # 400

    nb, cells = "/api/rtc/notebooks/{path}", "/api/rtc/notebooks/{path}/cells"
    cell = cells + "/{cell_id}"
    u = f"api/rtc/notebooks/{path}"
    assert (await call("get", nb, u))[0] == 200
    await call("get", nb, "api/rtc/notebooks/nope.ipynb")  # 404
    assert (await call("get", cells, f"{u}/cells", outputs="false", limit="1"))[0] == 200
    await call("get", cells, f"{u}/cells", limit="x")  # 400
    status, added = await call("post", cells, f"{u}/cells", {"source": "2 + 2", "id": "added"})
    assert status == 201
    await call("post", cells, f"{u}/cells", {"expected_version": "0-0"})  # 409
    assert (await call("get", cell, f"{u}/cells/added"))[0] == 200
    await call("get", cell, f"{u}/cells/nope")  # 404
    assert (await call("patch", cell, f"{u}/cells/added", {"edits": [{"start": 0, "end": 1, "text": "3"}]}))[0] == 200
    await call("patch", cell, f"{u}/cells/added", {"edits": [{"start": 99}]})  # 400
    await call("patch", cell, f"{u}/cells/added", {"expected_source_hash": "0" * 64, "source": ""})  # 409
    assert (await call("post", cell + "/move", f"{u}/cells/added/move", {"index": 0}))[0] == 200
    assert (await call("post", cell + "/split", f"{u}/cells/added/split", {"position": 1}))[0] == 200
    await call("post", cell + "/split", f"{u}/cells/added/split", {})  # 400
    assert (await call("post", cell + "/merge", f"{u}/cells/added/merge", {}))[0] == 200
    status, run = await call("post", cell + "/execute", f"{u}/cells/added/execute", {"source": "1 + 1"})
    assert status == 202
    while (await call("get", one, f"api/rtc/executions/{run['id']}"))[1]["status"] not in ("ok", "error"):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert (await call("delete", cell + "/outputs", f"{u}/cells/added/outputs"))[0] == 200
    assert (await call("delete", f"{nb}/outputs", f"{u}/outputs"))[0] == 200
    status, run = await call("post", f"{nb}/execute", f"{u}/execute", {"cells": "above", "cell_id": first})
    assert status == 202
    await call("post", f"{nb}/execute", f"{u}/execute", {"cells": "sideways"})  # 400
    assert (await call("delete", cell, f"{u}/cells/added"))[0] == 200
    files = "/api/rtc/notebooks/{path}"
    assert (await call("put", files, "api/rtc/notebooks/made.ipynb", {}))[0] == 201
    assert (await call("put", files, "api/rtc/notebooks/made.ipynb", {}))[0] == 200
    await call("put", files, "api/rtc/notebooks/made.ipynb", {"exists": "fail"})  # 409
    await call("put", files, "api/rtc/notebooks/made.ipynb", {"exists": "maybe"})  # 400
    await call("put", files, "api/rtc/notebooks/no/dir.ipynb", {})  # 404
    assert (await call("patch", files, "api/rtc/notebooks/made.ipynb", {"path": "moved.ipynb"}))[0] == 200
    await call("patch", files, "api/rtc/notebooks/made.ipynb", {"path": "x.ipynb"})  # 404
    await call("patch", files, "api/rtc/notebooks/moved.ipynb", {"path": path})  # 409
    await call("patch", files, "api/rtc/notebooks/moved.ipynb", {})  # 400
    assert (await call("post", files + "/save", "api/rtc/notebooks/moved.ipynb/save"))[0] == 200
    await call("post", files + "/save", "api/rtc/notebooks/nope.ipynb/save")  # 404
    assert (await call("post", files + "/copy", "api/rtc/notebooks/moved.ipynb/copy", {"path": "copy.ipynb"}))[0] == 201
    await call("post", files + "/copy", "api/rtc/notebooks/moved.ipynb/copy", {"path": "copy.ipynb"})  # 409
    await call("post", files + "/copy", "api/rtc/notebooks/moved.ipynb/copy", {})  # 400
    await call("post", files + "/copy", "api/rtc/notebooks/nope.ipynb/copy", {"path": "c.ipynb"})  # 404
    assert (await call("post", files + "/complete", f"{u}/complete", {"code": "pri"}))[0] == 200
    await call("post", files + "/complete", f"{u}/complete", {})  # 400
    await call("post", files + "/complete", "api/rtc/notebooks/nope.ipynb/complete", {"code": "x"})  # 404
    assert (await call("post", files + "/inspect", f"{u}/inspect", {"code": "len", "position": 1}))[0] == 200
    await call("post", files + "/inspect", f"{u}/inspect", {"code": "len", "position": 9})  # 400
    await call("post", files + "/inspect", "api/rtc/notebooks/nope.ipynb/inspect", {"code": "x"})  # 404
    status, scratch = await call("post", files + "/scratch", f"{u}/scratch", {"code": "1 + 1"})
    assert status == 202
    while (await call("get", one, f"api/rtc/executions/{scratch['id']}"))[1]["status"] not in ("ok", "error"):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await call("post", files + "/scratch", f"{u}/scratch", {})  # 400
    await call("post", files + "/scratch", "api/rtc/notebooks/nope.ipynb/scratch", {"code": "1"})  # 404
    assert (await call("delete", files, "api/rtc/notebooks/moved.ipynb", kernel="shutdown"))[0] == 200
    await call("delete", files, "api/rtc/notebooks/moved.ipynb", kernel="maybe")  # 400
    await call("delete", files, "api/rtc/notebooks/gone.ipynb")  # 404
    await call("delete", cell, f"{u}/cells/added", expected_version="0-0")  # 409 (checked before the cell)
    feed, raw = "/api/rtc/notebooks/{path}/events", "/api/rtc/notebooks/{path}/kernel-messages"
    for template, tail in ((feed, "events"), (raw, "kernel-messages")):
        r = await jp_fetch("api", "rtc", "notebooks", path, tail, params={"timeout": "0.1"})
        assert r.headers["Content-Type"].startswith("text/event-stream")
        v.check(template, "get", r.code, None)
        await call("get", template, f"api/rtc/notebooks/nope.ipynb/{tail}")  # 404
        await call("get", template, f"api/rtc/notebooks/{path}/{tail}", since="x")  # 400

    cr = "/api/rtc/classrooms"
    status, lesson = await call("post", cr, "api/rtc/classrooms", {"path": path})
    assert status == 201
    await call("post", cr, "api/rtc/classrooms", {})  # 400
    await call("post", cr, "api/rtc/classrooms", {"path": "nope.ipynb"})  # 404
    assert (await call("get", cr, "api/rtc/classrooms"))[0] == 200
    assert (await call("get", cr + "/join/{code}", f"api/rtc/classrooms/join/{lesson['code']}"))[0] == 200
    await call("get", cr + "/join/{code}", "api/rtc/classrooms/join/AAAAAAAA")  # 404
    assert (await call("get", cr + "/join/{code}/cells", f"api/rtc/classrooms/join/{lesson['code']}/cells"))[0] == 200
    await call("get", cr + "/join/{code}/cells", "api/rtc/classrooms/join/AAAAAAAA/cells")  # 404
    pull = cr + "/join/{code}/pull"
    await call("post", pull, f"api/rtc/classrooms/join/{lesson['code']}/pull", {"cell_id": "x", "path": path})  # 400
    await call("post", pull, f"api/rtc/classrooms/join/{lesson['code']}/pull", {"cell_id": "x", "path": "copy.ipynb"})
    await call("post", pull, f"api/rtc/classrooms/join/{lesson['code']}/pull", {})  # 400
    assert (await call("get", cr + "/{session_id}/class", f"api/rtc/classrooms/{lesson['id']}/class"))[0] == 200
    await call("get", cr + "/{session_id}/class", "api/rtc/classrooms/nope/class")  # 404
    tk, rm = cr + "/tickets", cr + "/remote"
    assert (await call("post", tk, "api/rtc/classrooms/tickets", {"code": lesson["code"]}))[0] == 403  # off
    supernode_app = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    supernode_app.classroom_remote_join = True
    assert (await call("post", tk, "api/rtc/classrooms/tickets", {"code": lesson["code"]}))[0] == 200
    await call("post", tk, "api/rtc/classrooms/tickets", {"code": "AAAAAAAA"})  # 404
    await call("post", tk, "api/rtc/classrooms/tickets", {})  # 400
    own = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    assert (await call("post", rm, "api/rtc/classrooms/remote", {"url": own, "code": lesson["code"]}))[0] == 409
    supernode_app.classroom_remote_join = False
    await call("post", rm, "api/rtc/classrooms/remote", {"url": "ftp://x"})  # 400
    assert (await call("get", rm, "api/rtc/classrooms/remote"))[0] == 200
    await call("delete", rm + "/{session_id}", f"api/rtc/classrooms/remote/{lesson['id']}")  # 404
    assert (await call("delete", cr + "/{session_id}", f"api/rtc/classrooms/{lesson['id']}"))[0] == 200
    await call("delete", cr + "/{session_id}", f"api/rtc/classrooms/{lesson['id']}")  # 404

    base = f"http://127.0.0.1:{relay.port}"
    for endpoint in ("/health", "/api/rtc/rooms"):
        status, text = await http_get(base + endpoint)
        v.check(endpoint, "get", status, json.loads(text))

    # The document API, on both servers: binary updates in and out, JSON, catalogued errors.
    from pycrdt import Doc, Text

    from helpers import http_request

    doc = Doc()
    doc["t"] = Text("x")
    up, js = "/api/rtc/rooms/{room}/update", "/api/rtc/rooms/{room}/json"
    jupyter = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    auth = {"Authorization": f"token {jp_serverapp.identity_provider.token}"}
    for server, headers in ((jupyter, auth), (base + "/", {})):
        for method, template, url, body in (
            ("post", up, "api/rtc/rooms/team/doc/update", doc.get_update()),
            ("post", up, "api/rtc/rooms/team/doc/update", b"\x05garbage"),
            ("get", up, "api/rtc/rooms/team/doc/update", None),
            ("get", up, "api/rtc/rooms/team/doc/update?sv=%%", None),
            ("get", js, "api/rtc/rooms/team/doc/json", None),
            ("get", js, "api/rtc/rooms/team/doc/json?types=t:nope", None),
        ):
            status, kind, answer = await http_request(method.upper(), server + url, body, headers)
            v.check(template, method, status, json.loads(answer) if "json" in kind else None)

    answered = {(p, m) for p, m, _ in v.checked}
    documented = {(p, m) for p, ops in spec["paths"].items() for m in ops if m != "parameters"}
    websockets = {("/{room}", "get"), ("/api/collaboration/room/{room}", "get"), ("/metrics", "get")}
    websockets.add(("/api/rtc/notebooks/{path}/events/ws", "get"))
    websockets.add(("/api/rtc/classrooms/socket/{session_id}", "get"))  # tests/test_classroom_tickets.py
    assert documented - websockets <= answered, documented - websockets - answered


def test_the_error_body_names_every_catalogued_code():
    catalogue = json.loads((ROOT / "schema" / "rest-errors.json").read_text())
    body = json.loads((ROOT / "schema" / "rest-error.json").read_text())
    assert body["properties"]["error"]["enum"] == [entry["error"] for entry in catalogue["errors"]]
