"""Long runs: what one more output line costs the server must not grow with the output already written.

The writer's appends into a stream's ``Text`` (bounded items, see ``supernode.doc_stream``),
what the frontend and a Yjs replica see of them, and the periodic work around a running cell (the
record journalled every ``record_interval``, the read-back after each save) kept off the event loop,
and its autosaves paced by what they cost.
``bench/long_run.py`` measures the whole server; these tests pin each part.
"""

from __future__ import annotations

import asyncio
import time

import nbformat
from pycrdt import Doc

from supernode.display_index import DisplayIndex
from supernode.doc_stream import RUN_BYTES
from supernode.file_sync import file_stamp
from supernode.journal import ExecutionJournal
from supernode.output_writer import OutputWriter
from supernode.read_back import cell_sources, file_hash, notebook_sources
from supernode.records import CellRun, Execution
from supernode.saver import SaveSchedule
from test_outputs import FrontendView, assert_frontend_shape, display, doc_outputs, make_notebook, stream, ycell


def _cost_per_line(writer: OutputWriter, lines: int = 200, rounds: int = 5) -> float:
    """CPU seconds per one-line message written in its own transaction (the lowest of ``rounds`` rounds)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        for i in range(lines):
            writer.handle(*stream(f"step {i} loss 0.{i:04d}\n"))
            writer.flush()
        best = min(best, (time.thread_time() - start) / lines)
    return best


def test_one_more_line_costs_the_same_at_2_mb_as_at_the_start() -> None:
    nb = make_notebook("c1")
    writer = OutputWriter(nb, "c1", DisplayIndex(), autoflush=False)
    writer.start()
    writer.handle_many([stream(f"warm-up {i}\n") for i in range(1000)])
    early = _cost_per_line(writer)
    chunk = ("x" * 99 + "\n") * 200  # 20 KB per transaction, 2 MB in all
    for _ in range(100):
        writer.handle_many([stream(chunk)])
    late = _cost_per_line(writer)
    text = ycell(nb, "c1")["outputs"][0]["text"]
    assert len(text) > 2_000_000
    assert late < 2.0 * early, f"one line costs {late * 1e6:.0f} µs at 2 MB, {early * 1e6:.0f} µs at the start"


def test_cut_appends_show_only_the_text_to_the_frontend_and_to_a_replica() -> None:
    """Appends past RUN_BYTES go in behind a placeholder deleted in the same transaction: no client sees it."""
    nb = make_notebook("c1")
    view = FrontendView(nb)
    replica = Doc()
    replica.apply_update(nb.ydoc.get_update())
    nb.ydoc.observe(lambda event: replica.apply_update(event.update))
    writer = OutputWriter(nb, "c1", DisplayIndex(), autoflush=False)
    writer.start()
    shown = ""
    i = 0
    while len(shown.encode()) < 4 * RUN_BYTES:
        # Plain lines, non-ASCII, a progress bar redrawn with \r across flushes, stderr in between.
        batch = [stream(f"é line {i} 😀\n"), stream(f"{i}% 中\r"), stream(f"{i + 1}% 中\r")]
        batch.append(stream(f"done {i}\n"))
        writer.handle_many(batch)
        shown += f"é line {i} 😀\ndone {i}\n"
        i += 1
        if i % 97 == 0:
            view.sync()
            assert view.outputs("c1") == writer.outputs
    writer.handle_many([stream("err\n", "stderr"), stream("last\n")])
    view.sync()
    expected = [
        {"output_type": "stream", "name": "stdout", "text": shown},
        {"output_type": "stream", "name": "stderr", "text": "err\n"},
        {"output_type": "stream", "name": "stdout", "text": "last\n"},
    ]
    assert writer.outputs == expected
    assert doc_outputs(nb, "c1") == expected
    assert view.outputs("c1") == expected
    assert replica.get("cells", type=type(nb.ycells))[0]["outputs"].to_py() == expected
    assert "\x00" not in str(ycell(nb, "c1")["outputs"][0]["text"])
    assert_frontend_shape(nb, "c1")


# ---------------------------------------------------------------------------------------------
# The record of a running cell, journalled every record_interval


def _running_execution(lines: int) -> tuple[Execution, OutputWriter]:
    nb = make_notebook("c1")
    writer = OutputWriter(nb, "c1", DisplayIndex(), autoflush=False)
    writer.start()
    writer.handle_many([stream(("x" * 99 + "\n") * (lines // 1000 or 1)) for _ in range(1000)])
    writer.handle_many([display("shown"), stream("after é\n"), stream("50%\r")])
    step = CellRun("c1", status="running", live=writer)
    return Execution(path="n.ipynb", cells=[step], status="running"), writer


async def _loop_cpu_of_record(journal: ExecutionJournal, execution: Execution) -> float:
    """CPU seconds the event loop's thread spends to journal ``execution`` (lowest of 3)."""
    best = float("inf")
    for _ in range(3):
        start = time.thread_time()
        await journal.write(execution.to_json(deferred=True))
        best = min(best, time.thread_time() - start)
    return best


