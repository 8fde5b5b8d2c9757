"""The classroom JupyterLab extension ships prebuilt in the Python package.

pyproject.toml's shared data maps the committed build (``supernode/labextension``, the outputDir of
``clients/labextension``) and its ``install.json`` to ``share/jupyter/labextensions/@jupyter-rtc/classroom``;
JupyterLab, given a data directory laid out as an installer lays out that mapping, lists the extension
enabled and OK. (``.ci/run`` checks that the committed build is the build of the source.)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NAME = "@jupyter-rtc/classroom"
TARGET = f"share/jupyter/labextensions/{NAME}"


def shared_data() -> dict[str, str]:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]


def test_shared_data_maps_the_committed_build() -> None:
    mapping = shared_data()
    source = json.loads((ROOT / "clients/labextension/package.json").read_text())
    out_dir = (ROOT / "clients/labextension" / source["jupyterlab"]["outputDir"]).resolve()
    assert mapping[str(out_dir.relative_to(ROOT))] == TARGET
    assert mapping["clients/labextension/install.json"] == f"{TARGET}/install.json"
    install = json.loads((ROOT / "clients/labextension/install.json").read_text())
    assert install["packageName"] == "jupyter-rtc"

    built = json.loads((out_dir / "package.json").read_text())
    assert built["name"] == source["name"] == NAME
    assert built["version"] == source["version"]
    assert (out_dir / built["jupyterlab"]["_build"]["load"]).is_file()
    # one Yjs in the page: JupyterLab's own
    assert built["jupyterlab"]["sharedPackages"]["yjs"] == {"bundled": False, "singleton": True}
    schema = out_dir / "schemas" / NAME / "plugin.json"
    assert json.loads(schema.read_text()) == json.loads((ROOT / "clients/labextension/schema/plugin.json").read_text())
    assert "Cell" in json.loads(schema.read_text())["jupyter.lab.toolbars"]


def test_jupyterlab_lists_it_enabled(tmp_path: Path) -> None:
    pytest.importorskip("jupyterlab")
    prefix = tmp_path / "prefix"
    for source, target in shared_data().items():
        if target.startswith(TARGET):
            destination = prefix / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if (ROOT / source).is_dir() else shutil.copyfile)(ROOT / source, destination)
    env = {
        **os.environ,
        "JUPYTER_PATH": str(prefix / "share/jupyter"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "NO_COLOR": "1",
    }
    answer = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    listing = re.sub(r"\x1b\[[0-9;]*m", "", answer.stdout + answer.stderr)
    line = next((line for line in listing.splitlines() if NAME in line), None)
    assert line is not None, listing
    assert re.search(r"enabled\s+OK\s+\(python, jupyter-rtc\)", line), line
    assert str(prefix) in listing
