"""The change feed's endpoints, declared for ``spec.json`` (see :mod:`supernode.endpoints`; handlers in
:mod:`supernode.notebook_feed_handlers`; events in ``schema/notebook-event.json``)."""

from __future__ import annotations

__all__ = ["PATHS", "SCHEMAS"]

_ERROR = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_STREAM = {
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "string",
                "description": "Server-Sent Events: per event 'id: <seq>', 'event: <type>', 'data: <JSON>' "
                "(components NotebookEvent), then a blank line; ': heartbeat' comments while nothing happens.",
            }
        }
    }
}
_PATH = {
    "name": "path",
    "in": "path",
    "required": True,
    "description": "The notebook's path, relative to the server's root (slashes included).",
    "schema": {"type": "string"},
}
_RESUME = [
    {
        "name": "since",
        "in": "query",
        "required": False,
        "description": "Resume after this event id (as Last-Event-ID does, which wins when both are given); "
        "absent or 0: start with a snapshot of the notebook.",
        "schema": {"type": "integer", "minimum": 0},
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "The id of the last event received (what an EventSource sends when it reconnects).",
        "schema": {"type": "string", "pattern": "^[0-9]*$"},
    },
    {
        "name": "timeout",
        "in": "query",
        "required": False,
        "description": "End the stream after this many seconds (default: never).",
        "schema": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400},
    },
]


def _errors(read: str) -> dict:
    return {
        "400": {"description": "since, Last-Event-ID or timeout malformed (error bad_request).", **_ERROR},
        "403": {"description": f"{read} is required (error forbidden).", **_ERROR},
        "404": {"description": "No such notebook (error not_found).", **_ERROR},
    }


PATHS: dict[str, dict] = {
    "/api/rtc/notebooks/{path}/events": {
        "get": {
            "summary": "Follow a notebook's changes and executions (Server-Sent Events)",
            "description": "A snapshot of the notebook, then one event per change of its live document (cells "
            "added, removed, moved; source patches in code points; outputs; metadata; execution state and count) "
            "and per step of its executions, each numbered (id) one more than the last. Reconnecting with "
            "Last-Event-ID (or ?since=) gives every event missed, or resync with the whole notebook when they are "
            "no longer kept (NotebookFeeds.max_events, max_bytes, linger). A subscriber that reads too slowly gets "
            "resync; one that takes in nothing for NotebookFeeds.write_timeout seconds is disconnected. Needs "
            "contents:read. Events: components NotebookEvent.",
            "parameters": [_PATH, *_RESUME],
            "responses": {"200": {"description": "The stream of events.", **_STREAM}, **_errors("contents:read")},
        }
    },
    "/api/rtc/notebooks/{path}/events/ws": {
        "get": {
            "summary": "Follow a notebook's changes and executions (websocket)",
            "description": "The events of GET /api/rtc/notebooks/{path}/events over a websocket, one text message "
            'each: {"id", "event", "data"} (components NotebookEvent); same parameters (since, timeout: the socket '
            "then closes with 1000). Closed with 1008 when the subscriber takes in nothing for "
            "NotebookFeeds.write_timeout seconds. Needs contents:read.",
            "parameters": [_PATH, *_RESUME],
            "responses": {
                "101": {"description": "Switched to the websocket protocol."},
                "400": {"description": "Not a websocket upgrade, or since or timeout malformed."},
                "403": {"description": "contents:read is required (error forbidden), or the origin is not allowed."},
                "404": {"description": "No such notebook (error not_found).", **_ERROR},
            },
        }
    },
    "/api/rtc/notebooks/{path}/kernel-messages": {
        "get": {
            "summary": "Follow the kernel messages of a notebook's executions (Server-Sent Events, for debugging)",
            "description": "Each message (iopub, shell reply, stdin) the server's executor sees while it runs the "
            "notebook's cells, as a kernel_message event naming the execution and cell that caused it. Starts with "
            "what comes next; resumable with Last-Event-ID like the change feed (NotebookFeeds.kernel_messages kept). "
            "Needs kernels:read.",
            "parameters": [_PATH, *_RESUME],
            "responses": {"200": {"description": "The stream of messages.", **_STREAM}, **_errors("kernels:read")},
        }
    },
}

SCHEMAS: dict[str, dict] = {"NotebookEvent": {"$ref": "schema/notebook-event.json"}}
