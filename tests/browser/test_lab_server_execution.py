"""Server-side execution from the stock JupyterLab UI: a run outlives the browser that started it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nbformat
import pytest

from .lab import JupyterLabServer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

LONG_CELL = (
    "import time\nfor i in range(8):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.5)\nprint('finished')"
)
EXPECTED = "".join(f"tick {i}\n" for i in range(8)) + "finished\n"


def stream_on_disk(path: Path) -> str | None:
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    text = "".join(
        "".join(o["text"]) if isinstance(o.get("text"), list) else o.get("text", "")
        for o in nb["cells"][0].get("outputs", [])
        if o.get("output_type") == "stream"
    )
    return text


def _one_cell_notebook(path, source: str, cell_id: str):
    """A notebook with one code cell, on the python3 kernel, written at ``path`` (returned)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source, id=cell_id)]
    path.write_text(nbformat.writes(nb))
    return path


async def test_a_long_run_outlives_the_browser_and_reaches_disk(lab_server: JupyterLabServer, new_user) -> None:
    path = _one_cell_notebook(lab_server.root / "long.ipynb", LONG_CELL, "long-run")

    async def scenario() -> None:
        alice = await new_user("alice")
        await alice.open_notebook(path.name, min_cells=1)
        await alice.run_cell(0, wait=False)  # the frontend posts it to /api/kernels/{id}/execute
        await alice.wait_for_output(0, "tick 1")
        await alice.close()  # the only browser leaves in the middle of the run

        await wait_until(lambda: stream_on_disk(path) == EXPECTED, timeout=30, what="every line on disk")
        saved = json.loads(path.read_text())["cells"][0]
        assert saved["execution_count"] == 1

        status, listing = await lab_server.request("GET", "/api/rtc/executions?path=long.ipynb")
        assert status == 200 and [r["status"] for r in listing["executions"]] == ["ok"]  # it ran on the server

        bob = await new_user("bob")  # opens later, sees everything
        await bob.open_notebook(path.name, min_cells=1)
        await bob.wait_for_output(0, "finished")
        assert "tick 0" in await bob.cell_outputs(0)

    await asyncio.wait_for(scenario(), 90)


# A long output, written in many transactions: past 16 KiB of a stream the server cuts its appends into
# new items of the output's Text (supernode.doc_stream); the page must show exactly what was printed, merged
# as JupyterLab merges streams. (The cut's placeholder is a NUL, which HTML drops: tests/test_long_runs.py
# checks that no client's Text ever holds one.)
LONG_OUTPUT_CELL = (
    "import sys, time\n"
    "for i in range(3000):\n"
    "    print(f'step {i:04d} loss 0.{i:04d} é', flush=True)\n"
    "    if i % 1000 == 999:\n"
    "        print(f'warning {i}', file=sys.stderr, flush=True)\n"
    "    time.sleep(0.001)\n"
    "print('progress 1/2', end='\\r', flush=True)\n"
    "time.sleep(0.2)\n"
    "print('progress 2/2', flush=True)"
)


def long_output_streams() -> list[tuple[str, str]]:
    """(name, text) of the cell's outputs as JupyterLab shows them: consecutive same-name streams merged."""
    streams: list[tuple[str, str]] = []
    out = ""
    for i in range(3000):
        out += f"step {i:04d} loss 0.{i:04d} é\n"
        if i % 1000 == 999:
            streams += [("stdout", out), ("stderr", f"warning {i}\n")]
            out = ""
    return [*streams, ("stdout", "progress 2/2\n")]


async def test_a_long_output_shows_as_printed(lab_server: JupyterLabServer, new_user) -> None:
    path = _one_cell_notebook(lab_server.root / "long-output.ipynb", LONG_OUTPUT_CELL, "long-output")
    streams = long_output_streams()
    assert len(streams[0][1].encode()) > 16 * 1024  # the first stdout output is cut at least once

    async def scenario() -> None:
        alice = await new_user("alice")  # sees the output grow
        await alice.open_notebook(path.name, min_cells=1)
        await alice.run_cell(0, wait=False)
        await alice.wait_for_output(0, "progress 2/2", timeout=60)
        bob = await new_user("bob")  # opens once it is all there
        await bob.open_notebook(path.name, min_cells=1)
        await bob.wait_for_output(0, "progress 2/2")
        for user in (alice, bob):
            shown = await user.cell(0).locator(".jp-OutputArea-output").all_inner_texts()
            assert [text.rstrip("\n") for text in shown] == [text.rstrip("\n") for _, text in streams]

    await asyncio.wait_for(scenario(), 100)
