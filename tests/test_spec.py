"""spec.json is generated from the code and must not drift from it."""

from __future__ import annotations

from pathlib import Path

import importlib.util

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "spec.json"


def _generator():
    spec = importlib.util.spec_from_file_location("spec_script", ROOT / "scripts" / "spec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_spec_json_matches_the_code():
    assert SPEC.read_text() == _generator().render(), "spec.json is stale: run `python scripts/spec.py > spec.json`"


def test_every_documented_path_exists_in_the_code():
    from supernode.app import SupernodeExtension

    paths = _generator().build()["paths"]
    assert "/api/collaboration/session/{path}" in paths
    assert any("collaboration/session" in pattern for pattern, _ in _routes(SupernodeExtension))


def _routes(extension_class):
    import re

    source = Path(extension_class.__module__.replace(".", "/") + ".py")
    text = (ROOT / source).read_text()
    return [(m, None) for m in re.findall(r'\(r"([^"]+)"', text)]


async def test_every_documented_path_is_served(relay):
    from helpers import http_get

    base = f"http://127.0.0.1:{relay.port}"
    assert (await http_get(base + "/health"))[0] == 200
    assert (await http_get(base + "/metrics"))[0] == 200
    # Room paths answer plain HTTP with 426 (they want a websocket upgrade).
    assert (await http_get(base + "/some-room"))[0] == 426
    assert (await http_get(base + "/api/collaboration/room/json:notebook:x"))[0] == 426