async def test_a_running_record_costs_the_loop_the_same_at_20_mb_as_at_100_kb(tmp_path) -> None:
    journal = ExecutionJournal(tmp_path / "journal.sqlite")
    await journal.open()
    try:
        small, _ = _running_execution(1000)
        big, writer = _running_execution(200_000)
        small_cpu = await _loop_cpu_of_record(journal, small)
        big_cpu = await _loop_cpu_of_record(journal, big)
        stored = await journal.get(big.id)
        assert stored["cells"][0]["outputs"] == writer.outputs  # built on the journal's thread, all of it
        assert len(stored["cells"][0]["outputs"][0]["text"]) > 19_000_000
        assert big_cpu < max(2 * small_cpu, 0.002), f"{big_cpu * 1e3:.1f} ms vs {small_cpu * 1e3:.1f} ms"
    finally:
        await journal.close()


def test_a_snapshot_keeps_the_outputs_as_they_were_while_the_writer_goes_on() -> None:
    execution, writer = _running_execution(1000)
    before = writer.outputs
    record = execution.to_json(deferred=True)
    writer.handle_many([stream("more\n"), display("later"), ("clear_output", {"wait": False}), stream("new\n")])
    assert record["cells"][0]["outputs"].to_json() == before
    assert (
        execution.to_json()["cells"][0]["outputs"]
        == writer.outputs
        == [{"output_type": "stream", "name": "stdout", "text": "new\n"}]
    )


# ---------------------------------------------------------------------------------------------
# The read-back after each save


def _big_notebook(path, megabytes: int) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('a')")
    text = "".join(f"line {i}\n" for i in range(megabytes * 80_000))
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("# é")]
    nbformat.write(nb, str(path))


async def test_the_read_back_of_a_20_mb_notebook_runs_off_the_event_loop(tmp_path) -> None:
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

    cm = AsyncLargeFileManager(root_dir=str(tmp_path))
    _big_notebook(tmp_path / "big.ipynb", 20)
    loop_cpu = time.thread_time()
    stamp, sources = await cell_sources(cm, "big.ipynb", "notebook", "json")
    digest = await file_hash(cm, "big.ipynb")
    loop_cpu = time.thread_time() - loop_cpu
    model = await cm.get("big.ipynb", content=True, require_hash=True)
    assert stamp == file_stamp(model) and digest == model["hash"]
    assert sources == notebook_sources(model["content"]) == [(c.id, c.source) for c in model["content"].cells]
    assert loop_cpu < 0.02, f"the event loop's thread spent {loop_cpu * 1e3:.0f} ms reading 20 MB back"


async def test_a_contents_manager_with_its_own_get_is_asked_through_it(tmp_path) -> None:
    from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager

    asked = []

    class Mapping(AsyncLargeFileManager):
        async def get(self, path, content=True, type=None, format=None, require_hash=False):
            asked.append((path, content, require_hash))
            return await super().get(path, content=content, type=type, format=format, require_hash=require_hash)

    cm = Mapping(root_dir=str(tmp_path))
    _big_notebook(tmp_path / "n.ipynb", 1)
    _, sources = await cell_sources(cm, "n.ipynb", "notebook", "json")
    digest = await file_hash(cm, "n.ipynb")
    assert asked == [("n.ipynb", True, False), ("n.ipynb", False, True)]
    assert sources[1] == (sources[1][0], "# é") and digest


# ---------------------------------------------------------------------------------------------
# Autosaves of a document that keeps changing, paced by what they cost


async def _first_autosave_after(schedule_args: dict, spent: float) -> float:
    """Seconds from the first of a stream of changes (one every 10 ms) to the autosave they bring."""
    loop = asyncio.get_running_loop()
    fired = asyncio.Event()
    schedule = SaveSchedule(fired.set, **schedule_args)
    schedule.spent(spent)
    first = loop.time()

    def change() -> None:
        if not fired.is_set():
            schedule.changed()
            loop.call_later(0.01, change)

    change()
    await asyncio.wait_for(fired.wait(), 10)
    return loop.time() - first


async def test_a_costly_save_puts_the_next_autosave_off_by_its_cost_over_the_share() -> None:
    paced = await _first_autosave_after({"delay": 0.05, "max_wait": 0.1, "share": 0.25}, spent=0.15)
    assert 0.6 - 0.02 <= paced < 0.6 + 0.5  # 0.15 s / 0.25: the saves take at most a quarter of the time
    cheap = await _first_autosave_after({"delay": 0.05, "max_wait": 0.1, "share": 0.25}, spent=0.01)
    assert 0.1 - 0.02 <= cheap < 0.1 + 0.5  # a cheap save: max_wait as ever
    unpaced = await _first_autosave_after({"delay": 0.05, "max_wait": 0.1}, spent=0.15)
    assert 0.1 - 0.02 <= unpaced < 0.1 + 0.5  # no share: max_wait whatever a save costs
