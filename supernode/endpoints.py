"""The supernode's HTTP surface, declared once: for ``spec.json`` (see ``scripts/spec.py``)."""

from __future__ import annotations

from . import (
    classroom_endpoints,
    classroom_remote_endpoints,
    fork_endpoints,
    mcp_endpoints,
    notebook_endpoints,
    notebook_feed_endpoints,
)
from .openapi_common import ERROR as _ERROR
from .openapi_common import errors as _errors
from .openapi_common import json_body as _json

__all__ = ["PATHS"]

PATHS: dict[str, dict] = {
    "/api/collaboration/session/{path}": {
        "put": {
            "summary": "Open a document for collaboration",
            "description": "Indexes the file (jupyter_server_fileid), starts loading its room if it is not loaded, "
            "and answers the room to join and the session of the current load (of a room still loading: the "
            "session its load will have; the answer does not wait for the load). Needs contents:read. The client "
            "then joins the websocket /api/collaboration/room/{format}:{type}:{fileId}?sessionId={sessionId}, "
            "which the room admits once it is loaded, or closes with the load's error (4404, 4400, 4500, and a "
            "reason); a client whose sessionId names an earlier load is closed with 1003 (reason unknown_session).",
            "parameters": [
                {
                    "name": "path",
                    "in": "path",
                    "required": True,
                    "description": "The file's path, relative to the server's root.",
                    "schema": {"type": "string"},
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionRequest"}}},
            },
            "responses": {
                "200": {
                    "description": "The file already had an id. A file that cannot be opened as asked (not UTF-8, "
                    "not a notebook) is answered too: the room's websocket then closes with 4400 and the reason.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentSession"}}},
                },
                "201": {
                    "description": "The file was just indexed.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentSession"}}},
                },
                "400": {"description": "The body is not {format, type}."},
                "403": {"description": "The user may not read contents."},
                "404": {"description": "There is no such file."},
            },
        }
    }
}

SCHEMAS: dict[str, dict] = {
    "SessionRequest": {"$ref": "schema/session-request.json"},
    "DocumentSession": {"$ref": "schema/document-session.json"},
}


