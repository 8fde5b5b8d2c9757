"""The relay's HTTP surface, declared once: the connection routes by it, ``spec.json`` is generated from it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DOCUMENT_ACTIONS",
    "DOCUMENT_PREFIX",
    "ENDPOINTS",
    "HEALTH",
    "METRICS",
    "ROOMS",
    "ROOM_PREFIXES",
    "Endpoint",
]


@dataclass(frozen=True)
class Endpoint:
    """One HTTP operation of the relay (path and ``method``) and its documented responses (status → description).

    ``body``: the file in ``schema/`` describing the JSON body of its 2xx (and 503) answers, if any.
    ``request_body``: the OpenAPI ``requestBody``, if any. ``errors``: its 4xx and 5xx answers carry the
    REST error body (``schema/rest-error.json``).
    """

    path: str
    summary: str
    description: str
    responses: dict[str, str]
    content_type: str = "application/json"
    parameters: tuple[dict, ...] = field(default=())
    body: str | None = None
    method: str = "get"
    request_body: dict | None = None
    errors: bool = False


HEALTH = Endpoint(
    path="/health",
    summary="Whether the relay can serve",
    description="200 while the relay accepts connections and its store writes succeed; 503 otherwise. "
    "The body says which part is failing (`status`: ok, degraded while serving with a failing store, "
    "unavailable; `store`; with --redis-url, `redis`: connected or unreachable), and counts rooms and clients.",
    responses={
        "200": "The relay is serving.",
        "503": "The relay is stopping, or its store is failing (SQLite writes fail, or Redis is unreachable: "
        "the relay still serves its connected clients and keeps their updates until Redis is back).",
    },
    body="relay-health.json",
)

METRICS = Endpoint(
    path="/metrics",
    summary="Prometheus metrics",
    description="Rooms, clients, updates and bytes in and out, store size and backlog, "
    "connections closed by reason (Prometheus text exposition format 0.0.4).",
    responses={"200": "Metrics in Prometheus text format."},
    content_type="text/plain",
)

ROOMS = Endpoint(
    path="/api/rtc/rooms",
    summary="The rooms in memory",
    description="Every room the relay holds, with its websocket clients and their users (from signed tokens, "
    "or Jupyter's user names). When the relay has tokens, a read or write token is required (?token= or "
    "'Authorization: Bearer <token>'); a signed token (--token-secret) lists only the rooms it covers.",
    responses={
        "200": "The rooms, sorted by name.",
        "401": "A valid token is required (standalone relay); the message says why (e.g. token expired).",
        "403": "The user may not read contents (Jupyter).",
    },
    body="room-list.json",
    parameters=(
        {
            "name": "token",
            "in": "query",
            "required": False,
            "description": "Write or read-only token, when the relay requires one.",
            "schema": {"type": "string"},
        },
    ),
)

_ROOM_PARAMS: tuple[dict, ...] = (
    {
        "name": "room",
        "in": "path",
        "required": True,
        "description": "Room name (schema/room-name.json): the whole rest of the path, slashes included "
        "(`team/doc-1` is its own room, distinct from `other/doc-1`), percent-decoded as UTF-8; colons are literal. "
        "Empty, over 1024 characters, not UTF-8 or holding a control character: closed with 4400 and the reason.",
        "schema": {"$ref": "#/components/schemas/RoomName"},
    },
    {
        "name": "token",
        "in": "query",
        "required": False,
        "description": "Write or read-only token, when the relay requires one "
        "(or header 'Authorization: Bearer <token>').",
        "schema": {"type": "string"},
    },
)

_ROOM_RESPONSES = {
    "101": "Switched to the websocket protocol: y-protocols sync and awareness messages (binary frames). "
    "Refusals after the upgrade use the close codes of schema/close-codes.json "
    "(4401 without a valid token: none, wrong, or a signed token expired, for another room or badly signed; "
    "4400 for an invalid room name; each with the reason).",
    "400": "Malformed upgrade request.",
    "403": "The browser origin is not allowed.",
    "426": "Not a websocket upgrade, or not websocket version 13.",
}

ROOM_PREFIXES = ("/api/collaboration/room/", "/")

DOCUMENT_PREFIX = ROOMS.path + "/"
DOCUMENT_ACTIONS = ("update", "json")  # /api/rtc/rooms/{room}/ACTION

_ACCESS = (
    "Behind the same access as the room's websocket: with tokens, one that opens the room (?token= or "
    "'Authorization: Bearer <token>'; a signed token for the room or a prefix of it); in Jupyter, contents:read "
    "(contents:write to write). A room not in memory is loaded for the request and freed after the cleanup "
    "delay unless someone joins it."
)
_DOCUMENT_PARAMS: tuple[dict, ...] = (
    {
        **_ROOM_PARAMS[0],
        "description": "Room name (schema/room-name.json), slashes included: /api/rtc/rooms/team/doc-1/update is "
        "room `team/doc-1`; percent-decoded as UTF-8.",
    },
    _ROOM_PARAMS[1],
)
_DOCUMENT_ERRORS = {
    "400": "The room name is invalid, or the update or state vector does not decode (error bad_request): "
    "nothing was applied or stored.",
    "401": "A valid token is required (standalone relay; error unauthorized); the message says why.",
    "403": "A read-only token or user tried to write, the room takes no writes from clients, or the user may not "
    "read contents (Jupyter); error forbidden.",
    "404": "The room's policy says it does not exist (a document room whose file is gone; error not_found).",
    "503": "The room cannot be loaded now (its store failing), or the relay is stopping (error unavailable).",
}
_UPDATE_PATH = DOCUMENT_PREFIX + "{room}/update"
DOCUMENT_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        path=_UPDATE_PATH,
        summary="A room's document as one Yjs update",
        description="The room's document encoded as one Yjs update (v1), with the updates it holds that still "
        "wait for their dependencies; with `sv`, only what a peer at that state vector lacks (what the "
        "y-protocols' SyncStep2 answers). Apply it with Y.applyUpdate. " + _ACCESS,
        responses={"200": "The update (application/octet-stream).", **_DOCUMENT_ERRORS},
        content_type="application/octet-stream",
        parameters=(
            *_DOCUMENT_PARAMS,
            {
                "name": "sv",
                "in": "query",
                "required": False,
                "description": "A state vector (Y.encodeStateVector), base64 (standard or URL-safe alphabet, "
                "padding optional).",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9+/_-]*={0,2}$"},
            },
        ),
        errors=True,
    ),
    Endpoint(
        path=_UPDATE_PATH,
        method="post",
        summary="Apply a Yjs update to a room's document",
        description="Applies a Yjs update (v1, the request body) to the room's document as a websocket client's "
        "update: it goes to the room's clients (with Redis, to the other relays' clients too) and is stored. "
        "An update that does not decode is refused (400) and nothing is applied or stored. " + _ACCESS,
        responses={
            "204": "Applied, fanned out and queued for the store.",
            **_DOCUMENT_ERRORS,
            "413": "The body is larger than the relay's largest message (--max-message-size; error too_large).",
        },
        content_type="application/json",
        parameters=_DOCUMENT_PARAMS,
        request_body={
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        },
        errors=True,
    ),
    Endpoint(
        path=DOCUMENT_PREFIX + "{room}/json",
        summary="A room's document as JSON",
        description="The document's top-level types as one JSON object: a Text its string, an Array a list, a Map "
        "an object, an XmlFragment its XML string. A Yjs update does not say which type a root is: `types` says it "
        "(`types=title:text,cells:array`); else a root the server's own code typed keeps that type, and any other "
        "is read by its content (entries under keys: map; characters: text; XML elements: xml; other items: "
        "array; nothing: null). " + _ACCESS,
        responses={"200": "The roots by name.", **_DOCUMENT_ERRORS},
        parameters=(
            *_DOCUMENT_PARAMS,
            {
                "name": "types",
                "in": "query",
                "required": False,
                "description": "Comma-separated NAME:KIND hints, KIND one of text, array, map, xml.",
                "schema": {
                    "type": "string",
                    "pattern": "^([^,]+:(text|array|map|xml))?(,[^,]+:(text|array|map|xml))*$",
                },
            },
        ),
        body="room-document.json",
        errors=True,
    ),
)

ENDPOINTS: tuple[Endpoint, ...] = (
    HEALTH,
    METRICS,
    ROOMS,
    Endpoint(
        path="/{room}",
        summary="Join a room (websocket)",
        description="Websocket upgrade into room `room`, speaking the y-websocket protocol.",
        responses=_ROOM_RESPONSES,
        parameters=(
            {
                **_ROOM_PARAMS[0],
                "description": _ROOM_PARAMS[0]["description"] + " The rooms named health, metrics, "
                "api/rtc/rooms and api/rtc/rooms/NAME/update or /json are joined at /api/collaboration/room/{room} "
                "(these paths answer the endpoints above to a plain HTTP request).",
                "schema": {
                    "$ref": "#/components/schemas/RoomName",
                    "not": {
                        "anyOf": [
                            {"enum": ["health", "metrics", "api/rtc/rooms"]},
                            {"pattern": "^api/rtc/rooms/.+/(update|json)$"},
                        ]
                    },
                },
            },
            *_ROOM_PARAMS[1:],
        ),
    ),
    Endpoint(
        path="/api/collaboration/room/{room}",
        summary="Join a room (websocket, Jupyter path)",
        description="The same as `/{room}`, at the path JupyterLab's collaboration frontend uses.",
        responses=_ROOM_RESPONSES,
        parameters=_ROOM_PARAMS,
    ),
    *DOCUMENT_ENDPOINTS,
)
