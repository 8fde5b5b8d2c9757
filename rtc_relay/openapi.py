"""Generate the OpenAPI document of the relay's HTTP endpoints: ``python -m rtc_relay.openapi > spec.json``."""

from __future__ import annotations

import json

from . import __version__
from .endpoints import ENDPOINTS
from rtc_common.schema import schema_path

__all__ = ["build_spec", "component_name", "render"]


def component_name(schema_file: str) -> str:
    """``"relay-health.json"`` → ``"RelayHealth"``: the component a schema file becomes."""
    return "".join(part.capitalize() for part in schema_file.removesuffix(".json").split("-"))


def build_spec() -> dict:
    """The OpenAPI 3.1 document, built from :data:`rtc_relay.endpoints.ENDPOINTS`."""
    with open(schema_path("room-name.json"), encoding="utf-8") as f:
        room_name = json.load(f)
    room_name = {k: v for k, v in room_name.items() if not k.startswith("$") and not k.startswith("x-")}
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {"RoomName": room_name}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for ep in ENDPOINTS:
        media: dict = {}
        if ep.body:
            name = component_name(ep.body)
            schemas[name] = {"$ref": f"schema/{ep.body}"}
            media = {"schema": {"$ref": f"#/components/schemas/{name}"}}
        elif ep.content_type == "application/octet-stream":
            media = {"schema": {"type": "string", "format": "binary"}}
        op: dict = {
            "summary": ep.summary,
            "description": ep.description,
            "responses": {status: _response(ep, status, text, media, error) for status, text in ep.responses.items()},
        }
        if ep.parameters:
            op["parameters"] = list(ep.parameters)
        if ep.request_body:
            op["requestBody"] = ep.request_body
        if ep.errors:
            schemas["Error"] = {"$ref": "schema/rest-error.json"}
        paths.setdefault(ep.path, {})[ep.method] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jupyter-rtc",
            "version": __version__,
            "description": "HTTP endpoints of the relay. Generated from rtc_relay/endpoints.py; "
            "tests fail when this file and the code disagree.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }


def _response(ep, status: str, text: str, media: dict, error: dict) -> dict:
    if status == "204":
        return {"description": text}
    if status.startswith("2") or (status == "503" and media and not ep.errors):
        return {"description": text, "content": {ep.content_type: media}}
    if ep.errors and status[0] in "45":
        return {"description": text, "content": error}
    return {"description": text}


def render() -> str:
    return json.dumps(build_spec(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
