"""The HTTP document API on the standalone relay's socket: ``/api/rtc/rooms/{room}/update`` (GET, POST) and
``/api/rtc/rooms/{room}/json`` (GET), declared in :mod:`rtc_relay.endpoints`, done by
:class:`~rtc_relay.room_documents.RoomDocuments`.

A :class:`DocumentRequest` takes over a :class:`~rtc_relay.connection.Connection` whose request head names
one of those paths (and is no websocket upgrade): it checks the head (route, method, origin, token, room
name), reads the body of a POST (``Content-Length`` only, at most ``max_message_size`` bytes, each piece
within ``handshake_timeout`` seconds of the previous one), then answers once from a task of the relay and
closes the connection.

Error handling: refusals are answered with the REST error body of the catalogue
(``{"error", "message"}``, ``schema/rest-errors.json``) and logged in one line; an unexpected exception is
answered 500 and logged with its traceback. A client that goes away meanwhile costs an answer written nowhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

from rtc_common.rest_errors import ApiError

from .catalogue import RelayError
from .doc_json import parse_types
from .endpoints import DOCUMENT_ACTIONS, DOCUMENT_PREFIX
from .http import Request, response
from .names import check_room_name, decode_path
from .room_documents import RoomDocuments, decode_state_vector

if TYPE_CHECKING:
    from .server import Relay

__all__ = ["DocumentRequest", "is_document_request"]

log = logging.getLogger("rtc_relay.http")

_METHODS = {"update": ("GET", "POST"), "json": ("GET",)}


def is_document_request(request: Request) -> bool:
    """Whether ``request`` is for the document API (a websocket upgrade to such a path joins that room)."""
    return request.path.startswith(DOCUMENT_PREFIX) and not request.wants_websocket


class DocumentRequest:
    """One request of the document API, from its head to its answer."""

    def __init__(self, relay: Relay, request: Request, transport: asyncio.Transport, label: str) -> None:
        self._relay = relay
        self._request = request
        self._transport = transport
        self._label = label
        self._room = ""
        self._action = ""
        self._body = bytearray()
        self._length = 0
        self._reading = False
        self._timer: asyncio.TimerHandle | None = None

    def begin(self, rest: bytes) -> None:
        """Check the head; then read the body (``rest``: what came after the head) or answer at once."""
        try:
            self._check()
        except ApiError as exc:
            self._fail(exc)
            return
        except _MethodNotAllowed as exc:
            allowed = ", ".join(_METHODS[self._action])
            self._write(response(405, f"{exc} (allowed: {allowed})\n".encode(), Allow=allowed))
            return
        if self._request.method == "POST":
            self._reading = True
            self._arm()
            if self._request.header("expect").lower() == "100-continue" and len(rest) < self._length:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # (curl waits 1 s for it otherwise)
            self.feed(rest)
        else:
            self._start()

    def feed(self, data: bytes) -> None:
        """More bytes of the connection (the body of a POST; anything after it is ignored)."""
        if not self._reading:
            return
        self._body += data
        if len(self._body) >= self._length:
            self._reading = False
            if self._timer is not None:
                self._timer.cancel()
            del self._body[self._length :]
            self._start()
        else:
            self._arm()

    # -- the head --------------------------------------------------------------------------

    def _check(self) -> None:
        request = self._request
        relay = self._relay
        room, _, action = decode_path(request.raw_path)[len(DOCUMENT_PREFIX) :].rpartition("/")
        if action not in DOCUMENT_ACTIONS or not room:
            raise ApiError("not_found", f"no such endpoint: the document API is {DOCUMENT_PREFIX}ROOM/update or /json")
        self._room, self._action = room, action
        if request.method not in _METHODS[action]:
            raise _MethodNotAllowed(f"{request.method} is not served here")
        try:
            check_room_name(room)
        except RelayError as exc:
            raise ApiError("bad_request", exc.reason) from None
        if not relay.origin_allowed(request.header("origin")):
            raise ApiError("forbidden", "origin not allowed")
        try:
            grant = relay.access(request, room)
        except RelayError as exc:
            raise ApiError("unauthorized", exc.reason) from None
        if request.method != "POST":
            return
        if grant.access != "write":
            raise ApiError("forbidden", "read-only token: this room's document cannot be written with it")
        if request.header("transfer-encoding"):
            raise ApiError("bad_request", "send the update with a Content-Length (chunked bodies are not read)")
        try:
            self._length = int(request.header("content-length", "-1"))
        except ValueError:
            self._length = -1
        if self._length < 0:
            raise ApiError("bad_request", "a Content-Length is required")
        limit = relay.config.max_message_size
        if self._length > limit:
            raise ApiError(
                "too_large", f"the update is {self._length} bytes; at most {limit} are taken (--max-message-size)"
            )

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._relay.loop.call_later(self._relay.config.handshake_timeout, self._body_timeout)

    def _body_timeout(self) -> None:
        if self._reading:
            self._reading = False
            log.info(
                "%s: %s: the body stopped coming (%d of %d bytes)",
                self._label,
                self._request.path[:200],
                len(self._body),
                self._length,
            )
            self._transport.abort()

    # -- the answer ---------------------------------------------------------------------------

    def _start(self) -> None:
        try:
            self._relay.tasks.spawn(self._answer(), name=f"http {self._request.method} {self._room} {self._action}")
        except RuntimeError:  # the relay is stopping
            self._fail(ApiError("unavailable", "the relay is stopping"))

    async def _answer(self) -> None:
        request = self._request
        documents = RoomDocuments(self._relay)
        try:
            if self._action == "json":
                types = parse_types(request.param("types") or "")
                body = json.dumps(await documents.json(self._room, types)).encode()
                self._write(response(200, body, "application/json"))
            elif request.method == "POST":
                await documents.apply(self._room, bytes(self._body))
                self._write(response(204))
                log.debug("%s: room %r: update of %d bytes applied", self._label, self._room, len(self._body))
            else:
                update = await documents.update(self._room, decode_state_vector(request.param("sv")))
                self._write(response(200, update, "application/octet-stream"))
        except ValueError as exc:  # a bad ?types= hint
            self._fail(ApiError("bad_request", str(exc)))
        except ApiError as exc:
            self._fail(exc)
        except Exception:
            log.exception("%s: %s %s: internal error", self._label, request.method, request.path[:200])
            self._write(response(500, b'{"error": "internal", "message": "internal error"}', "application/json"))

    def _fail(self, exc: ApiError) -> None:
        request = self._request
        log.info(
            "%s: %s %s: %d %s: %s", self._label, request.method, request.path[:200], exc.status, exc.code, exc.message
        )
        self._write(response(exc.status, json.dumps(exc.body()).encode(), "application/json"))

    def _write(self, data: bytes) -> None:
        self._reading = False
        if self._timer is not None:
            self._timer.cancel()
        if not self._transport.is_closing():
            self._transport.write(data)
            self._transport.close()


class _MethodNotAllowed(Exception):
    pass
