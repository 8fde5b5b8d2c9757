"""Give the C heap's free memory back to the operating system after a burst of work.

A cell's run allocates and frees a lot in a short time (a batch of up to a thousand
iopub messages, output versions, the save's snapshot). CPython and the CRDT library
free that memory, but glibc's allocator keeps the freed pages in its heaps, so the
process's resident size creeps up run after run although nothing is alive. After an
execution queue drains, :class:`HeapTrimmer` calls glibc's ``malloc_trim(0)``, which
hands free pages back (a few milliseconds at most); never more often than
``min_interval`` seconds. On a C library without ``malloc_trim`` it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import time

__all__ = ["HeapTrimmer"]

log = logging.getLogger("supernode.heap")


def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapTrimmer:
    """Calls ``malloc_trim(0)`` when asked, at most once per ``min_interval`` seconds."""

    def __init__(self, min_interval: float = 1.0) -> None:
        self.min_interval = min_interval
        self.trims = 0  # how many times the heap was trimmed
        self._trim = _malloc_trim()
        self._last = float("-inf")

    @property
    def available(self) -> bool:
        """Whether this C library can trim its heap."""
        return self._trim is not None

    def trim(self) -> bool:
        """Trim the heap now unless that was done less than ``min_interval`` ago; returns whether it was."""
        now = time.monotonic()
        if self._trim is None or now - self._last < self.min_interval:
            return False
        self._last = now
        self._trim(0)
        self.trims += 1
        log.debug("heap trimmed in %.1f ms", (time.monotonic() - now) * 1000)
        return True
