"""Classrooms across servers in ``spec.json`` (:mod:`supernode.classroom_remote_handlers` serves them)."""

from __future__ import annotations

from .openapi_common import ERROR
from .openapi_common import errors as _errors
from .openapi_common import json_body as _json

__all__ = ["PATHS", "SCHEMAS"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/ClassroomRemote{name}"}


def _error(text: str) -> dict:
    return {"description": text, **_json(ERROR)}


_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
_RETRY = {"Retry-After": {"description": "Seconds to wait before asking again.", "schema": {"type": "integer"}}}

PATHS: dict[str, dict] = {
    "/api/rtc/classrooms/tickets": {
        "post": {
            "summary": "A ticket to read a classroom session's room from another server (no Jupyter login)",
            "description": "The join code is the secret: a running session's code answers a read-only signed token "
            "for its room, valid SupernodeExtension.classroom_ticket_lifetime seconds, to present at "
            "/api/rtc/classrooms/socket/{session_id}. Needs no Jupyter login; refused (403) unless the server's "
            "SupernodeExtension.classroom_remote_join is on. Wrong codes are limited per client address "
            "(classroom_ticket_failures_per_minute): past that, 429 with Retry-After.",
            "requestBody": {"required": True, **_json(_ref("TicketRequest"))},
            "responses": {
                "200": {"description": "The ticket.", **_json(_ref("Ticket"))},
                **_errors("400"),
                "403": _error("This server does not admit students of other servers (error forbidden)."),
                "404": _error("No running session has this code (error not_found)."),
                "429": {
                    "description": "Too many wrong codes from this address (error rate_limited).",
                    "headers": _RETRY,
                    **_json(ERROR),
                },
            },
        },
    },
    "/api/rtc/classrooms/socket/{session_id}": {
        "parameters": [_ID],
        "get": {
            "summary": "Read a classroom session's room with a ticket (websocket, no Jupyter login)",
            "description": "The room classroom/{session_id}, read-only (y-protocols sync and awareness). Refusals "
            "after the upgrade use the close codes of schema/close-codes.json: 4401 with the reason for a missing, "
            "malformed, badly signed, expired or other-room ticket, or when remote joining is off; 4404 for a "
            "session that ended. The connection is closed with 4401 (token expired) when its ticket expires.",
            "parameters": [
                {
                    "name": "ticket",
                    "in": "query",
                    "required": False,
                    "description": "A ticket of POST /api/rtc/classrooms/tickets (or header 'Authorization: Ticket <ticket>', "
                    "which stays out of access logs and of a JupyterHub's token checks; 'Bearer' is accepted too).",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "101": {"description": "Switched to the websocket protocol."},
                "400": {"description": "Not a websocket upgrade."},
                "403": {"description": "The browser origin is not allowed."},
                "429": {
                    "description": "Too many websocket attempts from this address (RelayExtension.connections_per_minute)."
                },
            },
        },
    },
    "/api/rtc/classrooms/remote": {
        "post": {
            "summary": "Mirror a classroom session of another Jupyter server here (student)",
            "description": "This server fetches a ticket from the teacher's server with the code, follows the session's "
            "room there and serves it here as a read-only session under the same code and id: join it, read its cells "
            "and pull them as a session of this server. Needs contents:write. 200 when this server mirrors the session "
            "already.",
            "requestBody": {"required": True, **_json(_ref("Join"))},
            "responses": {
                "200": {"description": "Mirrored already.", **_json(_ref("Mirror"))},
                "201": {"description": "Mirrored.", **_json(_ref("Mirror"))},
                **_errors("400", "403"),
                "404": _error("No running session has this code on the teacher's server (error not_found)."),
                "409": _error("The session, or its code, is one of this server's own (error conflict)."),
                "429": {
                    "description": "The teacher's server refuses this server's ticket requests for a while (error "
                    "rate_limited).",
                    "headers": _RETRY,
                    **_json(ERROR),
                },
                "502": _error(
                    "The teacher's server did not answer, answered no ticket, or its room did not open "
                    "(error remote_unreachable)."
                ),
            },
        },
        "get": {
            "summary": "The classroom sessions this server mirrors (contents:read)",
            "responses": {"200": {"description": "Mirrors.", **_json(_ref("Mirrors"))}, **_errors("403")},
        },
    },
    "/api/rtc/classrooms/remote/{session_id}": {
        "parameters": [_ID],
        "delete": {
            "summary": "Stop mirroring a session: its students here are disconnected (4404)",
            "responses": {"200": {"description": "Ended.", **_json(_ref("Mirror"))}, **_errors("403", "404")},
        },
    },
}

SCHEMAS: dict[str, dict] = {"ClassroomRemote": {"$ref": "schema/classroom-remote.json"}}
