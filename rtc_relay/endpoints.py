"""The relay's HTTP surface, declared once: the connection routes by it, ``spec.json`` is generated from it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ENDPOINTS", "HEALTH", "METRICS", "ROOMS", "ROOM_PREFIXES", "Endpoint"]


@dataclass(frozen=True)
class Endpoint:
    """One HTTP path of the relay and its documented responses (status → description).

    ``body``: the file in ``schema/`` describing the JSON body of its 2xx (and 503) answers, if any.
    """

    path: str
    summary: str
    description: str
    responses: dict[str, str]
    content_type: str = "application/json"
    parameters: tuple[dict, ...] = field(default=())
    body: str | None = None


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
                "description": _ROOM_PARAMS[0]["description"] + " The rooms named health, metrics and "
                "api/rtc/rooms are joined at /api/collaboration/room/{room} (these paths answer the endpoints above).",
                "schema": {
                    "$ref": "#/components/schemas/RoomName",
                    "not": {"enum": ["health", "metrics", "api/rtc/rooms"]},
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
)
