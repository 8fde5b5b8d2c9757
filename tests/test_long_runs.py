"""Long runs: what one more output line costs the server must not grow with the output already written.

The writer's appends into a stream's ``Text`` (bounded items, see ``supernode.doc_stream``),
what the frontend and a Yjs replica see of them, and the periodic work around a running cell (the
record journalled every ``record_interval``, the read-back after each save) kept off the event loop.
``bench/long_run.py`` measures the whole server; these tests pin each part.
"""

from __future__ import annotations

import time

from pycrdt import Doc

from supernode.display_index import DisplayIndex
from supernode.doc_stream import RUN_BYTES
from supernode.output_writer import OutputWriter
from test_outputs import FrontendView, assert_frontend_shape, doc_outputs, make_notebook, stream, ycell


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
