"""A large notebook (5,000 cells) in the stock JupyterLab UI, with the notebook's windowed rendering that
JupyterLab offers for large notebooks: it opens, takes an edit, saves, and the file keeps every cell; a
second user who opens it afterwards gets the edit, and the last cell is there for both."""

from __future__ import annotations

import time

import nbformat
import pytest

from .lab import LabPage, wait_until
from .test_lab_collaboration import saved_state

CELLS = 5_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.lab_settings({"@jupyterlab/notebook-extension/tracker": {"windowingMode": "full"}}),
]


def _write(path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    for i in range(CELLS):
        if i % 3 == 2:
            nb.cells.append(nbformat.v4.new_markdown_cell(f"## Section {i}", id=f"c{i:05d}"))
        else:
            cell = nbformat.v4.new_code_cell(f"x{i} = {i}\nprint(x{i})", id=f"c{i:05d}", execution_count=i + 1)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{i}\n")]
            nb.cells.append(cell)
    path.write_text(nbformat.writes(nb))


async def _open(page: LabPage, server) -> None:
    """Open the notebook and wait until its first cell's editor and the kernel are ready (a windowed
    notebook renders the cells in view only: the usual wait for every cell's editor does not apply)."""
    page.path = "large.ipynb"
    await page.page.goto(server.lab_url("large.ipynb", workspace=page.workspace), wait_until="domcontentloaded")
    await page._until(
        """([sel, cells]) => {
            const first = document.querySelector(sel + ' .jp-Cell .cm-content');
            const status = document.querySelector('#jp-main-statusbar')?.textContent || '';
            return !!first && first.textContent.includes('x0 = 0') && status.includes('/' + cells);
        }""",
        [page._PANEL, CELLS],
        timeout=120,
        what=f"the notebook's first cell and 'Cell 1/{CELLS}' in the status bar",
    )
    await page.wait_kernel_idle(timeout=60)


async def _shows_last_cell(page: LabPage) -> bool:
    """Go to the last cell (command mode, Ctrl+End) and see its source in an editor."""
    await page.page.keyboard.press("Escape")
    await page.page.keyboard.press("Control+End")
    return await page.page.evaluate(
        """([sel, text]) => Array.from(document.querySelectorAll(sel + ' .jp-Cell .cm-content'))
            .some(e => e.textContent.includes(text))""",
        [page._PANEL, f"x{CELLS - 2} = {CELLS - 2}"],
    )


async def test_a_5000_cell_notebook_opens_takes_an_edit_and_saves(lab_server, chromium, artifacts_dir):
    path = lab_server.root / "large.ipynb"
    _write(path)
    alice = await LabPage.create(chromium, lab_server, "alice", artifacts_dir)
    bob = None
    try:
        started = time.monotonic()
        await _open(alice, lab_server)
        opened = time.monotonic() - started
        await alice.type_in_cell(0, "\n# typed in a large notebook")
        await alice.save()

        def on_disk():
            try:
                state = saved_state(path)
            except ValueError:
                return None  # caught half written
            return state if state["sources"][0].endswith("# typed in a large notebook") else None

        state = await wait_until(on_disk, 30, "the edit saved")
        assert len(state["ids"]) == CELLS and state["ids"][-1] == f"c{CELLS - 1:05d}"
        assert state["outputs"][CELLS - 2] == f"{CELLS - 2}\n"
        await wait_until(lambda: _shows_last_cell(alice), 60, "the last cells shown")

        bob = await LabPage.create(chromium, lab_server, "bob", artifacts_dir)
        await _open(bob, lab_server)
        await bob.wait_for_cell_source(0, contains="# typed in a large notebook")
        await wait_until(lambda: _shows_last_cell(bob), 60, "the last cells shown to the second user")
        assert not [line for line in alice.console + bob.console if "pageerror" in line]
        print(f"opened {CELLS} cells in JupyterLab in {opened:.1f}s")
    finally:
        await alice.close()
        if bob is not None:
            await bob.close()
