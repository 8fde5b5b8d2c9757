"""MCP clients for tests: the ``mcp`` package's own ``ClientSession`` over streamable HTTP or stdio."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, Implementation
from pycrdt import Array, Assoc, StickyIndex

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@asynccontextmanager
async def http_agent(
    url: str,
    token: str | None,
    name: str = "test agent",
    headers: dict[str, str] | None = None,
    sessionless: bool = False,
) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with the server at ``url`` (``…/api/rtc/mcp``), as client ``name``; ``headers``
    go with every request. ``sessionless``: speak the 2026-07-28 protocol (``server/discover``, no session)."""
    headers = {**(headers or {}), **({"Authorization": f"token {token}"} if token else {})}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    async with http, streamable_http_client(url, http_client=http) as (read, write):
        async with ClientSession(read, write, client_info=Implementation(name=name, version="1.0")) as session:
            await (session.discover() if sessionless else session.initialize())
            yield session


def stdio_env() -> dict[str, str]:
    """The environment of a ``jupyter-rtc`` subprocess: this checkout's packages first."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, os.path.join(ROOT, "clients"), env.get("PYTHONPATH", "")])
    return env


@asynccontextmanager
async def stdio_agent(url: str, token: str, name: str = "stdio agent", *extra: str) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with ``jupyter-rtc mcp --url URL --token TOKEN`` run as a subprocess."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "rtc_client", "mcp", "--url", url, "--token", token, *extra],
        env=stdio_env(),
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, client_info=Implementation(name=name, version="1.0")) as session:
            await session.initialize()
            yield session


def ok(result: CallToolResult) -> dict[str, Any]:
    """The structured answer of a successful tool call (fails the test with the tool's error text otherwise)."""
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert not result.is_error, text
    assert result.structured_content == json.loads(text)
    return result.structured_content


def error(result: CallToolResult) -> str:
    """The text of a tool error (fails the test if the call succeeded)."""
    text = "".join(getattr(c, "text", "") for c in result.content)
    assert result.is_error, f"expected a tool error, got {text}"
    return text


def ycells(client) -> Array:
    return client.doc.get("cells", type=Array)


def cell_sources(client) -> list[str]:
    return [str(c["source"]) for c in ycells(client)]


def cursor_in(client, cell_index: int, moved: bool = False) -> dict:
    """A JupyterLab-style caret (Yjs relative position JSON) in cell ``cell_index``'s source of ``client``'s doc,
    at its start (``moved``: at its end)."""
    text = ycells(client)[cell_index]["source"]
    typed = StickyIndex.new(text, 0, Assoc.BEFORE).to_json()["type"]
    position = {"type": typed, "tname": None, "item": None, "assoc": 0 if moved else -1}
    return {"anchor": position, "head": position, "primary": True, "empty": True}


def agents(client) -> list[dict]:
    return [s for cid, s in client.awareness.states.items() if s and "agent" in s]


async def refused_until(agent, cell: dict, timeout: float = 5.0) -> str:
    """Probe ``edit_cell`` on ``cell`` (path, cell_id) until the server refuses it for a person's caret; the refusal.
    The probe never changes anything: its expected_source_hash matches no source (source_changed otherwise)."""
    deadline = asyncio.get_running_loop().time() + timeout
    probe = {**cell, "source": "", "expected_source_hash": "0" * 64}
    while True:
        text = error(await agent.call_tool("edit_cell", probe))
        if "being edited" in text or asyncio.get_running_loop().time() > deadline:
            return text
        assert "changed since" in text, text
        await asyncio.sleep(0.02)
