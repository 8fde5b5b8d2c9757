"""The supernode's HTTP surface, declared once: for ``spec.json`` (see ``scripts/spec.py``)."""

from __future__ import annotations

__all__ = ["PATHS"]

PATHS: dict[str, dict] = {
    "/api/collaboration/session/{path}": {
        "put": {
            "summary": "Open a document for collaboration",
            "description": "Indexes the file (jupyter_server_fileid), loads its room if it is not loaded, and answers "
            "the room to join and the session of the current load. Needs contents:read. The client then joins "
            "the websocket /api/collaboration/room/{format}:{type}:{fileId}?sessionId={sessionId}; a client whose "
            "sessionId names an earlier load is closed with 1003 (reason unknown_session).",
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


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


_RECORD = {"$ref": "#/components/schemas/ExecutionRecord"}
_ERROR = {"$ref": "#/components/schemas/Error"}
_EXECUTION_ID = {
    "name": "execution_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}


def _errors(*codes: str) -> dict:
    texts = {
        "400": "Malformed request (error bad_request).",
        "403": "Missing permission (error forbidden).",
        "404": "No such notebook, file, room, fork, cell or execution (error not_found).",
        "409": "Conflict: source_changed, not_cancellable, not_running or no_input_pending.",
        "503": "Not running in this server (error unavailable): the shared tables before the server started them, "
        "or with SupernodeExtension.tables off.",
    }
    return {code: {"description": texts[code], **_json(_ERROR)} for code in codes}


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
            "post": {
                "summary": "Server-side execution as the stock JupyterLab frontend requests it",
                "description": "Body {cell_id, document_id} (document_id is the room name json:notebook:<fileId>); "
                "jupyter-server-nbmodel's {code, metadata: {cell_id, document_id}} is accepted too (the cell's current "
                "source runs). Same execution as POST /api/rtc/executions.",
                "parameters": [{"name": "kernel_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/KernelExecuteRequest"})},
                "responses": {
                    "202": {"description": "Queued; Location is the record's URL.", **_json(_RECORD)},
                    **_errors("400", "403", "404"),
                    **_JOURNAL_FULL,
                },
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

# -- timeline, undo/redo and forks (supernode/fork_handlers.py; jupyter-collaboration's requests and answers) ---------

_ROOM = {
    "name": "roomid",
    "in": "path",
    "required": True,
    "description": "A document room, {format}:{type}:{fileId} (as PUT /api/collaboration/session answers it).",
    "schema": {"type": "string"},
}

PATHS.update(
    {
        "/api/collaboration/timeline/{path}": {
            "get": {
                "summary": "The versions of a document, and a timeline fork to show them in",
                "description": "Opens the document if needed and takes its current content as the last version. "
                "The versions are a bounded ring taken when the document was opened and saved, when executions "
                "ended, when users joined and when the file changed on disk (SupernodeExtension.timeline_versions, "
                "timeline_max_bytes); they live in memory with the room. The answer names a new timeline fork "
                "showing the last version: join /api/collaboration/room/{forkRoom} and move it with "
                "PUT /api/collaboration/undo_redo/{roomId}. The fork goes once restored, or when nobody is in it "
                "for the relay's cleanup delay. Needs contents:read.",
                "parameters": [
                    {
                        "name": "path",
                        "in": "path",
                        "required": True,
                        "description": "The file's path, relative to the server's root.",
                        "schema": {"type": "string"},
                    },
                    {"name": "format", "in": "query", "required": True, "schema": {"enum": ["json", "text", "base64"]}},
                    {"name": "type", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
                ],
                "responses": {
                    "200": {"description": "The timeline.", **_json({"$ref": "#/components/schemas/Timeline"})},
                    **_errors("400", "403", "404"),
                },
            }
        },
        "/api/collaboration/undo_redo/{roomid}": {
            "put": {
                "summary": "Move a timeline fork among the versions, or restore the version it shows",
                "description": "undo and redo move the fork steps versions back or forth (its clients see the "
                "version); restore applies the version shown to the document as a normal change (every client "
                "sees it, and it is saved), and the timeline fork goes. Needs contents:write.",
                "parameters": [
                    _ROOM,
                    {
                        "name": "action",
                        "in": "query",
                        "required": True,
                        "schema": {"enum": ["undo", "redo", "restore"]},
                    },
                    {"name": "steps", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
                    {"name": "forkRoom", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1}},
                ],
                "responses": {
                    "200": {
                        "description": "Moved, restored, or (with error set) no version that way.",
                        **_json({"$ref": "#/components/schemas/UndoRedo"}),
                    },
                    **_errors("400", "403", "404"),
                },
            }
        },
        "/api/collaboration/fork/{roomid}": {
            "get": {
                "summary": "The forks of a document room",
                "description": "Needs contents:read.",
                "parameters": [_ROOM],
                "responses": {
                    "200": {"description": "Fork room -> info.", **_json({"$ref": "#/components/schemas/ForkList"})}
                },
            },
            "put": {
                "summary": "Fork a document room",
                "description": "A new room (join /api/collaboration/room/{fork_roomid}) starting as the document; with "
                "synchronize, the document's changes flow into it. Forks live in memory until deleted (not across "
                "a restart) and keep their document's room loaded. Emits jupyter-collaboration's fork event "
                "(create). Needs contents:write.",
                "parameters": [_ROOM],
                "requestBody": {"required": True, **_json({"$ref": "#/components/schemas/ForkRequest"})},
                "responses": {
                    "201": {"description": "Created.", **_json({"$ref": "#/components/schemas/ForkCreated"})},
                    **_errors("400", "403", "404"),
                },
            },
            "delete": {
                "summary": "Delete a fork, optionally merging it back into its document first",
                "description": "roomid is the fork's room here. With merge=true, every change the fork has and the "
                "document has not is applied to the document as a normal change (every client sees it, and it is "
                "saved). Emits jupyter-collaboration's fork event (delete). Needs contents:write.",
                "parameters": [
                    {**_ROOM, "description": "The fork's room (fork_roomid)."},
                    {"name": "merge", "in": "query", "required": False, "schema": {"enum": ["true", "false"]}},
                ],
                "responses": {
                    "200": {"description": "Deleted.", **_json({"$ref": "#/components/schemas/ForkDeleted"})},
                    **_errors("400", "403", "404"),
                },
            },
        },
    }
)

SCHEMAS.update(
    {
        "Timeline": {"$ref": "schema/timeline.json"},
        "TimelineVersion": {"$ref": "schema/timeline-version.json"},
        "UndoRedo": {"$ref": "schema/undo-redo.json"},
        "ForkInfo": {"$ref": "schema/fork-info.json"},
        "ForkRequest": {"$ref": "schema/fork-request.json"},
        "ForkCreated": {"$ref": "schema/fork-created.json"},
        "ForkList": {"$ref": "schema/fork-list.json"},
        "ForkDeleted": {"$ref": "schema/fork-deleted.json"},
    }
)

from . import notebook_endpoints  # noqa: E402  (the REST notebook API, declared in its own module)

PATHS.update(notebook_endpoints.PATHS)
SCHEMAS.update(notebook_endpoints.SCHEMAS)

from . import mcp_endpoints  # noqa: E402  (the MCP endpoint, declared in its own module)

PATHS.update(mcp_endpoints.PATHS)
SCHEMAS.update(mcp_endpoints.SCHEMAS)
