"""Helpers for tests against a real jupyter_server running our extensions (pytest-jupyter)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import nbformat

from rtc_client import RoomClient

# The server config of the tests is the pytest plugin's, as extensions built on us use it.
from supernode.pytest_plugin import EXTENSIONS as EXTENSIONS
from supernode.pytest_plugin import rtc_server_config as server_config

__all__ = ["EXTENSIONS", "server_config"]  # re-exported; the helpers below are imported by name


def write_notebook(root, name: str, sources: list[str], **kw: Any) -> str:
    """Write a notebook of code cells with the given sources; return its path relative to root."""
    nb = nbformat.v4.new_notebook(**kw)
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (root / name).write_text(nbformat.writes(nb), encoding="utf-8")
    return name


def read_notebook(root, name: str) -> nbformat.NotebookNode:
    return nbformat.reads((root / name).read_text(encoding="utf-8"), as_version=4)


def disk_sources(root, name: str) -> list[str] | None:
    """The cell sources of the notebook on disk, or None while it is being written."""
    try:
        return [cell.source for cell in read_notebook(root, name).cells]
    except (OSError, ValueError):
        return None


@dataclass
class Session:
    room: str
    file_id: str
    session_id: str
    status: int


class Collab:
    """Opens documents the way the JupyterLab frontend does: PUT the session, then join the room."""

    def __init__(self, fetch, port: int, base_url: str, auth_header: dict[str, str], clients: list) -> None:
        self.fetch = fetch
        self.port = port
        self.base_url = base_url
        self.auth_header = auth_header
        self._clients = clients

    async def session(self, path: str, fmt: str = "json", kind: str = "notebook") -> Session:
        r = await self.fetch(
            "api", "collaboration", "session", path, method="PUT", body=json.dumps({"format": fmt, "type": kind})
        )
        body = json.loads(r.body)
        assert body["format"] == fmt and body["type"] == kind
        return Session(f"{fmt}:{kind}:{body['fileId']}", body["fileId"], body["sessionId"], r.code)

    def url(self, room: str, session_id: str | None = None) -> str:
        query = f"?sessionId={session_id}" if session_id else ""
        return f"ws://127.0.0.1:{self.port}{self.base_url}api/collaboration/room/{room}{query}"

    async def join(self, room: str, session_id: str | None = None, headers: dict | None = None) -> RoomClient:
        client = RoomClient(self.url(room, session_id), headers=headers or self.auth_header)
        await client.__aenter__()
        self._clients.append(client)
        return client

    async def open(self, path: str, fmt: str = "json", kind: str = "notebook") -> tuple[RoomClient, Session]:
        session = await self.session(path, fmt, kind)
        client = await self.join(session.room, session.session_id)
        await client.wait_synced()
        return client, session


async def quiesce(serverapp) -> None:
    """Let queued executions finish and stop the kernels (used when a test ends)."""
    import asyncio

    executions = serverapp.web_app.settings.get("supernode_executions")
    if executions is not None:
        deadline = asyncio.get_running_loop().time() + 30
        while any(e.busy for e in executions.executors.values()) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        for executor in executions.executors.values():
            executor.close()
    for kernel_id in list(serverapp.kernel_manager.list_kernel_ids()):
        try:
            await serverapp.kernel_manager.shutdown_kernel(kernel_id, now=True)
        except Exception:
            pass  # already gone


async def live_document(serverapp, room: str):
    """The live document of ``room`` once it is loaded (a session request answers before its load is done)."""
    documents = serverapp.web_app.settings["supernode_documents"]
    await documents.session(room)
    return documents.live[room]
