"""An entry's rest in the load cache (:mod:`supernode.load_cache`): the updates of a staged load's later
stages, stored as one blob (:mod:`supernode.packed_parts`'s layout) and checked by its checksum.
:func:`write_rest` writes it piece by piece and :func:`read_rest` reads it one update at a time, both
through SQLite's incremental blob handle (Python 3.11+; before, the blob at once), so no copy of the
whole rest is made either way."""

from __future__ import annotations

import hashlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from .packed_parts import Packed, packed_pieces, packed_size, read_parts, unpack_parts

__all__ = ["read_rest", "rest_checksum", "write_rest"]


def rest_checksum(rest: Packed) -> str:
    """The checksum of an entry's rest (see :meth:`LoadCache.rest`): of its bytes as one blob."""
    digest = hashlib.sha256()
    for piece in packed_pieces(rest):
        digest.update(piece)
    return digest.hexdigest()


def write_rest(db: sqlite3.Connection, key: str, rest: Packed) -> None:
    """Keep ``rest`` under ``key`` as one blob, written piece by piece through an incremental blob handle
    (Python 3.11+; before, joined first): the updates of a staged load are never copied into one buffer."""
    if not hasattr(db, "blobopen"):
        db.execute("INSERT OR REPLACE INTO rests VALUES (?, ?)", (key, b"".join(packed_pieces(rest))))
        return
    db.execute("INSERT OR REPLACE INTO rests VALUES (?, zeroblob(?))", (key, packed_size(rest)))
    (rowid,) = db.execute("SELECT rowid FROM rests WHERE key = ?", (key,)).fetchone()
    with db.blobopen("rests", "rest", rowid) as blob:
        for piece in packed_pieces(rest):
            blob.write(piece)


def read_rest(db: sqlite3.Connection, rowid: int, length: int, checksum: str) -> tuple[bytes, ...]:
    """The updates packed in the rest at ``rowid`` of ``length`` bytes, each read into a bytes of its own
    through an incremental blob handle (Python 3.11+; before, the blob at once, then cut), checked
    against ``checksum`` (that of the blob: the digest is fed the same bytes in the same order).
    ``ValueError`` (saying what is wrong) for a rest that is cut short or does not match."""
    digest = hashlib.sha256()
    if not hasattr(db, "blobopen"):
        (blob,) = db.execute("SELECT rest FROM rests WHERE rowid = ?", (rowid,)).fetchone()
        digest.update(blob)
        parts = _checked_parts(blob)
    else:
        # The digest is fed on a thread of its own while the next update is read (both release the GIL).
        with db.blobopen("rests", "rest", rowid, readonly=True) as blob, ThreadPoolExecutor(1) as hasher:
            parts = read_parts(blob.read, length, lambda piece: hasher.submit(digest.update, piece))
    if digest.hexdigest() != checksum:
        raise ValueError("does not match its checksum")
    return tuple(parts)


def _checked_parts(blob: bytes) -> list[bytes]:
    try:
        return unpack_parts(blob)
    except ValueError:
        raise ValueError("is cut short") from None
