"""supernode.heap: freed heap memory is handed back after a burst, at most once per interval."""

from __future__ import annotations

import sys

from supernode.heap import HeapTrimmer


def test_the_heap_is_trimmed_at_most_once_per_interval():
    trimmer = HeapTrimmer(min_interval=3600)
    assert trimmer.available == sys.platform.startswith("linux")  # glibc on this machine
    assert trimmer.trim() is trimmer.available
    assert trimmer.trim() is False  # within the interval
    assert trimmer.trims == (1 if trimmer.available else 0)
    again = HeapTrimmer(min_interval=0)
    assert again.trim() is again.trim() is again.available
