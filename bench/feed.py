"""What following a notebook costs: server CPU per change with a change feed attached, and without.

Usage: ``python bench/feed.py [--changes 2000] [--repeat 3]``. In-process (no server): a 200-cell
notebook (jupyter_ydoc's YNotebook, as the supernode holds it); ``--changes`` single-character
insertions at the end of one cell's source (a person typing), then as many stream appends of a 70-character
line to one cell's output (a running cell printing, one flush each), timed with and without a
:class:`supernode.notebook_feed.NotebookFeed` observing the document. Prints microseconds per change
(the best of ``--repeat`` runs) and the average size of the events' JSON.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from jupyter_ydoc import YNotebook
from pycrdt import Map, Text

from supernode.event_ring import EventRing
from supernode.notebook_feed import NotebookFeed


class _Live:
    """The part of a LiveDocument a feed reads."""

    def __init__(self, document: YNotebook) -> None:
        self.document, self.path = document, "bench.ipynb"


def _notebook() -> YNotebook:
    nb = YNotebook()
    cell = {"cell_type": "code", "source": "x = 1\n" * 20, "metadata": {}, "outputs": [], "execution_count": None}
    nb.set({"cells": [{**cell, "id": f"c{i}"} for i in range(200)], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    return nb


def run(with_feed: bool, changes: int) -> dict[str, Any]:
    nb = _notebook()
    feed = None
    if with_feed:
        feed = NotebookFeed("bench", "bench.ipynb", EventRing(first=1, max_events=100_000, max_bytes=1 << 30))
        feed.attach(_Live(nb))
    source = nb.ycells[100]["source"]
    started = time.perf_counter()
    for _ in range(changes):
        source.insert(len(source), "é")
    typing = (time.perf_counter() - started) / changes
    outputs = nb.ycells[150]["outputs"]
    outputs.append(Map({"output_type": "stream", "name": "stdout", "text": Text("")}))
    stream, size = outputs[0]["text"], 0
    started = time.perf_counter()
    for i in range(changes):
        line = f"line {i:6d} " + "x" * 58 + "\n"
        stream.insert(size, line)
        size += len(line.encode())
    appending = (time.perf_counter() - started) / changes
    event_bytes = feed.ring.size / len(feed.ring) if feed is not None else 0.0
    return {"typing_us": typing * 1e6, "append_us": appending * 1e6, "event_bytes": event_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for with_feed in (False, True):
        runs = [run(with_feed, args.changes) for _ in range(args.repeat)]
        typing = min(r["typing_us"] for r in runs)
        appending = min(r["append_us"] for r in runs)
        label = "with a feed" if with_feed else "no feed    "
        print(f"{label}: keystroke {typing:6.1f} µs, stream append {appending:6.1f} µs, "
              f"event {runs[0]['event_bytes']:.0f} B")  # fmt: skip


if __name__ == "__main__":
    main()
