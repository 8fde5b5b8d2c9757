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
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "format": {"enum": ["json", "text", "base64"]},
                                "type": {"type": "string", "examples": ["notebook", "file"]},
                            },
                            "required": ["format", "type"],
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The file already had an id.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentSession"}}},
                },
                "201": {
                    "description": "The file was just indexed.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DocumentSession"}}},
                },
                "400": {"description": "The body is not {format, type}, or the file is not of that format."},
                "403": {"description": "The user may not read contents."},
                "404": {"description": "There is no such file."},
            },
        }
    }
}

SCHEMAS: dict[str, dict] = {
    "DocumentSession": {
        "type": "object",
        "properties": {
            "format": {"type": "string"},
            "type": {"type": "string"},
            "fileId": {"type": "string"},
            "sessionId": {"type": "string", "description": "Names the current load of the document."},
        },
        "required": ["format", "type", "fileId", "sessionId"],
    }
}
