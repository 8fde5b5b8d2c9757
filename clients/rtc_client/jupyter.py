"""A Jupyter server running jupyter-rtc, seen from a script: live notebooks, executions, rooms.

Usage::

    async with JupyterClient("http://127.0.0.1:8888/", token="...") as server:
        async with await server.open_notebook("analysis.ipynb") as nb:
            cell = nb.append_cell("print('hello')")
            execution = await server.execute(nb.path, [cell.id])
            record = await execution.wait(check=True)

Opening a notebook is what JupyterLab does: ``PUT /api/collaboration/session/{path}`` answers the room
(``json:notebook:<fileId>``) and the session of the current load, then the client joins the room's
websocket and waits for the first sync. Any other room (e.g. the server's shared tables) is joined
with :meth:`JupyterClient.open_room`.

Resource handling: ``async with`` owns the HTTP client; each notebook or room opened is owned by the
caller (close it, or use it as ``async with``).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import error_for_connect
from .execution import Execution
from .notebook import Notebook
from .notebook_events import NotebookEvents
from .notebook_api import NotebookApi
from .rest import RestClient, quote_path
from .room import RoomClient
from .tables import ROOM as TABLES_ROOM
from .tables import LiveTables, plain

__all__ = ["JupyterClient", "source_hash"]


def source_hash(source: str) -> str:
    """The hash of a cell source as ``source_hashes`` of an execution request wants it."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class JupyterClient:
    """``url``: the server's base URL (``http://host:port/base/``); ``token``: its token, if any."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self.token = token
        self.rest = RestClient(self.url, token, timeout=timeout)
        self.notebooks = NotebookApi(self.rest)  # the REST notebook API (cells by id, no room joined)

    async def __aenter__(self) -> JupyterClient:
        await self.rest.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.rest.close()

    def websocket_url(self, room: str, session_id: str | None = None) -> str:
        """The websocket URL of ``room`` (``?sessionId=`` for a document room)."""
        parts = urlsplit(self.url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}api/collaboration/room/{room}"
        return urlunsplit((scheme, parts.netloc, path, f"sessionId={session_id}" if session_id else "", ""))

    async def identity(self) -> dict[str, Any]:
        """``GET /api/me``: who the server takes us for (``username``, ``name``, ``display_name``, ``color`` …;
        under JupyterHub, the hub user). JupyterLab publishes this as ``{"user": identity}`` in a room's
        presence; ``room.awareness.set_local_state({"user": await server.identity()})`` does the same."""
        _, answer, _ = await self.rest.request("GET", "api/me")
        return answer["identity"]

    # -- rooms and documents ------------------------------------------------------------------

    async def open_room(
        self, room: str, *, session_id: str | None = None, reconnect: bool = True, timeout: float = 10.0
    ) -> RoomClient:
        """Join ``room`` (any room name, e.g. ``supernode:tables`` whose document holds one top-level map
        per shared table, keyed by row id) and wait for its first sync."""
        return await join(self.websocket_url(room, session_id), self.token, reconnect, timeout)

    async def open_notebook(
        self, path: str, *, reconnect: bool = True, timeout: float = 10.0, whole: bool = True
    ) -> Notebook:
        """Open the notebook at ``path`` as a live :class:`~rtc_client.notebook.Notebook`. With ``whole``
        (the default), return once it holds the whole file: a notebook with large outputs is sent in
        stages, its cells first (``whole=False`` returns then; :meth:`Notebook.whole` waits for the rest).
        ``timeout`` bounds each of the two waits."""
        session = await self.session(path)
        room = f"json:notebook:{session['fileId']}"
        client = await join(self.websocket_url(room, session["sessionId"]), self.token, reconnect, timeout)
        notebook = Notebook(client, path=path, session_id=session["sessionId"], file_id=session["fileId"], server=self)
        if whole:
            try:
                await notebook.whole(timeout)
            except BaseException:
                await notebook.close()
                raise
        return notebook

    def notebook_events(
        self, path: str, *, since: int | None = None, timeout: float | None = None, reconnect: bool = True
    ) -> NotebookEvents:
        """The change feed of notebook ``path`` (:class:`~rtc_client.notebook_events.NotebookEvents`): a
        ``snapshot``, then every change and execution event; resumes by itself after a dropped connection."""
        return NotebookEvents(self.url, path, self.token, since=since, timeout=timeout, reconnect=reconnect)

    def kernel_messages(self, path: str, *, timeout: float | None = None) -> NotebookEvents:
        """The kernel messages the server's executor sees for notebook ``path`` (``kernel_message`` events)."""
        return NotebookEvents(self.url, path, self.token, timeout=timeout, kind="kernel-messages")

    async def session(self, path: str, file_format: str = "json", file_type: str = "notebook") -> dict[str, Any]:
        """``PUT /api/collaboration/session/{path}``: ``{"format", "type", "fileId", "sessionId"}``."""
        body = {"format": file_format, "type": file_type}
        _, answer, _ = await self.rest.request("PUT", f"api/collaboration/session/{quote_path(path)}", body)
        return answer

    async def contents(self, path: str = "", *, content: bool = True) -> dict[str, Any]:
        """``GET /api/contents/{path}``: Jupyter's model of a file or folder (a folder's entries with ``content``)."""
        params = {"content": "1" if content else "0"}
        _, answer, _ = await self.rest.request("GET", f"api/contents/{quote_path(path.strip('/'))}", params=params)
        return answer

    async def tables(self, *, reconnect: bool = True, timeout: float = 10.0) -> LiveTables:
        """The server's shared tables, live (:class:`~rtc_client.tables.LiveTables`; read-only)."""
        return LiveTables(await self.open_room(TABLES_ROOM, reconnect=reconnect, timeout=timeout))

    async def table(self, name: str, *, refresh: bool = False) -> dict[str, dict[str, Any]]:
        """One table's rows (key -> row) over REST; ``refresh`` makes the server re-read it first."""
        if refresh:
            _, answer, _ = await self.rest.request("POST", f"api/rtc/tables/{quote_path(name)}/refresh", {})
        else:
            _, answer, _ = await self.rest.request("GET", f"api/rtc/tables/{quote_path(name)}")
        return {key: plain(row) for key, row in answer["rows"].items()}

    async def rooms(self) -> list[dict[str, Any]]:
        """The relay's rooms in memory: ``[{"name", "clients", "loaded"}]``."""
        _, answer, _ = await self.rest.request("GET", "api/rtc/rooms")
        return answer["rooms"]

    async def spec(self) -> dict[str, Any]:
        """The server's OpenAPI document."""
        _, answer, _ = await self.rest.request("GET", "api/rtc/spec.json")
        return answer

    # -- executions ----------------------------------------------------------------------------

    async def execute(
        self, path: str, cell_ids: list[str] | None = None, *, source_hashes: dict[str, str] | None = None
    ) -> Execution:
        """Queue cells of ``path`` by id (every code cell when ``cell_ids`` is None) as one execution.

        ``source_hashes`` (cell id → :func:`source_hash` of the source you saw) makes the server refuse
        with :class:`~rtc_client.errors.SourceChanged` if a cell was edited since.
        """
        body: dict[str, Any] = {"path": path}
        if cell_ids is not None:
            body["cell_ids"] = list(cell_ids)
        if source_hashes:
            body["source_hashes"] = source_hashes
        _, record, _ = await self.rest.request("POST", "api/rtc/executions", body)
        return Execution(self.rest, record)

    async def execution(self, execution_id: str) -> Execution:
        """The execution with this id (its record read now)."""
        _, record, _ = await self.rest.request("GET", f"api/rtc/executions/{execution_id}")
        return Execution(self.rest, record)

    async def executions(self, path: str | None = None) -> list[dict[str, Any]]:
        """Execution records, newest first (of one notebook with ``path``)."""
        _, answer, _ = await self.rest.request("GET", "api/rtc/executions", params={"path": path} if path else None)
        return answer["executions"]

    async def restart_kernel(self, path: str, *, run_all: bool = False) -> Execution | None:
        """Restart the notebook's kernel; with ``run_all`` every code cell is queued (returned)."""
        status, answer, _ = await self.rest.request(
            "POST", "api/rtc/kernels/restart", {"path": path, "run_all": run_all}
        )
        return Execution(self.rest, answer) if status == 202 else None


async def join(url: str, token: str | None, reconnect: bool, timeout: float) -> RoomClient:
    """A :class:`RoomClient` of ``url``, connected and synced; errors of the catalogue otherwise."""
    headers = {"Authorization": f"token {token}"} if token else None
    client = RoomClient(url, headers=headers, reconnect=reconnect)
    try:
        await client.__aenter__()
    except Exception as exc:
        raise error_for_connect(exc, url) from None
    try:
        await client.wait_synced(timeout)
    except BaseException:
        await client.close()
        raise
    return client
