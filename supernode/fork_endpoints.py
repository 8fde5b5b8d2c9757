"""The timeline, undo/redo and forks' part of ``spec.json`` (:mod:`supernode.fork_handlers` serves it, with
jupyter-collaboration's requests and answers)."""

from __future__ import annotations

from .openapi_common import errors as _errors
from .openapi_common import json_body as _json

__all__ = ["PATHS", "SCHEMAS"]

PATHS: dict[str, dict] = {}
SCHEMAS: dict[str, dict] = {}

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
