"""Jupyter's permissions on every MCP tool at /api/rtc/mcp: tools that read need contents:read, tools that change
contents:write, tools that run kernels:execute. Each tool is called by four agents (none, read, write,
execute-only) of a real Jupyter server whose authorizer grants what the request's test header says; a missing
permission is a tool error naming it, and changes nothing."""

from __future__ import annotations

import httpx2
import pytest
from jupyter_server.auth.identity import IdentityProvider, User

from helpers import eventually
from jupyter_helpers import disk_sources, server_config, write_notebook
from mcp_helpers import http_agent, ok
from test_notebook_permissions import ROLES, HeaderAuthorizer

from rtc_common.mcp_tools import TOOLS

pytestmark = pytest.mark.timeout(120)

NEEDS = {"read": "contents:read", "write": "contents:write", "execute": "kernels:execute"}


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    config["ServerApp"]["authorizer_class"] = HeaderAuthorizer
    config["ServerApp"]["identity_provider_class"] = "test_mcp_permissions.HeaderIdentity"
    return config


async def test_every_tool_asks_for_jupyters_permission(jp_root_dir, jp_http_port, jp_base_url, jp_serverapp, collab):
    path = write_notebook(jp_root_dir, "perm.ipynb", ["a = 1", "b = 2"])
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/rtc/mcp"
    token = jp_serverapp.identity_provider.token
    everything = {"X-Test-Permissions": "contents:read,contents:write,kernels:execute,kernels:read"}
    async with http_agent(url, token, "admin", everything) as admin:
        first, second = (c["id"] for c in ok(await admin.call_tool("read_notebook", {"path": path}))["cells"])
        run = ok(await admin.call_tool("execute_cells", {"path": path, "cell_ids": [first], "wait": 60}))
    arguments = {
        "list_notebooks": {},
        "read_notebook": {"path": path},
        "insert_cell": {"path": path, "source": "inserted"},
        "edit_cell": {"path": path, "cell_id": second, "source": "b = 3"},
        "delete_cell": {"path": path, "cell_id": "missing"},
        "move_cell": {"path": path, "cell_id": second, "index": 1},
        "execute_cells": {"path": path, "cell_ids": [first]},
        "get_execution": {"execution_id": run["execution_id"]},
        "interrupt_execution": {"execution_id": run["execution_id"]},
    }
    assert set(arguments) == {spec.name for spec in TOOLS}
    for role, granted in ROLES.items():
        async with http_agent(url, token, f"agent {role}", {"X-Test-Permissions": ",".join(sorted(granted))}) as agent:
            for spec in TOOLS:
                result = await agent.call_tool(spec.name, arguments[spec.name])
                text = "".join(c.text for c in result.content)
                needed = NEEDS[spec.permission]
                if needed in granted:
                    assert "permission denied" not in text, (role, spec.name, text)
                else:
                    assert result.is_error, (role, spec.name, text)
                    assert text == f"permission denied: {needed} is required for this tool", (role, spec.name)
    # Only the agent that could write changed the notebook: one insertion, one edit.
    expected = ["a = 1", "b = 3", "inserted"]
    await eventually(lambda: disk_sources(jp_root_dir, path) == expected, timeout=10, what="the file")


class HeaderIdentity(IdentityProvider):
    """The token's user, renamed to the request's ``X-Test-User`` header when it has one."""

    async def get_user(self, handler):
        user = await super()._get_user(handler)
        name = handler.request.headers.get("X-Test-User")
        return User(username=name, name=name) if user is not None and name else user


async def test_a_session_serves_only_the_user_who_opened_it(jp_http_port, jp_base_url, jp_serverapp, collab):
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/rtc/mcp"
    token = jp_serverapp.identity_provider.token
    base = {
        "Authorization": f"token {token}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "X-Test-Permissions": "contents:read",
    }
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
    }
    async with httpx2.AsyncClient(timeout=30) as http:
        opened = await http.post(url, json=initialize, headers={**base, "X-Test-User": "alice"})
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        as_session = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-11-25"}
        bob = await http.post(url, json=listing, headers={**base, **as_session, "X-Test-User": "bob"})
        assert bob.status_code == 404 and bob.json()["error"]["message"] == "Session not found"
        assert (await http.delete(url, headers={**base, **as_session, "X-Test-User": "bob"})).status_code == 404
        alice = await http.post(url, json=listing, headers={**base, **as_session, "X-Test-User": "alice"})
        assert alice.status_code == 200 and "list_notebooks" in alice.text
        assert (await http.delete(url, headers={**base, **as_session, "X-Test-User": "alice"})).status_code == 200
