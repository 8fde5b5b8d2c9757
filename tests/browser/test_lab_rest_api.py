"""A program drives a notebook over the REST notebook API while a person has it open in the stock JupyterLab:
the person sees each change at once, keeps what they type, and the file holds both, once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import nbformat
import pytest

from .lab import JupyterLabServer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def disk_sources(path: Path) -> list[str] | None:
    try:
        return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]]
    except (OSError, ValueError, KeyError):
        return None


async def test_rest_edits_and_runs_show_in_jupyterlab_and_what_the_person_types_stays(
    lab_server: JupyterLabServer, new_user
) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 20", id="setup"), nbformat.v4.new_code_cell("# notes", id="notes")]
    path = lab_server.root / "driven.ipynb"
    path.write_text(nbformat.writes(nb))
    api = f"/api/rtc/notebooks/{quote(path.name)}"

    async def call(method: str, url: str, body=None, expect: int = 200):
        status, answer = await lab_server.request(method, api + url, body)
        assert status == expect, (method, url, status, answer)
        return answer

    async def scenario() -> None:
        alice = await new_user("alice")
        await alice.open_notebook(path.name, min_cells=2)

        async def session() -> bool:  # the page's kernel session: the program's runs join it
            status, sessions = await lab_server.request("GET", "/api/sessions")
            return status == 200 and any(s["path"] == path.name for s in sessions)

        await wait_until(session, timeout=20, what="the page's kernel session")

        # The program inserts a cell after the first one and runs it with a new source, in one call.
        added = await call("POST", "/cells", {"source": "x * 2", "before": "notes", "id": "double"}, expect=201)
        assert added["cell"]["index"] == 1
        await alice.wait_for_cell_source(1, equals="x * 2")
        await call("POST", "/execute", {"cells": "above", "cell_id": "double"}, expect=202)
        run = await call("POST", "/cells/double/execute", {"source": "x * 2 + 2"}, expect=202)
        await alice.wait_for_cell_source(1, equals="x * 2 + 2")
        await alice.wait_for_output(1, "42")

        # The person types in the notes cell while the program patches it at its start (code points).
        await alice.type_in_cell(2, " by alice")

        async def typed() -> dict | None:  # the typing reached the server through the page's own provider
            seen = await call("GET", "/cells/notes")
            return seen if seen["cell"]["source"] == "# notes by alice" else None

        seen = await wait_until(typed, timeout=10, what="alice's typing on the server")
        edit = {"edits": [{"start": 2, "end": 7, "text": "Notes"}], "expected_source_hash": seen["cell"]["source_hash"]}
        await call("PATCH", "/cells/notes", edit)
        await alice.wait_for_cell_source(2, equals="# Notes by alice")

        async def finished() -> bool:
            status, record = await lab_server.request("GET", f"/api/rtc/executions/{run['id']}")
            return status == 200 and record["status"] == "ok"

        await wait_until(finished, timeout=30, what="the run's record")
        await call("POST", "/save")
        await wait_until(
            lambda: disk_sources(path) == ["x = 20", "x * 2 + 2", "# Notes by alice"], timeout=10, what="the file"
        )
        assert await alice.sources() == ["x = 20", "x * 2 + 2", "# Notes by alice"]

    await asyncio.wait_for(scenario(), 100)
