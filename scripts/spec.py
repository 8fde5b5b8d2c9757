"""Write spec.json: the OpenAPI document of every HTTP endpoint, from the code of both packages.

Usage: ``python scripts/spec.py > spec.json`` (tests/test_spec.py fails when they disagree).
It lives outside both packages because neither imports the other.

Bodies come from ``schema/``: a component written ``{"$ref": "schema/NAME.json"}`` in the code is
replaced by that file's schema, its ``$defs`` become components of their own, and its references to
other schema files point at their components, so the document stands alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rtc_relay.openapi import build_spec
from supernode import endpoints

ROOT = Path(__file__).resolve().parents[1]
_PREFIX = "schema/"


def build() -> dict:
    spec = build_spec()
    spec["paths"].update(endpoints.PATHS)
    spec["components"]["schemas"].update(endpoints.SCHEMAS)
    spec["components"]["schemas"] = inline(spec["components"]["schemas"])
    spec["info"]["description"] = (
        "HTTP endpoints of jupyter-rtc: the standalone relay (rtc_relay/endpoints.py; in Jupyter the room "
        "websocket is served at /api/collaboration/room/{room}) and the supernode (supernode/endpoints.py); "
        "a Jupyter server serves this document at /api/rtc/spec.json. Bodies are the JSON Schemas of schema/. "
        "Generated from the code by scripts/spec.py; tests fail when this file and the code disagree."
    )
    return spec


def inline(components: dict[str, Any]) -> dict[str, Any]:
    """``components`` with every ``{"$ref": "schema/NAME.json"}`` replaced by the file's schema."""
    files = {
        value["$ref"][len(_PREFIX) :]: name
        for name, value in components.items()
        if set(value) == {"$ref"} and value["$ref"].startswith(_PREFIX)
    }
    result: dict[str, Any] = {}
    for name, value in components.items():
        file = value.get("$ref", "")[len(_PREFIX) :] if set(value) == {"$ref"} else ""
        if file not in files:
            result[name] = value
            continue
        schema = json.loads((ROOT / "schema" / file).read_text(encoding="utf-8"))
        defs = schema.pop("$defs", {})
        schema = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$comment")}
        result[name] = _rewrite(schema, name, files)
        for def_name, definition in defs.items():
            result[name + def_name[:1].upper() + def_name[1:]] = _rewrite(definition, name, files)
    return result


def _rewrite(node: Any, owner: str, files: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, owner, files) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _rewrite(value, owner, files) for key, value in node.items()}
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/") :]
            out["$ref"] = f"#/components/schemas/{owner}{name[:1].upper()}{name[1:]}"
        elif ref in files:
            out["$ref"] = f"#/components/schemas/{files[ref]}"
        elif not ref.startswith("#/components/"):
            raise ValueError(f"schema reference {ref!r} in {owner} names no schema file of the document")
    return out


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
