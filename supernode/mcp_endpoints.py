"""The MCP endpoint's part of ``spec.json`` (:mod:`supernode.mcp_handler` serves it).

``/api/rtc/mcp`` is the Model Context Protocol's streamable HTTP transport: JSON-RPC messages, whose shapes are
the MCP specification's (its tools are :mod:`rtc_common.mcp_tools`). Declared here are the HTTP side of it:
methods, the session header, statuses and content types.
"""

from __future__ import annotations

__all__ = ["PATHS", "SCHEMAS"]

_SESSION = {
    "name": "Mcp-Session-Id",
    "in": "header",
    "required": True,
    "description": "The session, as the answer to the initialize request gave it in this header. The initialize "
    "request alone is sent without it (it opens the session), and so are the requests of the sessionless protocol "
    "(2026-07-28), whose MCP-Protocol-Version header says so.",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
_VERSION = {
    "name": "MCP-Protocol-Version",
    "in": "header",
    "required": False,
    "description": "The protocol version the session negotiated in its initialize handshake. A request with "
    "another version (2026-07-28, sessionless) is served by the MCP package's per-request transport instead.",
    "schema": {"enum": ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]},
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/JsonRpcError"}}}


def _error(text: str) -> dict:
    return {"description": text, "content": _ERROR}


def _refusal(text: str) -> dict:
    """A refusal answered as a JSON-RPC error, or as plain text (the transport's header checks)."""
    return {"description": text, "content": {**_ERROR, "text/plain": {"schema": {"type": "string"}}}}


_COMMON = {
    "403": {"description": "Not authenticated (Jupyter's token, cookie or Authorization header)."},
    "404": _error("No such session (unknown, ended or closed after mcp_session_timeout): initialize again."),
    "503": _error("Too many open sessions (or the MCP server is not running)."),
}
_NO_STREAM = {
    "description": "A request of the sessionless protocol (2026-07-28, or an unknown version): it has no "
    "session to stream or end."
}
_SSE = {
    "text/event-stream": {"schema": {"type": "string", "description": "Server-Sent Events, one JSON-RPC message each."}}
}

PATHS: dict[str, dict] = {
    "/api/rtc/mcp": {
        "post": {
            "summary": "Send MCP JSON-RPC messages (streamable HTTP)",
            "description": "The Model Context Protocol over streamable HTTP: the body is one JSON-RPC message (a "
            "request, notification or response). The client must accept application/json and text/event-stream. "
            "A request is answered as an SSE stream (or JSON) holding its response; the tools act on the live "
            "notebooks, and each checks the caller's permission (contents:read, contents:write, kernels:execute), "
            "answering a tool error when it is missing. The agent (the session, named by clientInfo.name) shows in "
            "the presence of the notebooks it works on.",
            "parameters": [_SESSION, _VERSION],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JsonRpcMessage"}}},
            },
            "responses": {
                "200": {
                    "description": "The response to the request, as SSE or JSON.",
                    "content": {**_SSE, "application/json": {"schema": {"type": "object"}}},
                },
                "202": {"description": "A notification or response: accepted."},
                "400": _refusal(
                    "Not a JSON-RPC message, not application/json, or a request other than initialize without a session."
                ),
                **_COMMON,
                "406": _error("The client does not accept both application/json and text/event-stream."),
                "413": _error("The body is too large."),
                "415": _error("The body is not application/json."),
            },
        },
        "get": {
            "summary": "Open the session's stream of server-to-client messages (SSE)",
            "parameters": [_SESSION, _VERSION],
            "responses": {
                "200": {"description": "The stream, open until the session ends.", "content": _SSE},
                "400": _error("No session header."),
                **_COMMON,
                "406": _error("The client does not accept text/event-stream."),
                "405": _NO_STREAM,
                "409": _error("The session has a stream open already."),
            },
        },
        "delete": {
            "summary": "End an MCP session",
            "description": "The agent leaves the presence of every notebook at once.",
            "parameters": [_SESSION, _VERSION],
            "responses": {
                "200": {"description": "Ended."},
                "400": _error("No session header."),
                **_COMMON,
                "405": _NO_STREAM,
            },
        },
    }
}

SCHEMAS: dict[str, dict] = {
    "JsonRpcMessage": {
        "type": "object",
        "description": "A JSON-RPC 2.0 message of the Model Context Protocol.",
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer"]},
            "method": {"type": "string"},
            "params": {"type": "object"},
            "result": {"type": "object"},
            "error": {"type": "object"},
        },
        "required": ["jsonrpc"],
    },
    "JsonRpcError": {
        "type": "object",
        "properties": {
            "jsonrpc": {"const": "2.0"},
            "id": {"type": ["string", "integer", "null"]},
            "error": {
                "type": "object",
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
                "required": ["code", "message"],
            },
        },
        "required": ["jsonrpc", "error"],
    },
}
