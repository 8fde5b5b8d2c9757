"""The classroom API's part of ``spec.json`` (:mod:`supernode.classroom_handlers` serves it)."""

from __future__ import annotations

from .openapi_common import errors as _errors
from .openapi_common import json_body as _json

__all__ = ["PATHS", "SCHEMAS"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/Classroom{name}"}


_ID = {"name": "session_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CODE = {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}

PATHS: dict[str, dict] = {
    "/api/rtc/classrooms": {
        "post": {
            "summary": "Start a classroom session on a notebook (teacher)",
            "description": "Its shared cells (metadata jupyter-rtc.shared) are projected live into a read-only room; "
            "students join with the code. Needs contents:write.",
            "requestBody": {"required": True, **_json(_ref("Start"))},
            "responses": {"201": {"description": "Started.", **_json(_ref("Session"))}, **_errors("400", "403", "404")},
        },
        "get": {
            "summary": "The server's classroom sessions (teacher: contents:write)",
            "responses": {"200": {"description": "Sessions.", **_json(_ref("List"))}, **_errors("403")},
        },
    },
    "/api/rtc/classrooms/{session_id}": {
        "parameters": [_ID],
        "delete": {
            "summary": "End a classroom session (teacher): students' connections to its room close",
            "responses": {"200": {"description": "Ended.", **_json(_ref("Session"))}, **_errors("403", "404")},
        },
    },
    "/api/rtc/classrooms/{session_id}/class": {
        "parameters": [_ID],
        "get": {
            "summary": "The class: who is in the room, who follows the teacher, who pulled which cell (teacher)",
            "description": "Students present in the session's room now (from its presence) and those who pulled "
            "a cell; for each, whether they follow the teacher and which shared cells they have the latest of.",
            "responses": {"200": {"description": "The class.", **_json(_ref("Class"))}, **_errors("403", "404")},
        },
    },
    "/api/rtc/classrooms/join/{code}": {
        "parameters": [_CODE],
        "get": {
            "summary": "The session of a join code (student)",
            "responses": {"200": {"description": "The session.", **_json(_ref("Session"))}, **_errors("403", "404")},
        },
    },
    "/api/rtc/classrooms/join/{code}/cells": {
        "parameters": [_CODE],
        "get": {
            "summary": "The shared cells, marked changed since the student last pulled them, with diffs",
            "parameters": [
                {
                    "name": "path",
                    "in": "query",
                    "required": False,
                    "description": "The student's notebook, to compare with.",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {"200": {"description": "The cells.", **_json(_ref("Cells"))}, **_errors("403", "404")},
        },
    },
    "/api/rtc/classrooms/join/{code}/pull": {
        "parameters": [_CODE],
        "post": {
            "summary": "Pull the teacher's version of a shared cell into the student's own notebook",
            "description": "A new cell, or with replace the cell pulled from it before: nothing is overwritten "
            "unless asked. Needs contents:write.",
            "requestBody": {"required": True, **_json(_ref("Pull"))},
            "responses": {
                "200": {"description": "The student's cell.", **_json({"$ref": "#/components/schemas/CellChange"})},
                **_errors("400", "403", "404"),
            },
        },
    },
}

SCHEMAS: dict[str, dict] = {"Classroom": {"$ref": "schema/classroom.json"}}
