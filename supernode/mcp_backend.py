"""The MCP tools' backend inside Jupyter: in-process, on the live documents and the execution manager.

No HTTP round trip: a tool call acts on the same :class:`~supernode.document.LiveDocument` browsers edit,
through :class:`~supernode.cells.NotebookCells` (one transaction per change) and
:class:`~supernode.executions.ExecutionManager`. Permissions are Jupyter's, asked of the server's authorizer
with the handler of the HTTP request that carried the call (``scope["jupyter.handler"]``, see
:mod:`supernode.mcp_handler`): ``read`` needs contents:read, ``write`` contents:write, ``execute``
kernels:execute. An agent's presence is shown through the room's direct connection, under a Yjs client
id of its own per session and notebook.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from tornado.web import HTTPError

from rtc_common.agent_presence import GLOBAL_ROOM
from rtc_common.mcp_tools import ToolError, session_key

from .cells import NotebookCells
from .errors import ApiError

if TYPE_CHECKING:
    from pycrdt import Array

    from .document import LiveDocument
    from .documents import DocumentManager
    from .executions import ExecutionManager

__all__ = ["LiveBackend"]

log = logging.getLogger("supernode.mcp")

_PERMISSIONS = {"read": ("contents", "read"), "write": ("contents", "write"), "execute": ("kernels", "execute")}
_FINISHED = ("ok", "error", "aborted")
_LOBBIES = 1000  # agents kept in the global awareness room at most (the least recently active go first)


class LiveChannel:
    """An agent's part in the presence of one live document."""

    def __init__(self, live: LiveDocument) -> None:
        self.live = live
        self.client_id = random.getrandbits(31)  # a Yjs client id of our own (browsers draw theirs the same way)

    @property
    def alive(self) -> bool:
        return not self.live.closed.is_set()

    def states(self) -> dict[int, dict[str, Any]]:
        return self.live.presence()

    def publish(self, state: dict[str, Any] | None) -> None:
        self.live.set_presence(self.client_id, state)

    def cells(self) -> Array:
        return self.live.document.ycells


