"""A notebook with very large outputs, loaded in stages (``SupernodeExtension.load_progressively``), in the
stock JupyterLab UI: the frontend takes the outputs that arrive after the cells into the right cell, the
notebook is not marked changed, and an edit saves a file that still holds every output."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from .lab import LabPage, wait_until
from .test_lab_collaboration import saved_state

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.server_args(
        "--SupernodeExtension.load_progressively=True", "--SupernodeExtension.output_delay_threshold_mb=0.1"
    ),
]

LOG = "".join(f"step {i:05d} loss 0.{i:05d}\n" for i in range(40_000)) + "the end of the log\n"  # ~1 MB


def _write(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    train = nbformat.v4.new_code_cell("train()", id="train")
    train.outputs = [nbformat.v4.new_output("stream", name="stdout", text=LOG)]
    train.execution_count = 1
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Training run", id="title"),
        train,
        nbformat.v4.new_code_cell("summary = 'small'", id="summary"),
    ]
    path.write_text(nbformat.writes(nb))


async def _clean(page: LabPage) -> bool:
    return not await page.is_dirty()


async def test_large_outputs_arrive_after_the_cells_into_the_right_cell(lab_server, chromium, artifacts_dir):
    _write(lab_server.root / "run.ipynb")
    page = await LabPage.create(chromium, lab_server, "alice", artifacts_dir)
    try:
        await page.open_notebook("run.ipynb", min_cells=3)
        out = await page.wait_for_output(1, "the end of the log", timeout=30)
        assert out.startswith("step 00000 loss"), out[:200]
        assert await page.cell_outputs(2) == "" and await page.cell_outputs(0) == ""
        # loading in stages is not an edit: the tab does not stay marked changed
        await wait_until(lambda: _clean(page), 10, "a clean tab")
        await page.type_in_cell(2, "\nsummary += ' and typed'")
        await page.save()

        def on_disk():
            try:
                state = saved_state(lab_server.root / "run.ipynb")
            except ValueError:
                return None  # caught half written
            return state if "and typed" in state["sources"][2] else None

        state = await wait_until(on_disk, 10, "the edit saved")
        assert state["outputs"][1] == LOG  # every line of the large output is still in the file
        assert not [line for line in page.console if "pageerror" in line], page.console
        assert "run.ipynb loaded in stages: the outputs of 1 cell(s) followed" in lab_server.log_path.read_text()
    finally:
        await page.close()
