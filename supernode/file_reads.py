"""A notebook's file as a load reads it, with its stamp (:mod:`supernode.file_stamps`) taken first.

:func:`reads_plain_files` says whether a contents manager reads a notebook from its file's bytes alone
(jupyter_server's own file manager, unchanged where it reads one): only then are these reads its reads.

:func:`read_file` gives a :class:`FileRead`: the contents model without content, the file's stamp, and
either its bytes or, when the load cache remembers a digest for that stamp, that digest (the bytes
unread). :func:`digest_now` hashes the file as it is now, a piece at a time: what checks a load found by its
stamp. Both work on a worker thread and on the open file (the stamp
and the bytes are those of one file, even if it is replaced meanwhile).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager
from tornado.web import HTTPError

from .file_stamps import FileStamp, file_digest, stamp_of

if TYPE_CHECKING:
    from .load_cache import CachedLoad, LoadCache

__all__ = ["FileRead", "digest_now", "read_file", "reads_plain_files"]

# What a file manager must not override for its reads to depend on the file's bytes alone.
_READ_METHODS = ("get", "_notebook_model", "_read_notebook", "_base_model", "_get_os_path", "mark_trusted_cells")


def reads_plain_files(cm: Any) -> bool:
    """Whether ``cm`` is jupyter_server's own file manager, unchanged where it reads a notebook."""
    for base in (AsyncFileContentsManager, FileContentsManager):
        if isinstance(cm, base):
            return all(getattr(type(cm), name, None) is getattr(base, name) for name in _READ_METHODS)
    return False


@dataclass
class FileRead:
    """A notebook's file as a load found it: its contents model without content (``stat``), its ``stamp``
    (taken before its bytes were read), and either its bytes (``raw``) or the ``digest`` the cache
    remembers for that stamp; then, if asked for (``looked_up``), the cache's ``entry`` for that digest
    (None: none)."""

    stat: dict[str, Any]
    stamp: FileStamp
    raw: bytes | None
    digest: str | None
    entry: CachedLoad | None = None
    looked_up: bool = False


async def read_file(
    cm: Any, path: str, cache: LoadCache | None, entry_key: Callable[[str, int], str] | None = None
) -> FileRead | None:
    """The file at ``path`` as it is now, through jupyter_server's file manager ``cm``: its bytes are not
    read when ``cache`` (None: read them) remembers a digest for its stamp; then, given ``entry_key`` (the
    cache's key for a digest and a size), the cache's entry is looked up too, on the same worker thread:
    the load of a room a session request was answered for waits on each hop to a worker and back.
    None if it cannot be read here (the contents manager then reports why)."""
    # The stat first: a write between it and the read is then seen as a change on disk later
    # (merged, a no-op for content we already hold), never the other way round.
    stat = await ensure_async(cm.get(path, content=False, type="notebook"))
    algorithm = cm.hash_algorithm

    def read(os_path: str) -> FileRead:
        with open(os_path, "rb") as f:
            stamp = stamp_of(os.fstat(f.fileno()), time.time_ns())  # before the bytes are read
            digest = None if cache is None else cache.known_digest(stamp, algorithm)
            if digest is None:
                return FileRead(stat, stamp, f.read(), None)
        if entry_key is None or cache is None:
            return FileRead(stat, stamp, None, digest)
        return FileRead(stat, stamp, None, digest, cache.get_now(entry_key(digest, stamp.size)), looked_up=True)

    try:
        return await asyncio.to_thread(read, cm._get_os_path(path))
    except OSError:
        return None


async def digest_now(cm: Any, path: str) -> tuple[FileStamp, str] | None:
    """The stamp and the digest (by ``cm``'s hash algorithm) of the file at ``path`` as it is now, read a
    piece at a time; None if it cannot be read."""
    algorithm = cm.hash_algorithm

    def hash_file(os_path: str) -> tuple[FileStamp, str]:
        with open(os_path, "rb") as f:
            stamp = stamp_of(os.fstat(f.fileno()), time.time_ns())
            return stamp, file_digest(f, algorithm)

    try:
        stamp, digest = await asyncio.to_thread(hash_file, cm._get_os_path(path))
    except (OSError, HTTPError):
        return None
    return stamp, digest
