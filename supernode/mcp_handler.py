"""The MCP server inside Jupyter: streamable HTTP at ``/api/rtc/mcp``, with Jupyter's authentication.

The ``mcp`` package's streamable HTTP transport (:class:`StreamableHTTPSessionManager`) is an ASGI app;
:class:`McpHandler` is a small tornado-to-ASGI adapter: it authenticates the request as every Jupyter
handler does (token, cookie, ``Authorization`` header), builds the ASGI scope (with itself as
``scope["jupyter.handler"]``, which the tools ask Jupyter's authorizer with), hands the body over, and
writes the answer back, flushing each part of a streamed (SSE) answer as it comes. A client that goes
away is told to the app as ``http.disconnect``. ``POST`` carries JSON-RPC messages, ``GET`` opens the
session's server-to-client stream, ``DELETE`` ends the session (the agent's presence goes at once). A session
serves only the Jupyter user who opened it: anyone else is answered 404, as for a session that does not exist.

:class:`McpService` owns the session manager and the agents' presences: :meth:`McpService.serve` runs as a
long-lived loop of the supernode's task set until it stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from importlib import import_module

from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from rtc_common.agent_presence import AgentSessions
from rtc_common.tasks import Ready, TaskSet

from .mcp_backend import LiveBackend

__all__ = ["HANDLERS", "McpService"]

log = logging.getLogger("supernode.mcp")

_SDK = ("mcp.server.streamable_http_manager", "sse_starlette.sse", "rtc_common.mcp_server")


def _import_sdk() -> list[Any]:
    return [import_module(name) for name in _SDK]


class McpService:
    """The MCP server over ``backend``. ``idle_timeout`` (s): an agent idle that long on a notebook leaves its
    presence; ``renew_interval`` (s): how often presences are renewed; ``session_timeout`` (s): an MCP session
    with no request that long is closed; ``lease_hold`` (s): a person's caret resting that long in a cell no
    longer keeps it from agents."""

    def __init__(
        self,
        backend: LiveBackend,
        tasks: TaskSet,
        *,
        idle_timeout: float,
        renew_interval: float,
        session_timeout: float,
        lease_hold: float = 60.0,
    ) -> None:
        self.backend = backend
        self.tasks = tasks
        self._starting: asyncio.Future[Any] | None = None
        self.sessions = AgentSessions(idle_timeout=idle_timeout, renew_interval=renew_interval)
        self.lease_hold = lease_hold
        self.manager: Any = None  # the mcp package's StreamableHTTPSessionManager, once serving
        self.running = False
        self.session_timeout = session_timeout
        self._owners: dict[str, tuple[str, float]] = {}  # session id -> (the user who opened it, last request)

    def may_use(self, session: str, user: str) -> bool:
        """Whether ``user`` may use ``session`` (only its opener may: anyone else is told it does not exist)."""
        owner = self._owners.get(session)
        if owner is None:
            return True  # unknown to us: the session manager answers 404
        if owner[0] != user:
            return False
        self._owners[session] = (user, time.monotonic())
        return True

    def opened(self, session: str, user: str) -> None:
        now = time.monotonic()
        for stale in [s for s, (_, seen) in self._owners.items() if now - seen > self.session_timeout]:
            del self._owners[stale]
        self._owners[session] = (user, now)

    async def ensure_running(self) -> None:
        """Start :meth:`serve` in the task set once (the first request starts it if the server did not)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.tasks.start(self.serve, "MCP server"))
        try:
            await asyncio.shield(self._starting)
        except Exception as exc:
            log.error("the MCP server cannot start (tried again on the next request): %s", exc, exc_info=exc)
            self._starting = None
            raise web.HTTPError(503, "the MCP server cannot start") from None

    async def serve(self, ready: Ready) -> None:
        """Run the session manager and the presence sweeps until cancelled.

        The ``mcp`` package (and starlette, pydantic's models of the protocol) is imported here, on a thread: a
        server whose MCP endpoint is never used does not pay for it, and the event loop never waits for it.
        """
        manager_module, sse, mcp_server = await asyncio.to_thread(_import_sdk)
        # sse_starlette would start a task of its own on this loop, with no parent, polling every 0.5 s for a
        # uvicorn shutdown; here the session manager's stop ends every stream, so it is told one runs already.
        sse._get_shutdown_state().watcher_started = True
        tools = mcp_server.NotebookTools(self.backend, self.sessions, lease_hold=self.lease_hold)
        self.manager = manager_module.StreamableHTTPSessionManager(
            app=mcp_server.build_server(tools), session_idle_timeout=self.session_timeout, max_sessions=1000
        )
        async with self.manager.run():
            self.running = True
            ready()
            try:
                await self.sessions.run()
            finally:
                self.running = False
                self.backend.close()

    def ended(self, session_key: str) -> None:
        self._owners.pop(session_key, None)
        self.sessions.end(session_key)
        self.backend.forget(session_key)


