"""Fixtures for extensions that build on jupyter-rtc: a pytest plugin shipped with the package.

Enable it beside pytest-jupyter's, in the ``conftest.py`` at the top of a test suite::

    pytest_plugins = ["pytest_jupyter.jupyter_server", "supernode.pytest_plugin"]

It builds on pytest-jupyter's server fixtures (``jp_serverapp``, ``jp_fetch``, ``jp_root_dir``…): a test
module sets ``jp_server_config`` to :func:`rtc_server_config`'s value, then:

- ``rtc_open`` — ``client = await rtc_open("a.ipynb")``: opens a file the way JupyterLab does (``PUT
  /api/collaboration/session/…``, then the room's websocket) and returns a synced
  :class:`rtc_client.RoomClient` (closed at teardown). ``kind="file", fmt="text"`` for text files.
- ``rtc_document`` — ``doc = await rtc_document("a.ipynb")``: the server's live jupyter_ydoc document
  of a file (what :meth:`SupernodeExtension.get_document` returns with ``copy=False``).
- ``rtc_wait`` — ``await rtc_wait(lambda: ..., timeout=10)``: waits on a condition with a deadline.

Every wait has a deadline; nothing here sleeps on its own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

__all__ = ["rtc_server_config"]

EXTENSIONS = {"jupyter_server_fileid": True, "rtc_relay": True, "supernode": True}


def rtc_server_config(**supernode: Any) -> dict[str, Any]:
    """A ``jp_server_config`` value enabling jupyter-rtc with short delays (seconds) fit for tests."""
    return {
        "ServerApp": {"jpserver_extensions": EXTENSIONS},
        "SupernodeExtension": {"save_delay": 0.2, "save_max_wait": 1.0, "file_poll_interval": 0.2, **supernode},
        "RelayExtension": {"cleanup_delay": 0.5},
    }


@pytest.fixture
def rtc_wait() -> Callable[..., Awaitable[None]]:
    async def wait(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "the condition") -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.01)

    return wait


@pytest.fixture
def rtc_open(jp_serverapp, jp_fetch, jp_http_port, jp_base_url, jp_auth_header, jp_asyncio_loop) -> Iterator[Any]:
    from rtc_client import RoomClient

    clients: list[Any] = []

    async def open_file(path: str, *, kind: str = "notebook", fmt: str = "json", timeout: float = 10.0) -> Any:
        body = json.dumps({"format": fmt, "type": kind})
        answer = json.loads((await jp_fetch("api", "collaboration", "session", path, method="PUT", body=body)).body)
        room = f"{fmt}:{kind}:{answer['fileId']}"
        url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/collaboration/room/{room}?sessionId={answer['sessionId']}"
        client = RoomClient(url, headers=jp_auth_header)
        await client.__aenter__()
        clients.append(client)
        await client.wait_synced(timeout)
        return client

    yield open_file
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.close())


@pytest.fixture
def rtc_document(jp_serverapp) -> Callable[..., Awaitable[Any]]:
    async def document(path: str, *, kind: str = "notebook", fmt: str = "json") -> Any:
        (supernode,) = jp_serverapp.extension_manager.extension_apps["supernode"]
        return await supernode.get_document(path=path, content_type=kind, file_format=fmt, copy=False)

    return document
