"""A room websocket inside jupyter_server admitted by a signed room token (a *ticket*) instead of a Jupyter
login: for clients that have no account on this server, such as another Jupyter server mirroring a room.

A Jupyter extension mounts :class:`TicketWebsocketHandler` on a route of its own, with a
:class:`TicketIssuer` as its ``issuer`` argument (``(route, TicketWebsocketHandler, {"issuer": issuer})``):
the issuer names the room a path argument stands for and holds the secrets its tickets are signed with
(:mod:`rtc_relay.tokens`, format ``rtc1.``). The ticket comes as ``Authorization: Ticket <ticket>``, as
``?ticket=``, or as ``Authorization: Bearer <ticket>``. The ``Ticket`` scheme is the one for servers that sit
behind an authenticating layer: Jupyter's identity providers read ``token`` and ``Bearer`` credentials as
logins of their own, and JupyterHub's single-user server sends each one to the hub's API to check it, so a
ticket sent as ``Bearer`` would leave the server for the hub (and fail there, with a warning) at every
connection. ``Ticket`` is read by this handler alone.

Contract:

* The connection is always read-only (its document updates are dropped; its presence flows), whatever the
  ticket's ``access`` says: a ticket grants reading one room, never writing.
* A missing, malformed, badly signed, expired or other-room ticket is accepted as a websocket and closed at
  once with 4401 and the reason (``malformed token``, ``bad signature``, ``token expired``, ``token not for
  this room``; ``a ticket is required``; or the issuer's reason when it issues none now, e.g. turned off).
  The room's policy is then asked as for any client (a room it refuses: its close code, e.g. 4404).
* The connection is closed with 4401 ``token expired`` when its ticket expires: the client fetches a new
  ticket and connects again (a ticket is short-lived, so access ends soon after the issuer stops issuing).
* Jupyter's origin check applies (a browser page of another origin is refused); a server-side client sends
  no ``Origin`` and passes. Upgrade attempts count against ``connections_per_minute`` like any room socket.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from jupyter_server.auth.decorator import allow_unauthenticated

from .catalogue import CloseCode
from .jupyter_socket import RoomWebsocketHandler
from .tokens import TokenError, verify

__all__ = ["TICKET_SCHEMES", "TicketIssuer", "TicketWebsocketHandler"]

# Authorization schemes a ticket may come with (lower case): "ticket", which no identity provider reads
# (see the module docstring), and "bearer", the relay's own token scheme.
TICKET_SCHEMES = ("ticket", "bearer")


class TicketIssuer(Protocol):
    """What a :class:`TicketWebsocketHandler` asks of the extension that mounted it."""

    def room_of(self, argument: str) -> str:
        """The room the route's path argument names (``"abc"`` → ``"classroom/abc"``)."""
        ...

    def secrets(self) -> Sequence[str]:
        """The secrets tickets are signed with now (several while rotating); empty: no ticket is valid."""
        ...

    def refusal(self) -> str | None:
        """Why no ticket is accepted now (told the client with 4401), or None."""
        ...


class TicketWebsocketHandler(RoomWebsocketHandler):
    """One ticket holder in a room (see the module docstring)."""

    def initialize(self, issuer: TicketIssuer) -> None:  # type: ignore[override]
        super().initialize()
        self.issuer = issuer
        self._refusal: str | None = None
        self._expiry = None  # the loop timer that closes the connection when its ticket expires
        self._expires: float | None = None

    @allow_unauthenticated
    async def get(self, *args: str, **kwargs: str) -> None:
        core = self.core
        await core.ensure_started()
        if not await self._attempt_allowed(core):
            return
        self.room_name = self.issuer.room_of(args[0] if args else "")
        self.label = f"#j{self.id} {self.request.remote_ip} ticket"
        ticket = self.get_argument("ticket", None)
        if ticket is None:
            scheme, _, value = self.request.headers.get("Authorization", "").partition(" ")
            ticket = value.strip() if scheme.lower() in TICKET_SCHEMES else None
        self._refusal = self._check(ticket)
        self.params = {key: self.get_argument(key) for key in self.request.query_arguments if key != "ticket"}
        # WebSocketHandler.get (the upgrade), past RoomWebsocketHandler.get and its Jupyter login
        await super(RoomWebsocketHandler, self).get(*args, **kwargs)

    def _check(self, ticket: str | None) -> str | None:
        """None when ``ticket`` opens the room now (and the expiry is noted), else the reason for the client."""
        refusal = self.issuer.refusal()
        if refusal is not None:
            return refusal
        if not ticket:
            return "a ticket is required"
        try:
            grant = verify(self.issuer.secrets(), ticket, self.room_name)
        except TokenError as exc:
            return exc.reason
        self.user = grant.user or None
        if grant.user:
            self.label = f"{self.label} {grant.user}"
        self._expires = grant.expires
        return None

    def open(self, *args: str, **kwargs: str) -> None:
        if self._refusal is not None:
            self.close(CloseCode.UNAUTHORIZED, self._refusal, detail="ticket refused")
            return
        self.can_write = False
        super().open(*args, **kwargs)
        if self._expires is not None and self.room is not None:
            loop = self.core.loop
            self._expiry = loop.call_later(max(0.0, self._expires - time.time()), self._ticket_expired)

    def _ticket_expired(self) -> None:
        self._expiry = None
        self.close(CloseCode.UNAUTHORIZED, "token expired")

    def _emit_awareness(self, action: str) -> None:
        """Ticket holders have no Jupyter identity: no jupyter-collaboration awareness event for them."""

    def on_close(self) -> None:
        self._cancel_expiry()
        super().on_close()

    def close(self, code: int | None = None, reason: str | None = None, *, detail: str = "") -> None:  # type: ignore[override]
        self._cancel_expiry()
        super().close(code, reason, detail=detail)

    def _cancel_expiry(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            self._expiry = None
