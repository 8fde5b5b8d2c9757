"""Write spec.json: the OpenAPI document of every HTTP endpoint, from the code of both packages.

Usage: ``python scripts/spec.py > spec.json`` (tests/test_spec.py fails when they disagree).
It lives outside both packages because neither imports the other.
"""

from __future__ import annotations

import json

from rtc_relay.openapi import build_spec
from supernode import endpoints


def build() -> dict:
    spec = build_spec()
    spec["paths"].update(endpoints.PATHS)
    spec["components"]["schemas"].update(endpoints.SCHEMAS)
    spec["info"]["description"] = (
        "HTTP endpoints of jupyter-rtc: the standalone relay (rtc_relay/endpoints.py; in Jupyter the room "
        "websocket is served at /api/collaboration/room/{room}) and the supernode (supernode/endpoints.py). "
        "Generated from the code by scripts/spec.py; tests fail when this file and the code disagree."
    )
    return spec


def render() -> str:
    return json.dumps(build(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
