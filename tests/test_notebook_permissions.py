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
            if needs <= granted:
                assert status != 403 and status < 500, (method, template, role, status, answer)
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
