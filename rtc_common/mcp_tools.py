"""The MCP tools for notebooks: names, descriptions, input and output JSON schemas, permissions.

One definition for both transports (streamable HTTP inside Jupyter, stdio through the REST API): the
server built by :mod:`rtc_common.mcp_server` lists these and checks every call's arguments against the
input schema before a backend sees them. ``permission`` is what Jupyter's authorizer must allow:
``read`` (contents:read), ``write`` (contents:write), ``execute`` (kernels:execute).

Positions in ``edits`` are Unicode code points of the cell's current source (as Python counts them).
A cell being edited by a person (their cursor is in it) is not changed unless ``force`` is true.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["TOOLS", "ToolError", "ToolSpec", "client_name", "session_key", "tool"]


class ToolError(Exception):
    """What to tell the agent: a call that cannot be done (the message says why and what to do)."""


def client_name(call: Any) -> str:
    """The name the MCP client of ``call`` (a request context) gave in its ``clientInfo``."""
    params = getattr(getattr(call, "session", None), "client_params", None)
    info = getattr(params, "client_info", None)
    return str(getattr(info, "name", "") or "unknown client")


def session_key(call: Any) -> str:
    """The agent making ``call``: its HTTP session, else (a sessionless request) the caller the transport named
    in ``scope["mcp.caller"]`` and the client's name, else (stdio) the process and the client's name."""
    request = getattr(call, "request", None)
    headers = getattr(request, "headers", None)
    if headers is not None and headers.get("mcp-session-id"):
        return str(headers["mcp-session-id"])
    caller = request.scope.get("mcp.caller") if request is not None else None
    if caller:
        return f"user:{caller}:{client_name(call)}"
    return f"process:{client_name(call)}"


_PATH = {"type": "string", "minLength": 1, "description": "The notebook's path, relative to the server's root."}
_CELL_ID = {"type": "string", "minLength": 1, "maxLength": 64, "description": "A cell's id (read_notebook lists them)."}
_HASH = {
    "type": "string",
    "pattern": "^[0-9a-f]{64}$",
    "description": "Refuse unless the cell's source still has this sha256 (its source_hash as last read).",
}
_FORCE = {
    "type": "boolean",
    "default": False,
    "description": "Change the cell even if a person is editing it now (their cursor is in it).",
}
_OUTPUT_CHARS = {
    "type": "integer",
    "minimum": 0,
    "maximum": 100_000,
    "default": 4000,
    "description": "Longest output text per cell, in characters (longer ones keep their head and tail).",
}
_CELL_OUT = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "index": {"type": "integer"},
        "cell_type": {"enum": ["code", "markdown", "raw"]},
        "source": {"type": "string"},
        "source_hash": {"type": "string"},
        "execution_count": {"type": ["integer", "null"]},
        "execution_state": {"type": "string"},
        "outputs": {"type": "string", "description": "The outputs as text (images and HTML summarised)."},
    },
    "required": ["id", "index", "cell_type", "source", "source_hash"],
}
_CHANGE_OUT = {
    "type": "object",
    "properties": {
        "cell": _CELL_OUT,
        "version": {"type": "string", "description": "The notebook's version after the change."},
    },
    "required": ["cell", "version"],
}
_EXECUTION_OUT = {
    "type": "object",
    "properties": {
        "execution_id": {"type": "string"},
        "path": {"type": "string"},
        "status": {"enum": ["queued", "running", "ok", "error", "aborted"]},
        "finished": {"type": "boolean"},
        "abort_reason": {"type": ["string", "null"]},
        "cells": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "cell_id": {"type": "string"},
                    "status": {"type": "string"},
                    "execution_count": {"type": ["integer", "null"]},
                    "outputs": {"type": "string"},
                    "input_request": {"type": ["object", "null"]},
                },
                "required": ["cell_id", "status", "outputs"],
            },
        },
    },
    "required": ["execution_id", "path", "status", "finished", "cells"],
}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    permission: str  # read, write or execute
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]


TOOLS: list[ToolSpec] = [
    ToolSpec(
        "list_notebooks",
        "read",
        "List the notebooks and folders in a folder of the server (Jupyter's contents).",
        _object({"path": {"type": "string", "default": "", "description": "The folder ('' is the root)."}}, []),
        {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "notebooks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"path": {"type": "string"}, "last_modified": {"type": ["string", "null"]}},
                        "required": ["path"],
                    },
                },
                "folders": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["path", "notebooks", "folders"],
        },
    ),
    ToolSpec(
        "read_notebook",
        "read",
        "Read a notebook's cells, as people see it now: ids, sources and outputs as text, a page at a time "
        "(offset, limit); next_offset is where the next page starts (null after the last cell).",
        _object(
            {
                "path": _PATH,
                "offset": {"type": "integer", "minimum": 0, "default": 0},
                "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                "outputs": {"type": "boolean", "default": True, "description": "false: leave the outputs out."},
                "max_output_chars": _OUTPUT_CHARS,
            },
            ["path"],
        ),
        {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "version": {"type": "string"},
                "count": {"type": "integer", "description": "How many cells the notebook has."},
                "offset": {"type": "integer"},
                "next_offset": {"type": ["integer", "null"]},
                "cells": {"type": "array", "items": _CELL_OUT},
            },
            "required": ["path", "version", "count", "offset", "next_offset", "cells"],
        },
    ),
    ToolSpec(
        "insert_cell",
        "write",
        "Insert a cell before another cell (before), at a position (index), or at the end.",
        _object(
            {
                "path": _PATH,
                "source": {"type": "string", "default": ""},
                "cell_type": {"enum": ["code", "markdown", "raw"], "default": "code"},
                "before": _CELL_ID,
                "index": {"type": "integer", "minimum": 0},
            },
            ["path"],
        ),
        _CHANGE_OUT,
    ),
    ToolSpec(
        "edit_cell",
        "write",
        "Change a cell's source: replace it (source), or patch it (edits: [{start, end, text}], positions in "
        "code points of the current source, not overlapping). Refused while a person edits the cell, unless force.",
        _object(
            {
                "path": _PATH,
                "cell_id": _CELL_ID,
                "source": {"type": "string"},
                "edits": {
                    "type": "array",
                    "items": _object(
                        {
                            "start": {"type": "integer", "minimum": 0},
                            "end": {"type": "integer", "minimum": 0},
                            "text": {"type": "string"},
                        },
                        ["start", "end", "text"],
                    ),
                },
                "expected_source_hash": _HASH,
                "force": _FORCE,
            },
            ["path", "cell_id"],
        ),
        _CHANGE_OUT,
    ),
    ToolSpec(
        "delete_cell",
        "write",
        "Delete a cell (answers it as it was). Refused while a person edits the cell, unless force.",
        _object(
            {"path": _PATH, "cell_id": _CELL_ID, "expected_source_hash": _HASH, "force": _FORCE}, ["path", "cell_id"]
        ),
        _CHANGE_OUT,
    ),
    ToolSpec(
        "move_cell",
        "write",
        "Move a cell (it keeps its id) before another cell, to a position (index, counted without the cell), or "
        "to the end. Refused while a person edits the cell, unless force.",
        _object(
            {
                "path": _PATH,
                "cell_id": _CELL_ID,
                "before": _CELL_ID,
                "index": {"type": "integer", "minimum": 0},
                "force": _FORCE,
            },
            ["path", "cell_id"],
        ),
        _CHANGE_OUT,
    ),
    ToolSpec(
        "execute_cells",
        "execute",
        "Run code cells by id, in order, on the notebook's kernel (started if it has none); the outputs go into "
        "the notebook. Answers the execution id at once, or with wait (seconds) when it ends (or wait runs out).",
        _object(
            {
                "path": _PATH,
                "cell_ids": {"type": "array", "items": _CELL_ID, "minItems": 1},
                "wait": {"type": "number", "minimum": 0, "maximum": 600, "description": "Seconds to wait for the end."},
                "max_output_chars": _OUTPUT_CHARS,
            },
            ["path", "cell_ids"],
        ),
        _EXECUTION_OUT,
    ),
    ToolSpec(
        "get_execution",
        "read",
        "An execution's status and outputs as text; with wait (seconds), once it ends (or wait runs out).",
        _object(
            {
                "execution_id": {"type": "string", "minLength": 1},
                "wait": {"type": "number", "minimum": 0, "maximum": 600},
                "max_output_chars": _OUTPUT_CHARS,
            },
            ["execution_id"],
        ),
        _EXECUTION_OUT,
    ),
    ToolSpec(
        "interrupt_execution",
        "execute",
        "Interrupt the kernel running an execution (the cells after the interrupted one do not run).",
        _object({"execution_id": {"type": "string", "minLength": 1}}, ["execution_id"]),
        _EXECUTION_OUT,
    ),
]

_BY_NAME = {spec.name: spec for spec in TOOLS}


def tool(name: str) -> ToolSpec | None:
    return _BY_NAME.get(name)
