"""supernode.output_log: outputs logged as a running cell's writer handles them, replayed into the file.

A real OutputWriter writes into a real YNotebook and a real ExecutionJournal and contents manager hold
the record and the file; a "crash" is dropping the OutputLog without ending the execution. What the
replay must give: each cell's outputs as the document had them at the crash, whatever the file held
from a save made at any moment before, each output once.
"""

from __future__ import annotations

import json
import random

import nbformat
import pytest
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager

from supernode.display_index import DisplayIndex
from supernode.journal import ExecutionJournal
from supernode.output_log import OutputLog, parse
from supernode.output_writer import OutputWriter
from test_outputs import display, doc_outputs, make_notebook, stream, update

CELLS = ("c1", "c2", "c3")


def random_message(rng: random.Random) -> tuple[str, dict]:
    roll = rng.random()
    if roll < 0.6:
        text = "".join(rng.choice(["a", "é", "😀", " ", "\n", "\r", "\b", "42%"]) for _ in range(rng.randint(0, 8)))
        return stream(text, rng.choice(["stdout", "stdout", "stderr"]))
    if roll < 0.75:
        return display(f"v{rng.randint(0, 99)}", rng.choice([None, "d1", "d2"]))
    if roll < 0.85:
        return update(f"u{rng.randint(0, 99)}", rng.choice(["d1", "d2", "unknown"]))
    if roll < 0.95:
        return "clear_output", {"wait": rng.random() < 0.6}
    return "error", {"ename": "E", "evalue": "é", "traceback": ["t"]}


def normal(outputs: list) -> list:
    return json.loads(json.dumps([nbformat.from_dict(o) for o in outputs]))


def file_outputs(root, name: str) -> dict[str, list]:
    nb = nbformat.reads((root / name).read_text(), as_version=4)
    return {cell.id: normal(cell.outputs) for cell in nb.cells}


async def save(cm, notebook, name: str) -> None:
    await cm.save({"type": "notebook", "format": "json", "content": notebook.get()}, name)


@pytest.mark.parametrize("snapshot_bytes", [1 << 20, 300], ids=["messages", "snapshots"])
async def test_replay_gives_the_document_at_the_crash_whatever_the_last_save_held(tmp_path, snapshot_bytes):
    rng = random.Random(20261202)
    root = tmp_path / "root"
    root.mkdir()
    cm = AsyncFileContentsManager(root_dir=str(root))
    journal = ExecutionJournal(tmp_path / "journal.sqlite")
    await journal.open()
    for round_ in range(30):
        name, execution_id = f"nb{round_}.ipynb", f"e{round_}"
        notebook = make_notebook(*CELLS)
        await save(cm, notebook, name)
        cells = [{"cell_id": cell_id, "status": "queued", "outputs": []} for cell_id in CELLS]
        record = {"id": execution_id, "path": name, "status": "running", "created": f"{round_:04d}", "cells": cells}
        await journal.write(record)
        outputs_log = OutputLog(tmp_path / "outputs", sync_interval=0.01, snapshot_bytes=snapshot_bytes)
        displays = DisplayIndex()
        runs = rng.sample([*CELLS, "c1"], rng.randint(1, 4))
        for n, cell_id in enumerate(runs, 1):
            writer = OutputWriter(notebook, cell_id, displays, log=outputs_log.cell(execution_id, name, cell_id))
            writer.start()
            for _ in range(rng.randint(0, 40)):
                writer.handle(*random_message(rng))
                if rng.random() < 0.3:
                    writer.flush()
                if rng.random() < 0.1:
                    await save(cm, notebook, name)  # a save at any moment, also between two flushes
            if n < len(runs) or rng.random() < 0.8:
                writer.flush()  # as the executor does at the end of a cell; the crash may come before
        at_crash = {cell_id: normal(doc_outputs(notebook, cell_id)) for cell_id in CELLS}
        await outputs_log.close()  # the crash: the execution never ended

        after_crash = OutputLog(tmp_path / "outputs")
        assert await after_crash.replay(cm, journal) in ([execution_id], [])
        await after_crash.close()
        assert file_outputs(root, name) == at_crash, round_
        assert not list((tmp_path / "outputs").glob("*.jsonl"))  # replayed once, then forgotten
        stored = await journal.get(execution_id)
        for cell in stored["cells"]:
            if cell["outputs"]:
                assert normal(cell["outputs"]) == at_crash[cell["cell_id"]]
    await journal.close()


async def test_an_ended_execution_leaves_nothing_to_replay(tmp_path):
    outputs_log = OutputLog(tmp_path / "outputs")
    notebook = make_notebook("c1")
    writer = OutputWriter(notebook, "c1", log=outputs_log.cell("e1", "nb.ipynb", "c1"))
    writer.start()
    writer.handle(*stream("hello\n"))
    writer.flush()
    outputs_log.ended("e1")
    await outputs_log.close()
    assert not list((tmp_path / "outputs").glob("*"))


def test_a_torn_last_line_is_ignored() -> None:
    lines = [
        json.dumps({"execution": "e1", "path": "nb.ipynb", "cell": "c1", "run": 1}),
        json.dumps(["stream", {"name": "stdout", "text": "one\n"}]),
        json.dumps(["stream", {"name": "stdout", "text": "two\n"}]),
        json.dumps(["stream", {"name": "stdout", "text": "three\n"}])[:20],
    ]
    path, cells = parse(["\n".join(lines)])
    assert path == "nb.ipynb"
    assert cells == {"c1": [{"output_type": "stream", "name": "stdout", "text": "one\ntwo\n"}]}


async def test_a_display_updated_for_hours_keeps_a_log_the_size_of_its_outputs(tmp_path):
    outputs_log = OutputLog(tmp_path / "outputs", snapshot_bytes=64 * 1024)
    notebook = make_notebook("c1")
    writer = OutputWriter(notebook, "c1", log=outputs_log.cell("e1", "nb.ipynb", "c1"))
    writer.start()
    writer.handle(*display("0" * 1000, "progress"))
    largest = 0
    for i in range(5_000):  # 5 MB of messages
        writer.handle(*update(f"{i:04d}" + "." * 996, "progress"))
        writer.handle(*stream(f"\r{i}"))
        if i % 10 == 0:
            writer.flush()
            largest = max(largest, sum(f.stat().st_size for f in (tmp_path / "outputs").iterdir()))
    writer.flush()
    assert largest < 200 * 1024
    files = sorted((tmp_path / "outputs").glob("*.jsonl"))
    path, cells = parse([f.read_text() for f in files])
    assert normal(cells["c1"]) == normal(doc_outputs(notebook, "c1"))
    await outputs_log.close()


async def test_a_log_that_cannot_be_written_is_dropped_and_the_cell_runs_on(tmp_path, caplog):
    directory = tmp_path / "outputs"
    directory.mkdir()
    (directory / "e1.000001.jsonl").symlink_to("/dev/full")  # every write fails: ENOSPC
    outputs_log = OutputLog(directory)
    notebook = make_notebook("c1")
    writer = OutputWriter(notebook, "c1", log=outputs_log.cell("e1", "nb.ipynb", "c1"))
    assert writer.log is None
    writer.start()
    writer.handle(*stream("still shown\n"))
    writer.flush()
    assert doc_outputs(notebook, "c1") == [{"output_type": "stream", "name": "stdout", "text": "still shown\n"}]
    assert not list(directory.iterdir())  # nothing partial left to replay
    assert "writing the output log of execution e1 failed" in caplog.text
    await outputs_log.close()
