"""What the parts of the supernode's ``spec.json`` declaration share: JSON bodies and catalogued errors."""

from __future__ import annotations

__all__ = ["ERROR", "errors", "json_body"]

ERROR = {"$ref": "#/components/schemas/Error"}


def json_body(schema: dict) -> dict:
    return {"content": {"application/json": {"schema": schema}}}


def errors(*codes: str) -> dict:
    texts = {
        "400": "Malformed request (error bad_request).",
        "403": "Missing permission (error forbidden).",
        "404": "No such notebook, file, room, fork, cell or execution (error not_found).",
        "409": "Conflict: source_changed, not_cancellable, not_running or no_input_pending.",
        "503": "Not running in this server (error unavailable): the shared tables before the server started them, "
        "or with SupernodeExtension.tables off.",
    }
    return {code: {"description": texts[code], **json_body(ERROR)} for code in codes}
