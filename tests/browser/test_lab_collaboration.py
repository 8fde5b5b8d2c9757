"""Two users collaborate on one notebook in the stock JupyterLab UI (headless Chromium).

Backend: the Jupyter server of ``$RTC_BROWSER_PYTHON`` (default: this interpreter's environment).
Against the reference backend: ``RTC_BROWSER_PYTHON=/tmp/jc-venv/bin/python pytest tests/browser``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from .lab import JupyterLabServer, LabError, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SCENARIO_DEADLINE = 95  # seconds; below pytest-timeout so that teardown (screenshots, server stop) runs

TEXT_A = "\nalpha = 'typed by A'"
TEXT_B = "\nbeta = 'typed by B'"
RUN_SOURCE = 'print("hello from A")'
CELL_IDS = ["cell-a", "cell-b", "cell-run"]
EXPECTED_SOURCES = ["# A writes here" + TEXT_A, "# B writes here" + TEXT_B, RUN_SOURCE]


class Timeline:
    """Prints each step's time (shown with -s, or with the captured output of a failure)."""

    def __init__(self, label: str) -> None:
        self.start = self.last = time.monotonic()
        print(f"backend: {label}")

    def __call__(self, step: str) -> None:
        now = time.monotonic()
        print(f"[{now - self.start:5.1f}s +{now - self.last:4.1f}s] {step}")
        self.last = now


def write_notebook(path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("# A writes here", id=CELL_IDS[0]),
        nbformat.v4.new_code_cell("# B writes here", id=CELL_IDS[1]),
        nbformat.v4.new_code_cell("", id=CELL_IDS[2]),
    ]
    nbformat.validate(nb)
    path.write_text(nbformat.writes(nb))


def saved_state(path: Path) -> dict:
    nb = json.loads(path.read_text())
    cells = nb["cells"]

    def text(value: str | list[str]) -> str:
        return "".join(value) if isinstance(value, list) else value

    return {
        "ids": [c.get("id") for c in cells],
        "sources": [text(c["source"]) for c in cells],
        "outputs": ["".join(text(o.get("text", "")) for o in c.get("outputs", [])) for c in cells],
    }


async def test_two_users_edit_run_save_reload(lab_server: JupyterLabServer, new_user, backend_label: str) -> None:
    nb_path = lab_server.root / "collab.ipynb"
    write_notebook(nb_path)
    await asyncio.wait_for(scenario(lab_server, new_user, nb_path, Timeline(backend_label)), SCENARIO_DEADLINE)


async def scenario(server: JupyterLabServer, new_user, nb_path: Path, step: Timeline) -> None:
    alice = await new_user("alice")
    bob = await new_user("bob")
    # one after the other: the first one creates the kernel session, the second joins it
    await alice.open_notebook(nb_path.name, min_cells=3)
    step("alice opened the notebook")
    await bob.open_notebook(nb_path.name, min_cells=3)
    step("bob opened the notebook")
    me_a, me_b = await alice.identity(), await bob.identity()
    assert me_a["username"] != me_b["username"], "each browser context should be its own (anonymous) user"

    # A types into cell 0, B sees it; B types into cell 1, A sees it
    await alice.type_in_cell(0, TEXT_A)
    await bob.wait_for_cell_source(0, equals="# A writes here" + TEXT_A)
    await bob.type_in_cell(1, TEXT_B)
    await alice.wait_for_cell_source(1, equals="# B writes here" + TEXT_B)
    step("each saw the other's typing")

    # each sees the other's cursor, flagged with the other's name, where the other typed
    # (the cursor's color is the user's color; the name flag above it has the same color)
    await bob.wait_for_remote_cursor(name=me_a["display_name"], color=me_a["color"], cell=0)
    await alice.wait_for_remote_cursor(name=me_b["display_name"], color=me_b["color"], cell=1)
    # and the other one in the Collaboration panel
    await alice.wait_for_collaborator(me_b["display_name"])
    await bob.wait_for_collaborator(me_a["display_name"])
    step("each saw the other's cursor and name")

    # A writes and runs a cell; both see its output
    await alice.set_cell_source(2, RUN_SOURCE)
    await bob.wait_for_cell_source(2, equals=RUN_SOURCE)
    await alice.run_cell(2)
    await alice.wait_for_output(2, "hello from A")
    await bob.wait_for_output(2, "hello from A")
    step("both saw the output of alice's run")

    # B saves with Ctrl+S: the frontend reports success
    saved = await bob.save()
    step(f"bob saved: {saved}")

    # B reloads: everything is still there
    await bob.reload(min_cells=3)
    for index, source in enumerate(EXPECTED_SOURCES):
        await bob.wait_for_cell_source(index, equals=source)
    await bob.wait_for_output(2, "hello from A")
    assert await bob.cell_count() == 3
    # A is still there: her next cursor move shows on B's reloaded page (a joining client may only get
    # the others' presence when it changes or is renewed, every 15 s: jupyter-collaboration sends none)
    await alice.place_cursor(0)
    await bob.wait_for_remote_cursor(name=me_a["display_name"], color=me_a["color"], cell=0)

    step("bob reloaded and saw everything")
    await alice.close()
    await bob.close()
    step("browsers closed")

    # the file on disk: both users' text and the output, same cell ids

    def on_disk() -> dict | None:
        try:
            state = saved_state(nb_path)
        except (ValueError, KeyError):  # being written
            return None
        ok = state["sources"] == EXPECTED_SOURCES and "hello from A" in state["outputs"][2]
        return state if ok else None

    try:
        state = await wait_until(on_disk, 20, f"{nb_path.name} on disk to hold both users' text and the output")
    except LabError as exc:
        raise LabError(f"{exc}; on disk: {saved_state(nb_path)}") from exc
    assert state["ids"] == CELL_IDS
    step("the file on disk holds everything")