class McpHandler(APIHandler):
    """``/api/rtc/mcp``: the MCP streamable HTTP transport, bridged to its ASGI app (see the module docstring)."""

    @property
    def service(self) -> McpService:
        return self.settings["supernode_mcp"]

    def check_xsrf_cookie(self) -> None:
        # A browser's cookie alone cannot make an MCP call: the transport needs Accept and Content-Type
        # headers a cross-site form cannot send, and the token (or an XSRF header) is checked as usual.
        if not self.request.headers.get("Authorization"):
            super().check_xsrf_cookie()

    @web.authenticated
    async def post(self) -> None:
        await self._serve()

    @web.authenticated
    async def get(self) -> None:
        await self._serve()

    @web.authenticated
    async def delete(self) -> None:
        session = self.request.headers.get("Mcp-Session-Id")
        await self._serve()
        if session and self.get_status() == 200:
            self.service.ended(session)

    _gone: asyncio.Event | None = None  # set once the client went away or the answer ended

    def on_connection_close(self) -> None:
        if self._gone is not None:
            self._gone.set()

    async def _serve(self) -> None:
        await self.service.ensure_running()
        if not self.service.running:
            raise web.HTTPError(503, "the MCP server is not running")
        self._gone = asyncio.Event()
        self._started = False
        request = self.request
        user = self.current_user.username
        session = request.headers.get("Mcp-Session-Id")
        if session and not self.service.may_use(session, user):
            log.warning("MCP session %s… refused to %s: another user opened it", session[:8], user)
            self.set_status(404)
            self.set_header("Content-Type", "application/json")
            error = {"code": -32600, "message": "Session not found"}
            self.finish(json.dumps({"jsonrpc": "2.0", "id": None, "error": error}))
            return
        host, _, port = (request.host or "").partition(":")
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": request.protocol,
            "path": request.path,
            "raw_path": request.path.encode("latin-1"),
            "root_path": "",
            "query_string": (request.query or "").encode("latin-1"),
            "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.get_all()],
            "client": (request.remote_ip or "", 0),
            "server": (host, int(port) if port.isdigit() else 80),
            "state": {},
            "jupyter.handler": self,
            "mcp.caller": user,  # names the agent of a sessionless (2026-07-28) request, with its client's name
        }
        body_given = False

        async def receive() -> dict[str, Any]:
            nonlocal body_given
            if not body_given:
                body_given = True
                return {"type": "http.request", "body": request.body or b"", "more_body": False}
            await self._gone.wait()
            return {"type": "http.disconnect"}

        try:
            await self.service.manager.handle_request(scope, receive, self._send)
        finally:
            self._gone.set()
        if not self._finished:
            if not self._started:
                self.set_status(500)
            self.finish()

    async def _send(self, message: dict[str, Any]) -> None:
        if self._gone.is_set() or self._finished:
            return
        if message["type"] == "http.response.start":
            self._started = True
            self.set_status(message["status"])
            opened = dict(message.get("headers", [])).get(b"mcp-session-id")
            if opened and message["status"] < 400 and not self.request.headers.get("Mcp-Session-Id"):
                self.service.opened(opened.decode("latin-1"), self.current_user.username)
            self.clear_header("Content-Type")
            for name, value in message.get("headers", []):
                key, text = name.decode("latin-1"), value.decode("latin-1")
                if key.lower() == "content-length":
                    continue  # tornado counts what it sends (and chunks a streamed answer)
                self.add_header(key, text) if key.lower() == "set-cookie" else self.set_header(key, text)
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                self.write(body)
            try:
                if message.get("more_body"):
                    await self.flush()
                else:
                    await self.finish()
            except StreamClosedError:
                self._gone.set()


HANDLERS = [(r"/api/rtc/mcp", McpHandler)]
