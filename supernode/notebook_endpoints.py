"""The REST notebook API's part of ``spec.json`` (:mod:`supernode.notebook_handlers` serves it)."""

from __future__ import annotations

__all__ = ["PATHS", "SCHEMAS"]


def _json(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


_ERROR = _ref("Error")
_TEXTS = {
    "400": "Malformed request, or one that cannot be done (error bad_request).",
    "403": "Missing permission (error forbidden): contents:read to read, contents:write to change, "
    "kernels:execute to run.",
    "404": "No such notebook or cell (error not_found).",
    "409": "The notebook changed since expected_version (error version_changed), or the cell's source since "
    "expected_source_hash (error source_changed).",
    "503": "The execution journal cannot be written (error journal_unavailable): nothing was queued.",
}


def _errors(*codes: str) -> dict:
    return {code: {"description": _TEXTS[code], **_json(_ERROR)} for code in codes}


_PATH = {
    "name": "path",
    "in": "path",
    "required": True,
    "description": "The notebook's path, relative to the server's root (it may hold slashes).",
    "schema": {"type": "string"},
}
_CELL = {
    "name": "cell_id",
    "in": "path",
    "required": True,
    "description": "The cell's id.",
    "schema": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
}
_GUARDS = [
    {
        "name": "expected_version",
        "in": "query",
        "required": False,
        "description": "Fail with 409 version_changed unless the notebook is at this version.",
        "schema": {"type": "string"},
    },
]
_SOURCE_GUARD = {
    "name": "expected_source_hash",
    "in": "query",
    "required": False,
    "description": "Fail with 409 source_changed unless the cell's source has this sha256.",
    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
}
_OUTPUTS = {
    "name": "outputs",
    "in": "query",
    "required": False,
    "description": "false: leave the outputs out (they can be large).",
    "schema": {"type": "boolean", "default": True},
}
_CHANGE = _json(_ref("CellChange"))
_RECORD = {
    "description": "Queued; Location is the execution record's URL (/api/rtc/executions/{id}).",
    "headers": {"Location": {"schema": {"type": "string"}}},
    **_json(_ref("ExecutionRecord")),
}


def _body(name: str, required: bool = False) -> dict:
    return {"requestBody": {"required": required, **_json(_ref(f"CellRequest{name}"))}}


PATHS: dict[str, dict] = {
    "/api/rtc/notebooks/{path}": {
        "parameters": [_PATH],
        "get": {
            "summary": "Read a live notebook without its cells",
            "description": "Opens the notebook's room if it is not open (the same document browsers edit).",
            "responses": {
                "200": {"description": "The notebook.", **_json(_ref("NotebookInfo"))},
                **_errors("403", "404"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/cells": {
        "parameters": [_PATH],
        "get": {
            "summary": "List a notebook's cells, in order",
            "parameters": [
                _OUTPUTS,
                {"name": "offset", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0}},
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "description": "At most this many cells (default: all).",
                    "schema": {"type": "integer", "minimum": 0},
                },
            ],
            "responses": {
                "200": {"description": "A page of cells.", **_json(_ref("NotebookCells"))},
                **_errors("400", "403", "404"),
            },
        },
        "post": {
            "summary": "Insert a cell",
            "description": "One transaction on the live notebook: browsers show the cell at once; saved like their edits.",
            **_body("Insert"),
            "responses": {
                "201": {"description": "Inserted: the cell.", **_CHANGE},
                **_errors("400", "403", "404", "409"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/cells/{cell_id}": {
        "parameters": [_PATH, _CELL],
        "get": {
            "summary": "Read a cell",
            "parameters": [_OUTPUTS],
            "responses": {"200": {"description": "The cell.", **_CHANGE}, **_errors("400", "403", "404")},
        },
        "patch": {
            "summary": "Change a cell's source (whole, or edits in code points), type or metadata",
            **_body("Change"),
            "responses": {"200": {"description": "The cell after.", **_CHANGE}, **_errors("400", "403", "404", "409")},
        },
        "delete": {
            "summary": "Delete a cell",
            "parameters": [*_GUARDS, _SOURCE_GUARD],
            "responses": {
                "200": {"description": "Deleted: the cell as it was.", **_CHANGE},
                **_errors("403", "404", "409"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/cells/{cell_id}/move": {
        "parameters": [_PATH, _CELL],
        "post": {
            "summary": "Move a cell (it keeps its id)",
            **_body("Move"),
            "responses": {"200": {"description": "The cell after.", **_CHANGE}, **_errors("400", "403", "404", "409")},
        },
    },
    "/api/rtc/notebooks/{path}/cells/{cell_id}/split": {
        "parameters": [_PATH, _CELL],
        "post": {
            "summary": "Split a cell at a position",
            **_body("Split", required=True),
            "responses": {
                "200": {"description": "Both cells (cells): the first keeps the id.", **_CHANGE},
                **_errors("400", "403", "404", "409"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/cells/{cell_id}/merge": {
        "parameters": [_PATH, _CELL],
        "post": {
            "summary": "Merge the next cell into this one",
            **_body("Guard"),
            "responses": {
                "200": {"description": "The merged cell; removed: the id of the next one.", **_CHANGE},
                **_errors("400", "403", "404", "409"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/cells/{cell_id}/outputs": {
        "parameters": [_PATH, _CELL],
        "delete": {
            "summary": "Clear a cell's outputs and execution count",
            "parameters": _GUARDS,
            "responses": {"200": {"description": "Cleared.", **_CHANGE}, **_errors("403", "404", "409")},
        },
    },
    "/api/rtc/notebooks/{path}/outputs": {
        "parameters": [_PATH],
        "delete": {
            "summary": "Clear every cell's outputs and execution count",
            "parameters": _GUARDS,
            "responses": {"200": {"description": "Cleared.", **_CHANGE}, **_errors("403", "404", "409")},
        },
    },
    "/api/rtc/notebooks/{path}/cells/{cell_id}/execute": {
        "parameters": [_PATH, _CELL],
        "post": {
            "summary": "Set a cell's source (optional) and run it, in one call",
            "description": "Needs kernels:execute, and contents:write with a source. Starts a kernel session for "
            "the notebook if it has none.",
            **_body("Execute"),
            "responses": {"202": _RECORD, **_errors("400", "403", "404", "409", "503")},
        },
    },
    "/api/rtc/notebooks/{path}/execute": {
        "parameters": [_PATH],
        "post": {
            "summary": "Run every code cell, those above a cell, or a cell and those below",
            **_body("Range"),
            "responses": {"202": _RECORD, **_errors("400", "403", "404", "503")},
        },
    },
}

SCHEMAS: dict[str, dict] = {
    "NotebookInfo": {"$ref": "schema/notebook-info.json"},
    "NotebookCells": {"$ref": "schema/notebook-cells.json"},
    "NotebookCell": {"$ref": "schema/notebook-cell.json"},
    "CellChange": {"$ref": "schema/cell-change.json"},
    "CellRequest": {"$ref": "schema/cell-request.json"},
}
