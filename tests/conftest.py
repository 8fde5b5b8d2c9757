"""Fixtures: real relays (in-process on port 0, or as a subprocess), real Jupyter servers, real clients.

One runner for every async test: pytest-jupyter's (its loop runs each ``async def``
test). Fixtures are sync and hand out async factories; their teardown runs on the
same loop. Do not add pytest-asyncio or anyio's pytest plugin: they fight over the loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest

from rtc_client import RoomClient
from rtc_relay import Relay, RelayConfig

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytest_jupyter.jupyter_server", "supernode.pytest_plugin"]


@pytest.fixture
def start_relay(jp_asyncio_loop) -> Iterator[Callable[..., Awaitable[Relay]]]:
    """Factory: ``relay = await start_relay(**config)`` runs a relay in the test's loop on port 0.

    Defaults: memory store, short cleanup delay. Every relay is stopped at teardown.
    """
    stack: list[Relay] = []

    async def start(**options: object) -> Relay:
        options.setdefault("port", 0)
        options.setdefault("store", "memory")
        options.setdefault("cleanup_delay", 0.2)
        relay = Relay(RelayConfig(**options))  # type: ignore[arg-type]
        await relay.__aenter__()
        stack.append(relay)
        return relay

    yield start
    for relay in reversed(stack):
        jp_asyncio_loop.run_until_complete(relay.stop())


@pytest.fixture
def relay(jp_asyncio_loop, start_relay: Callable[..., Awaitable[Relay]]) -> Relay:
    """A relay with default test settings."""
    return jp_asyncio_loop.run_until_complete(start_relay())


@pytest.fixture
def connect(jp_asyncio_loop) -> Iterator[Callable[..., Awaitable[RoomClient]]]:
    """Factory: ``client = await connect(url, **kw)`` opens a RoomClient closed at teardown."""
    clients: list[RoomClient] = []

    async def open_client(url: str, **kw: object) -> RoomClient:
        client = RoomClient(url, **kw)  # type: ignore[arg-type]
        await client.__aenter__()
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.close())


class RelayProcess:
    """``python -m rtc_relay`` in a subprocess; ``url`` once it printed its ready line."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> None:
        self.args = args
        self.prefix = list(prefix)
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.stderr_path: Path | None = None

    async def start(self, tmp: Path, deadline: float = 15.0) -> RelayProcess:
        self.stderr_path = tmp / f"relay-{os.getpid()}-{id(self)}.log"
        with open(self.stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(
                [*self.prefix, sys.executable, "-m", "rtc_relay", *self.args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=self.env,
            )
        line = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), deadline)  # type: ignore[union-attr]
        if "listening on" not in line:
            raise RuntimeError(f"relay did not start: {line!r}\n{self.stderr}")
        self.url = line.split("listening on ", 1)[1].split()[0]
        return self

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path else ""

    async def stop(self, sig: int = signal.SIGTERM, deadline: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(asyncio.to_thread(self.proc.wait), deadline)
        self.proc.stdout.close()  # type: ignore[union-attr]
        return code

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()  # type: ignore[union-attr]


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[Callable[..., Awaitable[RelayProcess]]]:
    """Factory: ``proc = await relay_process("--store", path, ...)`` starts ``python -m rtc_relay``
    (``prefix``: a command it runs under, e.g. ``setpriv`` to drop privileges)."""
    procs: list[RelayProcess] = []

    async def start(*args: str, env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> RelayProcess:
        proc = RelayProcess("--port", "0", *args, env=env, prefix=prefix)
        procs.append(proc)
        return await proc.start(tmp_path)

    yield start
    for proc in procs:
        proc.kill()


@pytest.fixture
def redis_server(jp_asyncio_loop, tmp_path: Path):
    """A started ``redis_helpers.RedisServer`` (a real redis-server on a free port), killed at teardown."""
    from redis_helpers import RedisServer

    server = RedisServer(tmp_path)
    jp_asyncio_loop.run_until_complete(server.start())
    yield server
    jp_asyncio_loop.run_until_complete(server.kill())


@pytest.fixture
def collab(jp_serverapp, jp_fetch, jp_http_port, jp_base_url, jp_auth_header, jp_asyncio_loop):
    """A :class:`jupyter_helpers.Collab` on pytest-jupyter's server (define ``jp_server_config`` with
    ``jupyter_helpers.server_config()``); its clients are closed, then queued executions finish
    and kernels stop, so nothing outlives the test's loop."""
    from jupyter_helpers import Collab, quiesce

    clients: list = []
    yield Collab(jp_fetch, jp_http_port, jp_base_url, jp_auth_header, clients)
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.close())
    jp_asyncio_loop.run_until_complete(quiesce(jp_serverapp))


@pytest.fixture
def yjs_client(jp_serverapp, jp_http_port, jp_base_url, jp_asyncio_loop) -> Iterator[Callable[..., Awaitable[Any]]]:
    """Factory: ``client = await yjs_client(room)``: a yjs + y-websocket client in node
    (:class:`test_interop_node.NodeClient`) in ``room`` of pytest-jupyter's server, synced within
    ``timeout`` seconds; every client is ended at teardown."""
    from test_interop_node import NodeClient

    clients: list[NodeClient] = []
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/collaboration/room"

    async def start(room: str, timeout: float = 10.0) -> NodeClient:
        client = await NodeClient.start(url, room, jp_serverapp.identity_provider.token)
        clients.append(client)
        await client.wait_synced(timeout)
        return client

    yield start
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.kill())


@pytest.fixture
def node_client(jp_asyncio_loop) -> Iterator[Callable[..., Awaitable[Any]]]:
    """Factory: ``n = await node_client(relay.url, room, token=None, version=None)``: a yjs + y-websocket
    client in node (:class:`test_interop_node.NodeClient`; ``version`` "1", "3" or "4" picks that
    y-websocket provider); every client is ended at teardown."""
    from test_interop_node import NodeClient

    clients: list[NodeClient] = []

    async def start(url: str, room: str, token: str | None = None, version: str | None = None) -> NodeClient:
        client = await NodeClient.start(url, room, token, version)
        clients.append(client)
        return client

    yield start
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.kill())


@pytest.fixture
def started(jp_serverapp, jp_asyncio_loop):
    """Run the extensions' start hooks (the shared tables), as a real server does once its loop runs;
    pytest-jupyter does not."""
    jp_asyncio_loop.run_until_complete(jp_serverapp.extension_manager.start_all_extensions())
    started = jp_serverapp.web_app.settings.get("supernode_services_started")
    if started is not None:  # (they start a moment after the server otherwise)
        jp_asyncio_loop.run_until_complete(started())
    return jp_serverapp


@pytest.fixture
def target(collab, jp_serverapp, jp_http_port, jp_base_url):
    """``--url`` and ``--token`` of the test's server (its kernels stopped at teardown, through ``collab``)."""
    return ["--url", f"http://127.0.0.1:{jp_http_port}{jp_base_url}", "--token", jp_serverapp.identity_provider.token]


@pytest.fixture
def server(target, jp_asyncio_loop):
    """A :class:`rtc_client.JupyterClient` of the test's server."""
    from rtc_client import JupyterClient

    client = JupyterClient(target[1], target[3])
    jp_asyncio_loop.run_until_complete(client.__aenter__())
    yield client
    jp_asyncio_loop.run_until_complete(client.__aexit__(None, None, None))
