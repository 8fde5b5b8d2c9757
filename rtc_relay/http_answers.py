"""What a client's HTTP request is answered before it becomes a websocket, if it does not become one.

A :class:`~rtc_relay.connection.Connection` reads the request head and hands a document API request to
its :class:`~rtc_relay.document_http.DocumentRequest`; any other request goes through :func:`answered`,
in this order:

* a method other than GET: 405;
* ``/health``: 200, or 503 when the relay is not healthy (JSON); ``/metrics``: the Prometheus text;
  ``/api/rtc/rooms``: the room list the request's credentials cover (JSON), or 401;
* a request that asks for no websocket: 426;
* a websocket attempt from an address past ``connections_per_minute`` (:mod:`rtc_relay.limits`): 429 with
  ``Retry-After``, at once or after the refusal's delay, with nothing read from the client meanwhile (the
  connection's timer answers it; its ``_refusal`` is the attempt waiting, released if the client goes);
* a websocket version other than 13: 426; a malformed ``Sec-WebSocket-Key``: 400; an origin not
  allowed: 403 (logged as a warning).

A request answered is closed with its answer (the connection's ``_reply``). These functions act on the
connection's own state, as its methods do; the websocket upgrade itself is the connection's.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from .catalogue import RelayError
from .endpoints import HEALTH, METRICS, ROOMS
from .listing import room_list

if TYPE_CHECKING:
    from .connection import Connection
    from .http import Request

__all__ = ["answered"]

log = logging.getLogger("rtc_relay.connection")


def answered(conn: Connection, request: Request) -> bool:
    """Answer ``request`` (see the module docstring) and return True; False: it is a websocket to upgrade."""
    relay = conn.relay
    if request.method != "GET":
        conn._reply(405, b"only GET is served\n", Allow="GET")
    elif request.path == HEALTH.path:
        ok, body = relay.health()
        conn._reply(200 if ok else 503, json.dumps(body).encode(), "application/json")
    elif request.path == METRICS.path:
        conn._reply(200, relay.render_metrics().encode(), "text/plain; version=0.0.4; charset=utf-8")
    elif request.path == ROOMS.path:
        try:
            grant = relay.access(request)
        except RelayError as exc:
            log.info("%s: room list refused: %s", conn.label, exc.reason)
            body = {"error": "unauthorized", "message": exc.reason}
            conn._reply(401, json.dumps(body).encode(), "application/json")
        else:
            conn._reply(200, json.dumps(room_list(relay, grant.covers)).encode(), "application/json")
    elif not request.wants_websocket:
        conn._reply(426, b"this is a Yjs websocket relay: connect with a websocket to /ROOM\n", Upgrade="websocket")
    elif not _attempt_allowed(conn):
        pass  # answered 429 (or will be, after the refusal's delay)
    elif request.header("sec-websocket-version") != "13":
        conn._reply(426, b"websocket version 13 required\n", Sec_WebSocket_Version="13")
    elif len(request.header("sec-websocket-key")) != 24:
        conn._reply(400, b"missing or malformed Sec-WebSocket-Key\n")
    elif not relay.origin_allowed(request.header("origin")):
        log.warning("%s: refused websocket from origin %r", conn.label, request.header("origin"))
        conn._reply(403, b"origin not allowed\n")
    else:
        return False
    return True


def _attempt_allowed(conn: Connection) -> bool:
    """Count a websocket attempt of the client's address; past ``connections_per_minute``, answer 429
    (after the refusal's delay, reading nothing meanwhile)."""
    refusal = conn.relay.attempts.check(_address(conn), conn.relay.loop.time())
    if refusal is None:
        return True
    if not refusal.delay:
        conn._reply(429, refusal.message.encode(), Retry_After=str(refusal.retry_after))
        return False
    conn._refusal = refusal
    assert conn._transport is not None
    conn._transport.pause_reading()
    if conn._timer is not None:
        conn._timer.cancel()  # the handshake's: this one ends sooner
    conn._timer = conn.relay.loop.call_later(refusal.delay, _refuse, conn)
    return False


def _refuse(conn: Connection) -> None:
    conn._timer = None
    refusal, conn._refusal = conn._refusal, None
    if refusal is not None:
        conn.relay.attempts.answered()
        conn._reply(429, refusal.message.encode(), Retry_After=str(refusal.retry_after))


def _address(conn: Connection) -> str:
    peer = conn._transport.get_extra_info("peername") if conn._transport is not None else None
    return str(peer[0]) if isinstance(peer, tuple) else str(peer)
