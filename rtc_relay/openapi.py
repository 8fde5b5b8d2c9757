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
    paths = {}
    schemas: dict[str, dict] = {"RoomName": room_name}
    for ep in ENDPOINTS:
        media: dict = {}
        if ep.body:
            name = component_name(ep.body)
            schemas[name] = {"$ref": f"schema/{ep.body}"}
            media = {"schema": {"$ref": f"#/components/schemas/{name}"}}
        op: dict = {
            "summary": ep.summary,
            "description": ep.description,
            "responses": {
                status: (
                    {"description": text, "content": {ep.content_type: media}}
                    if status.startswith("2") or (status == "503" and media)
                    else {"description": text}
                )
                for status, text in ep.responses.items()
            },
        }
        if ep.parameters:
            op["parameters"] = list(ep.parameters)
        paths[ep.path] = {"get": op}
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


def render() -> str:
    return json.dumps(build_spec(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
