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
    "409": "The notebook changed since expected_version (error version_changed), the cell's source since "
    "expected_source_hash (error source_changed), or the target path exists (error conflict).",
    "503": "The execution journal cannot be written (error journal_unavailable): nothing was queued; or no kernel "
    "could be started (kernel_unavailable); or the file could not be written (save_failed).",
    "504": "The kernel did not answer in time (error kernel_timeout): busy running a cell, or stuck.",
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
_INFO = _json(_ref("NotebookInfo"))
_RECORD = {
    "description": "Queued; Location is the execution record's URL (/api/rtc/executions/{id}).",
    "headers": {"Location": {"schema": {"type": "string"}}},
    **_json(_ref("ExecutionRecord")),
}


def _body(name: str, owner: str = "CellRequest", required: bool = False) -> dict:
    return {"requestBody": {"required": required, **_json(_ref(f"{owner}{name}"))}}


PATHS: dict[str, dict] = {
    "/api/rtc/notebooks/{path}": {
        "parameters": [_PATH],
        "get": {
            "summary": "Read a live notebook without its cells",
            "description": "Opens the notebook's room if it is not open (the same document browsers edit).",
            "responses": {"200": {"description": "The notebook.", **_INFO}, **_errors("403", "404")},
        },
        "put": {
            "summary": "Open a notebook, or create one (empty or uploaded), optionally starting its kernel",
            "description": "Through Jupyter's contents and session managers: the file browser and the sessions API see "
            "it. Needs contents:write, and kernels:execute with kernel.",
            "parameters": [{**_PATH, "schema": {"type": "string", "pattern": r"\.ipynb$"}}],
            **_body("Open", "NotebookRequest"),
            "responses": {
                "200": {"description": "Opened (it existed).", **_INFO},
                "201": {"description": "Created.", **_INFO},
                **_errors("400", "403", "404", "409", "503"),
            },
        },
        "patch": {
            "summary": "Rename a notebook (the open document and its kernel session follow)",
            **_body("Target", "NotebookRequest", required=True),
            "responses": {"200": {"description": "Renamed.", **_INFO}, **_errors("400", "403", "404", "409", "503")},
        },
        "delete": {
            "summary": "Close a notebook: save it now, and end its kernel session with kernel=shutdown",
            "parameters": [
                {"name": "kernel", "in": "query", "required": False, "schema": {"enum": ["keep", "shutdown"]}}
            ],
            "responses": {
                "200": {"description": "Saved.", **_json(_ref("NotebookAnswerClosed"))},
                **_errors("400", "403", "404", "503"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/save": {
        "parameters": [_PATH],
        "post": {
            "summary": "Save a notebook now (answers once a save started after the call has ended)",
            "responses": {"200": {"description": "Saved.", **_INFO}, **_errors("403", "404", "503")},
        },
    },
    "/api/rtc/notebooks/{path}/copy": {
        "parameters": [_PATH],
        "post": {
            "summary": "Save as: write the live content (unsaved edits included) to a new notebook and open it",
            **_body("Target", "NotebookRequest", required=True),
            "responses": {
                "201": {"description": "The new notebook.", **_INFO},
                **_errors("400", "403", "404", "409", "503"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/scratch": {
        "parameters": [_PATH],
        "post": {
            "summary": "Run code that is in no cell on the notebook's kernel (its outputs in the record only)",
            "description": "Starts the notebook's kernel session if it has none. Queued on the kernel, not behind the "
            "notebook's own executions.",
            **_body("Scratch", "NotebookRequest", required=True),
            "responses": {"202": _RECORD, **_errors("400", "403", "404", "503")},
        },
    },
    "/api/rtc/notebooks/{path}/complete": {
        "parameters": [_PATH],
        "post": {
            "summary": "Completions by the notebook's kernel at a position of a cell's source or of some code",
            **_body("Query", "NotebookRequest", required=True),
            "responses": {
                "200": {"description": "The kernel's answer.", **_json(_ref("NotebookAnswerCompletion"))},
                **_errors("400", "403", "404", "503", "504"),
            },
        },
    },
    "/api/rtc/notebooks/{path}/inspect": {
        "parameters": [_PATH],
        "post": {
            "summary": "Inspection by the notebook's kernel of the name at a position",
            **_body("Query", "NotebookRequest", required=True),
            "responses": {
                "200": {"description": "The kernel's answer.", **_json(_ref("NotebookAnswerInspection"))},
                **_errors("400", "403", "404", "503", "504"),
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
    "NotebookRequest": {"$ref": "schema/notebook-request.json"},
    "NotebookAnswer": {"$ref": "schema/notebook-answer.json"},
}
