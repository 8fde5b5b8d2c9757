"""Conflict copies: a version of a document the room could not take, saved beside its file.

Two things put one there: a client of an earlier load of the room that comes back holding content
the room lacks (its history cannot be merged), and a merge from disk in which another program and a
collaborator changed the same cell (the disk's version goes in the room, the collaborator's in the
copy). The copy is named after the file, ``NAME.conflict-YYYYmmdd-HHMMSS.EXT`` (``-2``, ``-3``, …
when that name is taken), and written through the contents manager like any save.

Error handling: a failed write raises what the contents manager raised; the caller logs it.
"""

from __future__ import annotations

import posixpath
import time
from typing import Any

from jupyter_core.utils import ensure_async

from .content import model_for_save
from .keys import DocumentKey

__all__ = ["conflict_copy_path", "save_conflict_copy"]

_MAX_TRIES = 100


async def conflict_copy_path(contents_manager: Any, path: str, now: float | None = None) -> str:
    """A free path beside ``path`` for a conflict copy made at ``now`` (seconds since the epoch)."""
    root, ext = posixpath.splitext(path)
    stem = f"{root}.conflict-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now))}"
    for n in range(1, _MAX_TRIES + 1):
        candidate = f"{stem}{'' if n == 1 else f'-{n}'}{ext}"
        if not await ensure_async(contents_manager.file_exists(candidate)):
            return candidate
    raise FileExistsError(f"{_MAX_TRIES} conflict copies of {path} in one second")


async def save_conflict_copy(contents_manager: Any, key: DocumentKey, path: str, data: Any) -> str:
    """Write ``data`` (a notebook dict, text or bytes, as :func:`~supernode.content.snapshot` gives) as a
    conflict copy of ``path``; returns the copy's path."""
    copy_path = await conflict_copy_path(contents_manager, path)
    await ensure_async(contents_manager.save(model_for_save(key, data), copy_path))
    return copy_path
