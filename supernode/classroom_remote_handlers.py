"""REST of classrooms across servers (bodies in ``schema/classroom-remote.json``).

Teacher's server (no Jupyter login: the join code is the secret; see :mod:`supernode.classroom_tickets`):

- ``POST /api/rtc/classrooms/tickets`` ``{"code"}`` → ``{"ticket", "room", "expires", "session"}``;
  403 when ``SupernodeExtension.classroom_remote_join`` is off, 404 for a wrong code, 429 (``Retry-After``)
  after too many wrong codes from the address.
- ``GET /api/rtc/classrooms/socket/{id}?ticket=`` → the session's room, read-only (websocket,
  :class:`rtc_relay.jupyter_ticket_socket.TicketWebsocketHandler`).

Student's server (Jupyter auth; see :mod:`supernode.classroom_remote`):

- ``POST /api/rtc/classrooms/remote`` ``{"url", "code"}`` (``contents:write``) → 201 the mirror (a local
  session: ``id``, ``code``, ``room`` … and ``url``, ``state``), 200 when this server mirrors it already.
- ``GET /api/rtc/classrooms/remote`` (``contents:read``) → ``{"mirrors": [...]}``.
- ``DELETE /api/rtc/classrooms/remote/{id}`` (``contents:write``) → the mirror, ended.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from rtc_relay.jupyter_ticket_socket import TicketWebsocketHandler
from tornado import web

from .classroom_remote import RemoteClassrooms
from .classroom_tickets import ClassroomTickets, RateLimited
from .notebook_handlers import NotebookApi

__all__ = ["handlers"]


class TicketsHandler(NotebookApi):
    """``POST /api/rtc/classrooms/tickets``: reachable without a Jupyter login."""

    @property
    def tickets(self) -> ClassroomTickets:
        return self.settings["supernode_classroom_tickets"]

    def check_xsrf_cookie(self) -> None:
        """No cookie identifies the caller (the code does): there is no session a forged request could ride."""

    @allow_unauthenticated
    async def post(self) -> None:
        body = self._body()
        self._reply(200, self.tickets.issue(body.get("code"), self.request.remote_ip or ""))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RateLimited):
            self.set_header("Retry-After", str(exc.retry_after))
        super().write_error(status_code, **kwargs)


class RemoteApi(NotebookApi):
    @property
    def remote(self) -> RemoteClassrooms:
        return self.settings["supernode_remote_classrooms"]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RateLimited):
            self.set_header("Retry-After", str(exc.retry_after))
        super().write_error(status_code, **kwargs)


class RemoteHandler(RemoteApi):
    @web.authenticated
    async def post(self) -> None:
        await self._allow("write")
        body = self._body()
        mirror, new = await self.remote.join(body.get("url"), body.get("code"))
        self._reply(201 if new else 200, mirror.describe())

    @web.authenticated
    async def get(self) -> None:
        await self._allow("read")
        self._reply(200, {"mirrors": [m.describe() for m in self.remote.mirrors]})


class RemoteOneHandler(RemoteApi):
    @web.authenticated
    async def delete(self, session_id: str) -> None:
        await self._allow("write")
        self._reply(200, {**self.remote.end(session_id).describe(), "ended": True})


def handlers(tickets: ClassroomTickets) -> list[tuple]:
    """The routes, to be placed before the classroom API's own (``/api/rtc/classrooms/{id}`` would take them)."""
    return [
        (r"/api/rtc/classrooms/tickets", TicketsHandler),
        (r"/api/rtc/classrooms/socket/([^/]+)", TicketWebsocketHandler, {"issuer": tickets}),
        (r"/api/rtc/classrooms/remote", RemoteHandler),
        (r"/api/rtc/classrooms/remote/(?P<session_id>[^/]+)", RemoteOneHandler),
    ]