class Lobby:
    """An agent's part in the presence of ``JupyterLab:globalAwareness`` (JupyterLab's collaborators panel)."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.client_id = random.getrandbits(31)

    def publish(self, state: dict[str, Any] | None) -> None:
        if not self.connection.closed.is_set():
            self.connection.set_presence(self.client_id, state)


class LiveBackend:
    """The tools' backend over the supernode's ``documents`` and ``executions``."""

    def __init__(self, documents: DocumentManager, executions: ExecutionManager, contents_manager: Any) -> None:
        self.documents = documents
        self.executions = executions
        self.contents_manager = contents_manager
        self._channels: dict[tuple[str, str], LiveChannel] = {}
        self._lobby: Any = None  # the direct connection to JupyterLab:globalAwareness, opened on first use
        self._lobbies: dict[str, Lobby] = {}

    async def allow(self, call: Any, permission: str) -> None:
        handler = _handler(call)
        resource, action = _PERMISSIONS[permission]
        user = handler.current_user
        if not await ensure_async(handler.authorizer.is_authorized(handler, user, action, resource)):
            raise ToolError(f"permission denied: {resource}:{action} is required for this tool")

    async def folder(self, call: Any, path: str) -> dict[str, Any]:
        try:
            return await ensure_async(self.contents_manager.get(path, content=True))
        except HTTPError as exc:
            raise ToolError(f"no folder {path or '/'}: {exc.log_message or exc.reason}") from None

    async def _cells(self, path: str) -> NotebookCells:
        live = await self.documents.document_for_path(path.strip("/"))
        if live is None:
            raise ToolError(f"no notebook {path} (list_notebooks shows them)")
        return NotebookCells(live)

    async def cells(self, call: Any, path: str, offset: int, limit: int | None, outputs: bool) -> dict[str, Any]:
        cells = await self._cells(path)
        with _told():
            return cells.list(outputs=outputs, offset=offset, limit=limit)

    async def insert(self, call: Any, path: str, **fields: Any) -> dict[str, Any]:
        cells = await self._cells(path)
        with _told():
            return {"cell": cells.insert(**fields), "version": cells.version}

    async def change(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]:
        cells = await self._cells(path)
        with _told():
            return {"cell": cells.change(cell_id, **fields), "version": cells.version}

    async def delete(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]:
        cells = await self._cells(path)
        with _told():
            return {"cell": cells.delete(cell_id, **fields), "version": cells.version}

    async def move(self, call: Any, path: str, cell_id: str, **fields: Any) -> dict[str, Any]:
        cells = await self._cells(path)
        with _told():
            return {"cell": cells.move(cell_id, **fields), "version": cells.version}

    async def execute(self, call: Any, path: str, cell_ids: list[str]) -> dict[str, Any]:
        cells = await self._cells(path)
        try:
            execution = await self.executions.submit(cells.live.path, cell_ids)
        except ApiError as exc:
            raise ToolError(exc.message) from None
        return execution.to_json()

    async def execution(self, call: Any, execution_id: str, wait: float | None) -> dict[str, Any]:
        """The record of ``execution_id``; with ``wait``, once it finished or after ``wait`` seconds."""
        ended = asyncio.Event()

        def watch(record: dict[str, Any]) -> None:
            if record["id"] == execution_id and record["status"] in _FINISHED:
                ended.set()

        if wait:
            self.executions.watchers.append(watch)
        try:
            with _told():
                record = await self.executions.get(execution_id)
            if wait and record["status"] not in _FINISHED:
                try:
                    await asyncio.wait_for(ended.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                with _told():
                    record = await self.executions.get(execution_id)
        finally:
            if wait:
                self.executions.watchers.remove(watch)
        return record

    async def interrupt(self, call: Any, execution_id: str) -> dict[str, Any]:
        try:
            return await self.executions.interrupt(execution_id)
        except ApiError as exc:
            raise ToolError(exc.message) from None

    async def channel(self, call: Any, path: str) -> LiveChannel | None:
        live = await self.documents.document_for_path(path.strip("/"))
        if live is None:
            return None
        key = (session_key(call), live.path)
        channel = self._channels.get(key)
        if channel is None or channel.live is not live:
            for stale in [k for k, c in self._channels.items() if not c.alive]:
                del self._channels[stale]
            channel = self._channels[key] = LiveChannel(live)
        return channel

    async def lobby(self, call: Any) -> Lobby | None:
        """The agent's presence in the global awareness room (joined once for every agent; None if it cannot be)."""
        connection = self._lobby
        if connection is None or connection.closed.is_set():
            connection = self._lobby = self.documents.relay.open_direct(GLOBAL_ROOM, label="supernode agents")
            try:
                await connection.ready(5.0)
            except Exception as exc:  # the agents still work, without a place in the collaborators panel
                log.warning("agents cannot join %s: %s", GLOBAL_ROOM, exc)
                connection.close()
                self._lobby = None
                return None
        key = session_key(call)
        lobby = self._lobbies.pop(key, None)
        if lobby is None or lobby.connection is not connection:
            lobby = Lobby(connection)
        self._lobbies[key] = lobby  # the most recently used last
        while len(self._lobbies) > _LOBBIES:  # sessions that ended without saying so (closed when idle)
            self._lobbies.pop(next(iter(self._lobbies))).publish(None)
        return lobby

    def forget(self, session_key: str) -> None:
        """Session ``session_key`` ended: drop its channels."""
        for key in [k for k in self._channels if k[0] == session_key]:
            del self._channels[key]
        self._lobbies.pop(session_key, None)

    def close(self) -> None:
        """Leave the global awareness room (the server stops)."""
        if self._lobby is not None:
            self._lobby.close()
            self._lobby = None


class _told:
    """Turn the notebook API's errors into tool errors (their messages say what to do)."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if isinstance(exc, ApiError):
            raise ToolError(exc.message) from None
        return False


def _handler(call: Any) -> Any:
    request = getattr(call, "request", None)
    handler = request.scope.get("jupyter.handler") if request is not None else None
    if handler is None:
        raise ToolError("this server answers MCP calls only over its HTTP endpoint /api/rtc/mcp")
    return handler
