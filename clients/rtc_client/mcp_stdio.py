"""``jupyter-rtc mcp``: an MCP server on stdio whose tools act on a jupyter-rtc server through its REST API.

The tools are the ones Jupyter serves at ``/api/rtc/mcp`` (:mod:`rtc_common.mcp_tools`, one definition); here
their backend is :class:`RestBackend`: each call is a request to the server's notebook API
(``/api/rtc/notebooks/…``), executions API and contents API, so the server checks the token's permissions
and answers 403 for what it lacks (a tool error naming the permission).

Presence: the agent joins the room of each notebook it works on, as a collaborator (a websocket connection
like a browser's), and shows there as "agent: <client name>" with the cell it works on; the room's awareness
it receives tells which cell a person's caret is in (the lease). It leaves a notebook's room after
``idle_timeout`` seconds without a call on it, and every room when the MCP client closes stdin.

Nothing but the protocol is written to stdout; log lines go to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from mcp.server.stdio import stdio_server
from pycrdt import Array

from rtc_common.agent_presence import GLOBAL_ROOM, AgentSessions, PresenceChannel
from rtc_common.mcp_server import NotebookTools, build_server
from rtc_common.mcp_tools import ToolError

from .errors import ApiError, ClientError, DeadlineExceeded, Forbidden
from .execution import Execution
from .jupyter import JupyterClient
from .notebook import Notebook
from .room import RoomClient

__all__ = ["RestBackend", "serve"]

log = logging.getLogger("rtc_client.mcp")


class RoomChannel:
    """The agent's connection to one notebook's room (see the module docstring)."""

    def __init__(self, notebook: Notebook) -> None:
        self.notebook = notebook
        self.shown = False
        self.hidden_since = time.monotonic()

    @property
    def alive(self) -> bool:
        return not self.notebook.room.closed.is_set()

    def states(self) -> dict[int, dict[str, Any]]:
        return self.notebook.presence.states

    def publish(self, state: dict[str, Any] | None) -> None:
        if self.alive:
            self.notebook.presence.set(state)
        self.shown = state is not None
        if state is None:
            self.hidden_since = time.monotonic()

    def cells(self) -> Array:
        return self.notebook.room.doc.get("cells", type=Array)


class Lobby:
    """The agent's state in the global awareness room (one per process: one agent)."""

    def __init__(self, room: RoomClient) -> None:
        self.room = room

    def publish(self, state: dict[str, Any] | None) -> None:
        if not self.room.closed.is_set():
            self.room.awareness.set_local_state(state)


class RestBackend:
    """The tools' backend over the REST API of ``server``."""

    def __init__(self, server: JupyterClient) -> None:
        self.server = server
        self._channels: dict[str, RoomChannel] = {}
        self._lobby: Lobby | None = None  # in the global awareness room (JupyterLab's collaborators panel)
        self._lobby_failed = False

    async def allow(self, call: Any, permission: str) -> None:
        return None  # the server checks every request

    async def folder(self, call: Any, path: str) -> dict[str, Any]:
        with _told():
            return await self.server.contents(path)

    async def cells(self, call: Any, path: str, offset: int, limit: int | None, outputs: bool) -> dict[str, Any]:
        with _told():
            return await self.server.notebooks.cells(path, offset=offset, limit=limit, outputs=outputs)

    async def insert(self, call: Any, path: str, **fields: Any) -> dict[str, Any]:
        with _told():
            return await self.server.notebooks.insert(path, **fields)

    async def change(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]:
        with _told():
            return await self.server.notebooks.change(path, cell_id, **fields)

    async def delete(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]:
        with _told():
            return await self.server.notebooks.delete(path, cell_id, **fields)

    async def move(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]:
        with _told():
            return await self.server.notebooks.move(path, cell_id, **fields)

    async def execute(self, call: Any, path: str, cell_ids: list[str]) -> dict[str, Any]:
        with _told():
            return (await self.server.execute(path, cell_ids)).record

    async def execution(self, call: Any, execution_id: str, wait: float | None) -> dict[str, Any]:
        with _told():
            execution = await self.server.execution(execution_id)
            if wait:
                try:
                    await execution.wait(wait, poll=0.1)
                except DeadlineExceeded:
                    pass
            return execution.record

    async def interrupt(self, call: Any, execution_id: str) -> dict[str, Any]:
        with _told():
            return await Execution(self.server.rest, {"id": execution_id}).interrupt()

    async def channel(self, call: Any, path: str) -> PresenceChannel | None:
        """The room of notebook ``path``, joined on first use (None if it cannot be: the tools work without)."""
        path = path.strip("/")
        channel = self._channels.get(path)
        if channel is not None and channel.alive:
            return channel
        try:
            notebook = await self.server.open_notebook(path, reconnect=True)
        except ClientError as exc:
            log.warning("cannot join the room of %s (the agent will not show in it): %s", path, exc)
            return None
        channel = self._channels[path] = RoomChannel(notebook)
        return channel

    async def lobby(self, call: Any) -> Lobby | None:
        """The agent's presence in JupyterLab's collaborators panel (the global awareness room), joined once."""
        if self._lobby is None and not self._lobby_failed:
            try:
                self._lobby = Lobby(await self.server.open_room(GLOBAL_ROOM, reconnect=True))
            except ClientError as exc:
                self._lobby_failed = True
                log.warning("cannot join %s (the agent will not show in the collaborators panel): %s", GLOBAL_ROOM, exc)
        return self._lobby

    async def leave_idle(self, idle: float) -> None:
        """Leave the rooms where the agent has not shown for ``idle`` seconds."""
        now = time.monotonic()
        for path, channel in list(self._channels.items()):
            if not channel.alive or (not channel.shown and now - channel.hidden_since >= idle):
                del self._channels[path]
                await channel.notebook.close()

    async def close(self) -> None:
        if self._lobby is not None:
            await self._lobby.room.close()
            self._lobby = None
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.publish(None)
            await channel.notebook.close()


class _told:
    """Turn the server's refusals into tool errors (their messages say what to do)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, Forbidden):
            raise ToolError(f"permission denied: {exc.message}") from None
        if isinstance(exc, ApiError):
            raise ToolError(exc.message) from None
        if isinstance(exc, ClientError):
            raise ToolError(f"the server cannot be reached or failed: {exc}") from None
        return False


async def serve(
    url: str,
    token: str | None,
    *,
    idle_timeout: float = 120.0,
    renew_interval: float = 10.0,
    lease_hold: float = 60.0,
) -> None:
    """Serve MCP on stdin/stdout until the client closes stdin.

    Raises a :class:`~rtc_client.errors.ClientError` at once if the server cannot be reached or refuses the token
    (``jupyter-rtc`` then exits with status 3 and says why), rather than failing every tool call later.
    """
    async with JupyterClient(url, token) as server:
        await server.identity()
        backend = RestBackend(server)
        sessions = AgentSessions(idle_timeout=idle_timeout, renew_interval=renew_interval)
        mcp = build_server(NotebookTools(backend, sessions, lease_hold=lease_hold))

        async def sweep() -> None:
            while True:
                await asyncio.sleep(renew_interval)
                try:
                    sessions.sweep()
                    await backend.leave_idle(idle_timeout)
                except Exception:
                    log.exception("renewing the agent's presence failed (tried again in %s s)", renew_interval)

        sweeper = asyncio.ensure_future(sweep())
        try:
            async with stdio_server() as (read, write):
                await mcp.run(read, write, mcp.create_initialization_options())
        finally:
            sweeper.cancel()
            try:
                await sweeper
            except asyncio.CancelledError:
                pass
            sessions.close()
            await backend.close()
