"""A file's stamp: what tells one version of a file from another without reading it, for the load cache.

The load cache (:mod:`supernode.load_cache`) names a build by the hash of the file's bytes, and hashing a
large notebook means reading all of it (58 MB: 40 ms to read into new memory, 40 more to hash). A
:class:`FileStamp` is what ``fstat`` says of the file: its device and inode (which file), and its size,
modification time and change time in nanoseconds (which version). A write changes the change time
(``ctime``), which no program can set back; a file replaced by a rename is another inode. The cache
remembers, per file, the stamp of the last version it hashed and that hash (:func:`remember_digest`,
:func:`digest_for`): a file whose stamp is the one remembered has those bytes, and its build is found
without reading it. Such a load is still checked: the file is hashed once its first client is served,
and a file found to differ is merged into the room as a change made on disk
(:meth:`~supernode.document.LiveDocument.verified`).

A stamp is only remembered when it is **settled** (:attr:`FileStamp.settled`): the bytes were read at
least :data:`SETTLE_S` after the file's last change (:data:`SETTLE_COARSE_S` for a file system whose times
are whole seconds). Two writes within one tick of the file system's clock can leave the same times;
once that tick has passed, the next write has a later one. Times of zero (file systems that keep none)
are never settled.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["FileStamp", "SETTLE_COARSE_S", "SETTLE_S", "digest_for", "file_digest", "remember_digest", "stamp_of"]

SETTLE_S = 1.0  # seconds after a file's last change from which its stamp is remembered
SETTLE_COARSE_S = 3.0  # the same for a file whose times are whole seconds (FAT keeps two-second times)
MAX_STAMPS = 4096  # files whose stamp the cache remembers; the oldest remembered go first
_NS = 1_000_000_000
_PIECE = 1 << 20  # bytes read and hashed at a time

SCHEMA = """
CREATE TABLE IF NOT EXISTS stamps (
    file TEXT PRIMARY KEY,  -- FileStamp.file: device and inode
    version TEXT NOT NULL,  -- FileStamp.version: size, mtime and ctime
    algorithm TEXT NOT NULL,
    digest TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class FileStamp:
    """One version of one file, as ``fstat`` saw it (see the module's docstring)."""

    file: str
    version: str
    size: int
    settled: bool

    def same(self, other: FileStamp) -> bool:
        """Whether ``other`` names the same version of the same file (settled or not)."""
        return (self.file, self.version) == (other.file, other.version)


def stamp_of(st: os.stat_result, now_ns: int) -> FileStamp:
    """The stamp of the file ``st`` describes, stat'ed at ``now_ns`` (``time.time_ns()``), before its bytes were read."""
    changed = max(st.st_mtime_ns, st.st_ctime_ns)
    coarse = st.st_mtime_ns % _NS == 0 and st.st_ctime_ns % _NS == 0
    settle_ns = int((SETTLE_COARSE_S if coarse else SETTLE_S) * _NS)
    known = st.st_ino != 0 and st.st_mtime_ns > 0 and st.st_ctime_ns > 0
    return FileStamp(
        file=f"{st.st_dev}:{st.st_ino}",
        version=f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}",
        size=st.st_size,
        settled=known and now_ns - changed >= settle_ns,
    )


def file_digest(f: BinaryIO, algorithm: str) -> str:
    """The digest by ``algorithm`` of what is left to read of ``f``, read a piece at a time (nothing the
    size of the file is held)."""
    digest = hashlib.new(algorithm)
    piece = bytearray(_PIECE)
    view = memoryview(piece)
    while True:
        n = f.readinto(view)  # type: ignore[attr-defined]
        if not n:
            return digest.hexdigest()
        digest.update(view[:n])


def digest_for(db: sqlite3.Connection, stamp: FileStamp, algorithm: str) -> str | None:
    """The digest by ``algorithm`` remembered for the version ``stamp`` names; None if another (or none) is."""
    row = db.execute("SELECT version, algorithm, digest FROM stamps WHERE file = ?", (stamp.file,)).fetchone()
    if row is None or row[0] != stamp.version or row[1] != algorithm:
        return None
    return row[2]


def remember_digest(db: sqlite3.Connection, stamp: FileStamp, algorithm: str, digest: str) -> None:
    """Remember that the version ``stamp`` names has ``digest`` (only a settled stamp is: see the module's
    docstring); at most :data:`MAX_STAMPS` files are remembered."""
    if not stamp.settled:
        return
    db.execute("INSERT OR REPLACE INTO stamps VALUES (?, ?, ?, ?)", (stamp.file, stamp.version, algorithm, digest))
    db.execute(
        "DELETE FROM stamps WHERE rowid <= (SELECT MAX(rowid) FROM stamps) - ?", (MAX_STAMPS,)
    )