_RECORD = {"$ref": "#/components/schemas/ExecutionRecord"}
_KERNEL_REQUEST = {"$ref": "#/components/schemas/KernelRequest"}
_KERNEL_ID = {"name": "kernel_id", "in": "path", "required": True, "schema": {"type": "string"}}
_EXECUTION_ID = {
    "name": "execution_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}


_JOURNAL_FULL = {
    "503": {
        "description": "The execution journal cannot be written, e.g. its disk is full (error journal_unavailable): "
        "nothing was queued.",
        **_json(_ERROR),
    }
}


PATHS.update(
    {
        "/api/rtc/executions": {
            "post": {
                "summary": "Run cells of a notebook by id",
                "description": "Queues the cells (all code cells without cell_ids) as one execution, after those already "
                "queued for the notebook. Needs kernels:execute. Starts a kernel session for the notebook if it has none.",
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/ExecutionRequest"})},
                "responses": {
                    "202": {
                        "description": "Queued; Location is the record's URL.",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        **_json(_RECORD),
                    },
                    **_errors("400", "403", "404", "409"),
                    **_JOURNAL_FULL,
                },
            },
            "get": {
                "summary": "List executions",
                "parameters": [{"name": "path", "in": "query", "required": False, "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "Newest first.", **_json({"$ref": "#/components/schemas/ExecutionList"})}
                },
            },
        },
        "/api/rtc/executions/{execution_id}": {
            "parameters": [_EXECUTION_ID],
            "get": {
                "summary": "Read an execution record (does not consume it)",
                "responses": {"200": {"description": "The record.", **_json(_RECORD)}, **_errors("404")},
            },
            "delete": {
                "summary": "Cancel a queued execution",
                "responses": {
                    "200": {"description": "Cancelled (status aborted).", **_json(_RECORD)},
                    **_errors("404", "409"),
                },
            },
        },
        "/api/rtc/executions/{execution_id}/interrupt": {
            "parameters": [_EXECUTION_ID],
            "post": {
                "summary": "Interrupt a running execution (its kernel gets SIGINT)",
                "responses": {"200": {"description": "Interrupt sent.", **_json(_RECORD)}, **_errors("404", "409")},
            },
        },
        "/api/rtc/executions/{execution_id}/input": {
            "parameters": [_EXECUTION_ID],
            "post": {
                "summary": "Answer the input() the running cell waits for",
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/ExecutionInput"})},
                "responses": {"200": {"description": "Answered.", **_json(_RECORD)}, **_errors("400", "404", "409")},
            },
        },
        "/api/rtc/kernels/restart": {
            "post": {
                "summary": "Restart a notebook's kernel, optionally running all its cells after",
                "description": "Queued executions of the notebook are cancelled; the running one is aborted.",
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/KernelRestart"})},
                "responses": {
                    "200": {"description": "Restarted.", **_json({"$ref": "#/components/schemas/KernelRestarted"})},
                    "202": {"description": "Restarted; every code cell queued (the record).", **_json(_RECORD)},
                    **_errors("400", "404"),
                    **_JOURNAL_FULL,
                },
            },
        },
        "/api/rtc/spec.json": {
            "get": {
                "summary": "This OpenAPI document",
                "responses": {"200": {"description": "spec.json.", **_json({"type": "object"})}},
            }
        },
        "/api/kernels/{kernel_id}/execute": {
            "parameters": [_KERNEL_ID],
            "post": {
                "summary": "Server-side execution as the stock JupyterLab frontend and jupyter-server-nbmodel ask for it",
                "description": "The stock frontend's body {cell_id, document_id} (document_id is the room name "
                "json:notebook:<fileId>) runs the cell's current source: 202 with the execution record, Location "
                "/api/rtc/executions/{id}. jupyter-server-nbmodel's body {code, metadata?: {cell_id, document_id, "
                "document_path, record_timing}} runs code, in the cell when its document (by document_id, else "
                "document_path) holds it, else outside any notebook: 202 with the request, Location "
                "/api/kernels/{kernel_id}/requests/{request_id} (poll it). Needs kernels:execute.",
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/KernelExecuteRequest"})},
                "responses": {
                    "202": {
                        "description": "Queued; Location is where to read it: the record (stock body) or the request "
                        "(jupyter-server-nbmodel's body).",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        **_json({"anyOf": [_RECORD, _KERNEL_REQUEST]}),
                    },
                    **_errors("400", "403", "404"),
                    **_JOURNAL_FULL,
                },
            },
            "get": {
                "summary": "The unfinished jupyter-server-nbmodel requests of a kernel",
                "description": "Needs kernels:read.",
                "responses": {
                    "200": {
                        "description": "Queued and running.",
                        **_json({"$ref": "#/components/schemas/KernelRequests"}),
                    },
                    **_errors("403"),
                },
            },
        },
        "/api/kernels/{kernel_id}/requests/{request_id}": {
            "parameters": [
                _KERNEL_ID,
                {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "get": {
                "summary": "Poll a jupyter-server-nbmodel request (does not consume it)",
                "description": "Needs kernels:read.",
                "responses": {
                    "200": {
                        "description": "The kernel replied: status ok or error, the outputs.",
                        **_json(_KERNEL_REQUEST),
                    },
                    "202": {"description": "Queued or running (the outputs so far).", **_json(_KERNEL_REQUEST)},
                    "300": {
                        "description": "The code waits in input(): answer at Location (POST /api/kernels/{kernel_id}/input).",
                        "headers": {"Location": {"schema": {"type": "string"}}},
                        **_json(_KERNEL_REQUEST),
                    },
                    "500": {
                        "description": "It ended without a reply (error says why: the kernel died, was restarted or "
                        "shut down; cancelled; the server stopped).",
                        **_json(_KERNEL_REQUEST),
                    },
                    **_errors("403", "404"),
                },
            },
            "delete": {
                "summary": "Cancel a queued jupyter-server-nbmodel request, or interrupt it while it runs",
                "description": "Needs kernels:execute.",
                "responses": {
                    "204": {"description": "Cancelled, interrupted, or already finished."},
                    **_errors("403", "404"),
                },
            },
        },
        "/api/kernels/{kernel_id}/input": {
            "parameters": [_KERNEL_ID],
            "post": {
                "summary": "Answer the input() a cell running on the kernel waits for (jupyter-server-nbmodel)",
                "description": "Needs kernels:execute.",
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/KernelInput"})},
                "responses": {"201": {"description": "Answered."}, **_errors("400", "403", "404", "409")},
            },
        },
    }
)

SCHEMAS.update(
    {
        "ExecutionRequest": {"$ref": "schema/execution-request.json"},
        "ExecutionRecord": {"$ref": "schema/execution-record.json"},
        "ExecutionList": {"$ref": "schema/execution-list.json"},
        "ExecutionInput": {"$ref": "schema/execution-input.json"},
        "KernelRestart": {"$ref": "schema/kernel-restart.json"},
        "KernelRestarted": {"$ref": "schema/kernel-restarted.json"},
        "KernelExecuteRequest": {"$ref": "schema/kernel-execute.json"},
        "KernelRequest": {"$ref": "schema/kernel-request.json"},
        "KernelRequests": {"$ref": "schema/kernel-requests.json"},
        "KernelInput": {"$ref": "schema/kernel-input.json"},
        "Error": {"$ref": "schema/rest-error.json"},
    }
)

# -- shared tables (supernode/table_handlers.py; rows in schema/tables/{table}.v1.json) ----------------------------

_TABLE = {
    "name": "table",
    "in": "path",
    "required": True,
    "schema": {"enum": ["kernelspecs", "status", "terminals", "kernels", "sessions", "contents", "executions"]},
}
_TABLE_ROWS = {"$ref": "#/components/schemas/TableRows"}

PATHS.update(
    {
        "/api/rtc/tables": {
            "get": {
                "summary": "Where the shared tables live",
                "description": "The relay room that holds the tables (join /api/collaboration/room/{room}: one top-level "
                "Map per table, row key -> row; read-only for every client) and, per table, its row schema "
                "(schema/tables/), key field and version. Needs kernels:read.",
                "responses": {
                    "200": {
                        "description": "The room and the tables.",
                        **_json({"$ref": "#/components/schemas/TablesDescription"}),
                    },
                    **_errors("403", "503"),
                },
            }
        },
        "/api/rtc/tables/{table}": {
            "get": {
                "summary": "The rows of one table, as the shared document holds them now",
                "parameters": [_TABLE],
                "responses": {
                    "200": {"description": "The rows.", **_json(_TABLE_ROWS)},
                    **_errors("403", "404", "503"),
                },
            }
        },
        "/api/rtc/tables/{table}/refresh": {
            "post": {
                "summary": "Re-read one table from the server now",
                "description": "Re-reads the table from jupyter_server (contents: every path it lists is read again and "
                "rows of what is gone are removed), writes what changed to the shared document, and answers its rows.",
                "parameters": [_TABLE],
                "responses": {
                    "200": {"description": "The rows.", **_json(_TABLE_ROWS)},
                    **_errors("403", "404", "503"),
                },
            }
        },
    }
)

for _name in ("kernelspecs", "status", "terminals", "kernels", "sessions", "contents", "executions"):
    SCHEMAS[f"Table_{_name}"] = {"$ref": f"schema/tables/{_name}.v1.json"}

SCHEMAS.update(
    {
        "TablesDescription": {
            "type": "object",
            "properties": {
                "room": {"const": "supernode:tables"},
                "tables": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "properties": {
                            "schema": {"type": "string"},
                            "key": {"type": "string"},
                            "version": {"type": "integer"},
                        },
                        "required": ["schema", "key", "version"],
                    },
                },
            },
            "required": ["room", "tables"],
        },
        "TableRows": {
            "type": "object",
            "properties": {
                "table": {"type": "string"},
                "rows": {
                    "type": "object",
                    "description": "Row key -> row; each row validates against the table's schema "
                    "(components Table_{table}).",
                    "additionalProperties": {"type": "object"},
                },
            },
            "required": ["table", "rows"],
        },
    }
)

# declared in modules of their own
for _part in (
    fork_endpoints,
    notebook_endpoints,
    notebook_feed_endpoints,
    classroom_endpoints,
    classroom_remote_endpoints,
    mcp_endpoints,
):
    PATHS.update(_part.PATHS)
    SCHEMAS.update(_part.SCHEMAS)
