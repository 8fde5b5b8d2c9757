"""Jupyter's permissions on every endpoint of the REST notebook API: reading needs contents:read, changing
contents:write, running kernels:execute (and contents:write to set a source while running). Each endpoint is
called as four users (none, read, write, execute-only) of a real Jupyter server whose authorizer grants what
the request's test header says."""

from __future__ import annotations

import asyncio
import json

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import HTTPClientError

from execution_helpers import FINISHED
from jupyter_helpers import server_config, write_notebook

ROLES = {
    "none": set(),
    "read": {"contents:read"},
    "write": {"contents:read", "contents:write"},
    "execute-only": {"kernels:execute"},
}


class HeaderAuthorizer(Authorizer):
    """Grants the permissions listed in the request's ``X-Test-Permissions`` header (``resource:action,…``)."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        granted = handler.request.headers.get("X-Test-Permissions", "")
        return f"{resource}:{action}" in granted.split(",")


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    config["ServerApp"]["authorizer_class"] = HeaderAuthorizer
    return config


# (method, path after the notebook's URL, body, the permissions it needs)
ENDPOINTS = [
    ("GET", "", None, {"contents:read"}),
    ("GET", "/cells", None, {"contents:read"}),
    ("GET", "/cells/{cell}", None, {"contents:read"}),
    ("POST", "/cells", {"source": "1"}, {"contents:write"}),
    ("PATCH", "/cells/{cell}", {"source": "2"}, {"contents:write"}),
    ("POST", "/cells/{cell}/move", {"index": 0}, {"contents:write"}),
    ("POST", "/cells/{cell}/split", {"position": 0}, {"contents:write"}),
    ("POST", "/cells/{cell}/merge", {}, {"contents:write"}),
    ("DELETE", "/cells/{cell}/outputs", None, {"contents:write"}),
    ("DELETE", "/outputs", None, {"contents:write"}),
    ("DELETE", "/cells/{last}", None, {"contents:write"}),
    ("POST", "/cells/{cell}/execute", {}, {"kernels:execute"}),
    ("POST", "/cells/{cell}/execute", {"source": "3"}, {"kernels:execute", "contents:write"}),
    ("POST", "/execute", {"cells": "all"}, {"kernels:execute"}),
    ("POST", "/scratch", {"code": "1"}, {"kernels:execute"}),
    ("POST", "/complete", {"code": "pri"}, {"kernels:execute"}),
    ("POST", "/inspect", {"cell_id": "{cell}"}, {"kernels:execute", "contents:read"}),
    ("POST", "/save", None, {"contents:write"}),
    ("POST", "/copy", {"path": "copy-{role}.ipynb"}, {"contents:write"}),
    ("PUT", "", {}, {"contents:write"}),
    ("PUT", "", {"kernel": {}}, {"contents:write", "kernels:execute"}),
    ("DELETE", "", None, {"contents:write"}),
    ("PATCH", "", {"path": "renamed-{role}.ipynb"}, {"contents:write"}),
]


async def test_every_endpoint_asks_for_jupyters_permission(jp_fetch, jp_root_dir):
    path = write_notebook(jp_root_dir, "perm.ipynb", ["a = 1", "b = 2"])
    grant_all = ",".join(sorted({p for *_, needs in ENDPOINTS for p in needs} | {"kernels:read"}))

    async def call(method: str, url: str, body: dict | None, permissions: set[str]) -> tuple[int, dict]:
        try:
            r = await jp_fetch(
                *f"api/rtc/notebooks/{path}{url}".split("/"),
                method=method,
                body=None if body is None else json.dumps(body),
                headers={"X-Test-Permissions": ",".join(sorted(permissions))},
                allow_nonstandard_methods=True,
            )
            return r.code, json.loads(r.body)
        except HTTPClientError as err:
            return err.code, json.loads(err.response.body)

    async def cell_ids() -> list[str]:
        status, listed = await call("GET", "/cells", None, {"contents:read"})
        assert status == 200
        return [cell["id"] for cell in listed["cells"]]

    runs = []
    for method, template, body, needs in ENDPOINTS:
        for role, granted in ROLES.items():
            ids = await cell_ids()
            url = template.format(cell=ids[0], last=ids[-1])
            filled = (
                None if body is None else json.loads(json.dumps(body).replace("{cell}", ids[0]).replace("{role}", role))
            )
            status, answer = await call(method, url, filled, granted)
            if needs <= granted:  # (a kernel question may time out on a loaded machine: that is not a refusal)
                assert status != 403 and (status < 500 or answer["error"] == "kernel_timeout"), (
                    method,
                    template,
                    role,
                    status,
                    answer,
                )
                if status == 202:
                    runs.append(answer["id"])
                if method == "PATCH" and template == "":  # renamed: back to the path the others use
                    back = await jp_fetch(
                        "api",
                        "contents",
                        answer["path"],
                        method="PATCH",
                        body=json.dumps({"path": path}),
                        headers={"X-Test-Permissions": "contents:write"},
                    )
                    assert back.code == 200
            else:
                assert status == 403 and answer["error"] == "forbidden", (method, template, role, status, answer)
                assert any(need in answer["message"] for need in needs - granted), answer
    for run in runs:  # every execution the allowed users queued ends (nothing outlives the test)
        for _ in range(600):
            r = await jp_fetch("api", "rtc", "executions", run, headers={"X-Test-Permissions": grant_all})
            if json.loads(r.body)["status"] in FINISHED:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"execution {run} did not end")


async def test_classroom_endpoints_ask_for_jupyters_permission(jp_fetch, jp_root_dir):
    """A student who may only read this server (a read-only share) joins and looks, but cannot start, end or
    see a session, nor pull: pulling writes a notebook."""
    path = write_notebook(jp_root_dir, "class.ipynb", ["shared = 1"])
    mine = write_notebook(jp_root_dir, "mine.ipynb", [])
    teacher = {"X-Test-Permissions": "contents:read,contents:write"}
    reader = {"X-Test-Permissions": "contents:read"}

    async def call(method: str, url: str, body: dict | None, headers: dict) -> tuple[int, dict]:
        url, _, query = url.partition("?")
        try:
            r = await jp_fetch(
                *f"api/rtc/{url}".split("/"),
                method=method,
                body=None if body is None else json.dumps(body),
                headers=headers,
                params=dict([query.split("=", 1)]) if query else None,
                allow_nonstandard_methods=True,
            )
            return r.code, json.loads(r.body)
        except HTTPClientError as err:
            return err.code, json.loads(err.response.body)

    listed = (await call("GET", f"notebooks/{path}/cells", None, reader))[1]["cells"]
    await call(
        "PATCH", f"notebooks/{path}/cells/{listed[0]['id']}", {"metadata": {"jupyter-rtc": {"shared": True}}}, teacher
    )
    assert (await call("POST", "classrooms", {"path": path}, reader))[0] == 403
    status, session = await call("POST", "classrooms", {"path": path}, teacher)
    assert status == 201
    for method, url, body, allowed in (
        ("GET", "classrooms", None, False),
        ("GET", f"classrooms/{session['id']}/class", None, False),
        ("GET", f"classrooms/join/{session['code']}", None, True),
        ("GET", f"classrooms/join/{session['code']}/cells?path={mine}", None, True),
        ("POST", f"classrooms/join/{session['code']}/pull", {"cell_id": listed[0]["id"], "path": mine}, False),
        ("DELETE", f"classrooms/{session['id']}", None, False),
    ):
        status, answer = await call(method, url, body, reader)
        assert (status == 403) is (not allowed), (method, url, status, answer)
        if not allowed:
            assert answer["error"] == "forbidden"
    assert (
        await call(
            "POST", f"classrooms/join/{session['code']}/pull", {"cell_id": listed[0]["id"], "path": mine}, teacher
        )
    )[0] == 200
    assert (await call("DELETE", f"classrooms/{session['id']}", None, teacher))[0] == 200


async def test_classroom_tickets_ask_for_no_permission_and_mirrors_ask_for_jupyters(
    jp_fetch, jp_root_dir, jp_serverapp
):
    """A ticket needs no Jupyter permission (the join code is its secret: see test_classroom_tickets.py for
    callers with no login at all); mirroring another server's session here needs contents:write, listing
    the mirrors contents:read."""
    path = write_notebook(jp_root_dir, "class.ipynb", ["shared = 1"])
    teacher = {"X-Test-Permissions": "contents:read,contents:write"}

    async def call(method: str, url: str, body: dict | None, headers: dict) -> tuple[int, dict]:
        try:
            r = await jp_fetch(
                *f"api/rtc/classrooms/{url}".strip("/").split("/"),
                method=method,
                body=None if body is None else json.dumps(body),
                headers=headers,
                allow_nonstandard_methods=True,
            )
            return r.code, json.loads(r.body)
        except HTTPClientError as err:
            return err.code, json.loads(err.response.body)

    status, session = await call("POST", "", {"path": path}, teacher)
    assert status == 201
    app = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    app.classroom_remote_join = True
    for role, granted in ROLES.items():
        headers = {"X-Test-Permissions": ",".join(granted)}
        status, answer = await call("POST", "tickets", {"code": session["code"]}, headers)
        assert status == 200 and answer["room"] == session["room"], (role, status, answer)
        for method, url, body, needs, then in (
            ("GET", "remote", None, "contents:read", 200),
            ("POST", "remote", {"url": "ftp://nowhere", "code": session["code"]}, "contents:write", 400),
            ("DELETE", "remote/nope", None, "contents:write", 404),
        ):
            status, answer = await call(method, url, body, headers)
            if needs in granted:
                assert status == then, (role, method, url, status, answer)
            else:
                assert status == 403 and needs in answer["message"], (role, method, url, status, answer)
