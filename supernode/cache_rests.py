"""An entry's rest in the load cache (:mod:`supernode.load_cache`): the updates of a staged load's later
stages, stored as one blob (:mod:`supernode.packed_parts`'s layout) and checked by its checksum.
:func:`write_rest` writes it piece by piece through SQLite's incremental blob handle (Python 3.11+;
before, joined first), so the updates kept apart are not copied into one buffer; :func:`read_rest`
reads it as one blob, which the live document keeps as it is (its updates are copied out one at a time
as they are applied).

Why one read: the read runs on a worker thread while the event loop serves the first client. Each call
that releases the GIL (a read of SQLite, a digest's update) must take it back from the loop, which
holds it up to the switch interval (5 ms) at a time: reading and hashing 20 updates one by one took
66 ms in a server against 17 ms in a process of its own; one read and one digest take it back twice."""

from __future__ import annotations

import hashlib
import sqlite3

from .packed_parts import Packed, count_parts, packed_pieces, packed_size

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


def read_rest(db: sqlite3.Connection, rowid: int, length: int, checksum: str) -> bytes:
    """The rest at ``rowid`` of ``length`` bytes, read as one blob (through an incremental blob handle on
    Python 3.11+: SQLite copies it with the GIL released), walked (its parts are all there) and checked
    against ``checksum``. ``ValueError`` (saying what is wrong) for a rest that is cut short or does not
    match."""
    if hasattr(db, "blobopen"):
        with db.blobopen("rests", "rest", rowid, readonly=True) as handle:
            blob = handle.read(length)
    else:
        (blob,) = db.execute("SELECT rest FROM rests WHERE rowid = ?", (rowid,)).fetchone()
    try:
        if len(blob) != length:
            raise ValueError
        count_parts(blob)
    except ValueError:
        raise ValueError("is cut short") from None
    if hashlib.sha256(blob).hexdigest() != checksum:
        raise ValueError("does not match its checksum")
    return blob
