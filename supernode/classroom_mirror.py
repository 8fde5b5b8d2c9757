"""A mirror of another server's classroom session, served on this server as a local read-only session.

A student whose Jupyter server is not the teacher's asks their own server to mirror the teacher's session
(:mod:`supernode.classroom_remote`). :class:`MirroredClassroom` is that session here: it has the teacher's
session id, code, teacher and ``outputs`` (so its room is ``classroom/{id}`` here too, and its projection
document, a replica of the teacher's, carries the same ``meta``), and it is registered with this server's
:class:`~supernode.classrooms.Classrooms`, so the student's interface uses it exactly as a session of this
server: join by its code, the shared cells with their diffs, pull into the student's own notebook, the
read-only room. Its :attr:`path` is the teacher's notebook as a URL on the teacher's server (never the
path of a notebook here).

Upstream, it is a pycrdt client (:class:`rtc_client.room.RoomClient`) of the teacher's room, admitted by a
ticket (:mod:`supernode.classroom_tickets`, sent as ``Authorization: Ticket``) at
``{upstream}api/rtc/classrooms/socket/{id}``; it writes nothing there. What the teacher's projection changes arrives in :attr:`doc`, which the relay room of this
server serves (the mirror is its in-process writer), so local students see the teacher's edits live.

Lifecycle: :meth:`connect` (the first connection, synced), then :meth:`serve` (this server's room, and the
follow and presence tasks, children of the server's task set):

* before the ticket expires (``renew_margin`` seconds ahead) the mirror fetches a new one with the code
  and moves to a new connection; state vectors are exchanged, so nothing is missed or applied twice;
* a dropped connection is opened again with a new ticket, with backoff (``0.5 s`` doubling to
  ``backoff_max``), for up to ``give_up`` seconds; meanwhile :attr:`state` is ``"reconnecting"``;
* the teacher ends the session (close code 4404, or a ticket request answered 404), the teacher's server
  stops admitting remote students (403), or reconnecting gives up: the mirror ends, and
  ``on_end(id, reason)`` ends it here (local students' connections close with 4404);
* either task failing in our own code is logged and ends the mirror the same way, with the reason.

Presence goes the other way: a second child task publishes, in the teacher's room, the presence of the
students in this server's room (their awareness states, with their own client ids, as the mirror's
connection's): what changed, checked every ``presence_interval`` seconds; all of it on each new
connection and every 10 s (clients drop presence not renewed within 30 s); withdrawn when they leave. So
the teacher's view of the class shows them; the teacher's relay removes them all when the mirror's
connection ends.

:meth:`end` stops all of it (idempotent): the tasks are cancelled, which closes the upstream connection;
:meth:`abandon` does the same for a mirror that never served.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from rtc_client.room import RoomClient
from rtc_client.wire import var_string, var_uint, var_uint8array

from .classroom import Classroom
from .errors import ApiError

__all__ = ["MirroredClassroom", "socket_url"]

log = logging.getLogger("supernode.classroom")

_NOT_FOUND = 4404
_BACKOFF_FIRST = 0.5  # seconds
_AWARENESS = 1
_RENEW_PRESENCE = 10.0  # seconds between announcements of unchanged presence (clients drop it after 30 s)


def socket_url(upstream: str, session_id: str) -> str:
    """The websocket URL of session ``session_id``'s room on the server at ``upstream`` (its base URL). The
    ticket goes in an ``Authorization: Ticket`` header: out of the URL and access logs, and out of what the
    teacher's server's login reads (behind JupyterHub, a ``Bearer`` credential is sent to the hub to check)."""
    scheme, rest = upstream.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}api/rtc/classrooms/socket/{quote(session_id)}"


class MirroredClassroom(Classroom):
    """The mirror of the session a ticket answer describes (``ticket``: the answer of ``POST .../tickets``).

    ``upstream``: the teacher's server's base URL (ending in ``/``); ``fetch_ticket()``: a new ticket answer,
    or :class:`ApiError`; ``timeout``: seconds a connection may take to open and sync.
    """

    def __init__(
        self,
        upstream: str,
        ticket: dict[str, Any],
        fetch_ticket: Callable[[], Awaitable[dict[str, Any]]],
        *,
        timeout: float = 10.0,
        renew_margin: float = 60.0,
        backoff_max: float = 10.0,
        give_up: float = 300.0,
        presence_interval: float = 1.0,
    ) -> None:
        session = ticket["session"]
        super().__init__(
            id=session["id"],
            code=session["code"],
            path=f"{upstream}lab/tree/{quote(session['path'])}",
            teacher=session["teacher"],
            outputs=session["outputs"],
        )
        self.upstream = upstream
        self.state = "connecting"  # connected | reconnecting | ended
        self.reconnects = 0
        self.renewals = 0  # connections moved to a new ticket before the old one expired
        self.reason = ""  # why it ended, once it did
        self._ticket = ticket
        self._life = max(1.0, float(ticket["expires"]) - time.time())  # seconds the current ticket was valid for
        self._fetch_ticket = fetch_ticket
        self._timeout = timeout
        self._renew_margin = renew_margin
        self._backoff_max = backoff_max
        self._give_up = give_up
        self._presence_interval = presence_interval
        # Awareness clocks only grow: starting from the time in ms, a new connection's clocks are above any
        # the teacher's relay gave these clients when the previous connection ended.
        self._presence_clock = int(time.time() * 1000)
        self._client: RoomClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._presence_task: asyncio.Task[None] | None = None
        self._on_end: Callable[[str, str], None] = lambda _id, _reason: None

    def describe(self) -> dict[str, Any]:
        """The session (:meth:`to_json`, as local students see it) and the mirror's own state."""
        return {
            **self.to_json(),
            "url": self.upstream,
            "state": self.state,
            "reconnects": self.reconnects,
            "renewals": self.renewals,
        }

    def project(self) -> None:
        """Nothing to project: the replica is the teacher's projection, written by the teacher's server."""

    # -- lifecycle ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the first upstream connection and wait until the replica holds the teacher's projection.

        Raises :class:`ApiError` (``remote_unreachable``, ``not_found`` for a session that ended meanwhile,
        ``forbidden`` for a refused ticket) within about twice ``timeout``.
        """
        self._client = await self._open(self._ticket)
        self.state = "connected"

    async def serve(self, relay: Any, tasks: Any, on_end: Callable[[str, str], None]) -> None:
        """Serve the replica in this server's room :attr:`room` and follow the teacher in a child of ``tasks``;
        ``on_end(id, reason)`` is called when the mirror ends on its own."""
        self._on_end = on_end
        await relay.ensure_started()
        self._connection = relay.open_direct(self.room, label=f"classroom mirror {self.code}")
        self._connection.hold("classroom session")  # released by Classroom.end
        await self._connection.ready(30.0)
        self._task = tasks.spawn(self._follow(), f"classroom mirror {self.code}")
        self._task.add_done_callback(self._followed)
        self._presence_task = tasks.spawn(self._publish_presence(), f"classroom mirror {self.code} presence")
        self._presence_task.add_done_callback(self._followed)

    def end(self) -> None:
        """Stop mirroring: cancel the follow task (which closes the upstream connection), close the room."""
        if self.ended:
            return
        self.state = "ended"
        super().end()
        presence = self._presence_task
        if presence is not None and not presence.done() and presence is not asyncio.current_task():
            presence.cancel()
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            task.cancel()  # its end closes the upstream connection

    async def abandon(self) -> None:
        """End a mirror that :meth:`connect` opened and that is not served (or failed to be): close its
        upstream connection here, as no follow task will."""
        self.end()
        if self._task is None:
            client, self._client = self._client, None
            if client is not None:
                await client.close()

    # -- following ------------------------------------------------------------------------------

    async def _follow(self) -> None:
        try:
            while not self.ended:
                client = self._client
                assert client is not None
                expires = float(self._ticket["expires"])
                renew_in = expires - time.time() - min(self._renew_margin, self._life / 5)
                try:
                    await asyncio.wait_for(client.closed.wait(), max(0.0, renew_in))
                except asyncio.TimeoutError:
                    await self._renew()
                    continue
                if client.close_code == _NOT_FOUND:
                    self._finish("the teacher ended the session")
                    return
                log.info(
                    "classroom mirror %s: the connection to %s closed (%s %s); connecting again",
                    self.code,
                    self.upstream,
                    client.close_code or "dropped",
                    client.close_reason,
                )
                await self._reconnect()
        finally:
            client, self._client = self._client, None
            if client is not None:
                await client.close()

    def _take(self, client: RoomClient, ticket: dict[str, Any]) -> RoomClient | None:
        """Make ``client`` (admitted by ``ticket``) the connection; answer the one it replaces."""
        old, self._client, self._ticket = self._client, client, ticket
        self._life = max(1.0, float(ticket["expires"]) - time.time())
        return old

    async def _renew(self) -> None:
        """A new ticket and a new connection before the current ticket expires; a failure leaves the current
        connection to run until its ticket ends (then :meth:`_reconnect` takes over)."""
        try:
            ticket = await self._fetch_ticket()
            fresh = await self._open(ticket)
        except ApiError as exc:
            if exc.code in ("not_found", "forbidden"):
                self._finish(f"the teacher's server refused a new ticket: {exc.message}")
                return
            log.warning("classroom mirror %s: renewing the ticket failed (%s); trying again", self.code, exc.message)
            await asyncio.sleep(min(self._backoff_max, max(0.5, float(self._ticket["expires"]) - time.time()) / 4))
            return
        old = self._take(fresh, ticket)
        self.renewals += 1
        if old is not None:
            await old.close()

    async def _reconnect(self) -> None:
        """Connect again with a new ticket, with backoff, for up to ``give_up`` seconds; or end the mirror."""
        self.state = "reconnecting"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._give_up
        delay = _BACKOFF_FIRST
        while not self.ended:
            try:
                ticket = await self._fetch_ticket()
                client = await self._open(ticket)
            except ApiError as exc:
                if exc.code in ("not_found", "forbidden"):
                    self._finish(f"the teacher's server: {exc.message}")
                    return
                if loop.time() + delay > deadline:
                    self._finish(f"the teacher's server could not be reached for {self._give_up:g} s: {exc.message}")
                    return
                log.info("classroom mirror %s: %s; again in %g s", self.code, exc.message, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_max)
                continue
            old = self._take(client, ticket)
            if old is not None:
                await old.close()
            self.reconnects += 1
            self.state = "connected"
            return

    async def _publish_presence(self) -> None:
        """Publish the local students' presence upstream (see the module docstring) until the mirror ends."""
        sent: dict[int, str] = {}  # client id -> state last sent on the current connection
        client: RoomClient | None = None
        renew_at = 0.0
        loop = asyncio.get_running_loop()
        while not self.ended:
            connection = self._connection
            states = {
                cid: json.dumps(state, sort_keys=True)
                for cid, state in (connection.presence() if connection is not None else {}).items()
                if "user" in state
            }
            if self._client is not client:  # a new connection holds none of them
                client, sent = self._client, {}
            if client is not None and client.connected.is_set():
                renew = loop.time() >= renew_at
                if renew:
                    renew_at = loop.time() + _RENEW_PRESENCE
                changes = {cid: text for cid, text in states.items() if renew or sent.get(cid) != text}
                changes.update({cid: "null" for cid in sent if cid not in states})
                if changes:
                    self._presence_clock += 1
                    parts = [var_uint(len(changes))]
                    for cid, text in changes.items():
                        parts += (var_uint(cid), var_uint(self._presence_clock), var_string(text))
                    client.send_raw(bytes((_AWARENESS,)) + var_uint8array(b"".join(parts)))
                    sent = states
            await asyncio.sleep(self._presence_interval)

    async def _open(self, ticket: dict[str, Any]) -> RoomClient:
        """A connection admitted by ``ticket``, synced into :attr:`doc` within ``timeout`` seconds; :class:`ApiError`
        otherwise."""
        url = socket_url(self.upstream, self.id)
        client = RoomClient(
            url, self.doc, headers={"Authorization": f"Ticket {ticket['ticket']}"}, keepalive=self._timeout
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout  # opening and syncing together
        try:
            await asyncio.wait_for(client.__aenter__(), self._timeout)
        except Exception as exc:  # refused, unreachable, timed out: nothing opened
            raise self._error(client, exc) from None
        try:
            await client.wait_synced(max(0.1, deadline - loop.time()))
        except BaseException as exc:
            await client.close()
            if isinstance(exc, Exception):
                raise self._error(client, exc) from None
            raise
        return client

    def _error(self, client: RoomClient, exc: BaseException) -> ApiError:
        if client.close_code == _NOT_FOUND:
            return ApiError("not_found", "the classroom session ended on the teacher's server")
        if client.close_code == 4401:
            return ApiError("forbidden", f"the teacher's server refused the ticket: {client.close_reason}")
        status = getattr(getattr(exc, "response", None), "status_code", None)
        detail = f"HTTP {status}" if status else (str(exc) or type(exc).__name__)
        return ApiError("remote_unreachable", f"no connection to the classroom room at {self.upstream}: {detail}")

    def _finish(self, reason: str) -> None:
        log.info("classroom mirror %s of %s ends: %s", self.code, self.upstream, reason)
        self.reason = reason
        self._on_end(self.id, reason)
        self.end()  # ended already when on_end ended it here; else (not registered) at least stopped

    def _followed(self, task: asyncio.Task[None]) -> None:
        """The follow task's end: a failure in our code is reported and ends the mirror."""
        if task.cancelled() or self.ended:
            return
        exc = task.exception()
        if exc is not None:
            log.error("classroom mirror %s of %s failed", self.code, self.upstream, exc_info=exc)
            self._finish(f"internal error: {exc!r}")
        elif not self.ended:
            self._finish("the mirror stopped following")
