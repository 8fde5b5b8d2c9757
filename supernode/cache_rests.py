"""An entry's rest in the load cache (:mod:`supernode.load_cache`): the updates of a staged load's later
stages, stored as one blob (:mod:`supernode.packed_parts`'s layout), each update checked by a digest of
its own (the entry lists them: :func:`rest_digests`). The digest is XXH3's 64 bits (the ``xxhash``
package: 0.02 ms a megabyte here, against 0.25 for zlib's CRC-32 and 0.7 for sha256; the checksum of
zstd's frames): it guards copies against damage, as a zip file's or a file system's checksums do, not
against someone who can write the store (who could write any digest too); what the entry is the build
of, its key names by the file's own hash.

:func:`write_rest` writes the blob piece by piece through SQLite's incremental blob handle (Python
3.11+; before, joined first), so the updates kept apart are not copied into one buffer.
:func:`stream_rest` reads it back one update at a time and hands each on as soon as its digest matches:
the live document applies the first updates (and its clients get them) while the later ones are read
and checked. Each update is read into a bytes object of its own, which the live document keeps as it
is: nothing is copied out of a larger blob.

Why stream: read whole, then checked, a 50 MB rest (58 MB notebook) took 80 ms (read 32, sha256 48)
before its first update could go out; the stages then took 95 ms more on the event loop. Streamed, the
read and the digests of the later updates run on a worker thread (both release the GIL) while the event
loop applies and sends the earlier ones. That thread shares the machine's cores with the event loop and
the clients: the CRC-32s it computed before (24 ms for 50 MB) were a tenth of a re-open's whole time.
An update is never applied before its digest matched; a rest that turns out damaged part way (cut short,
an update that does not match) stops there, and the updates handed on before stand (see
:class:`~supernode.cached_stages.CachedStages`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator

import xxhash

from .packed_parts import PART_HEADER, Packed, iter_parts, packed_pieces, packed_size

__all__ = ["DIGEST", "rest_digests", "stream_rest", "write_rest"]

DIGEST = 8  # bytes of each update's digest (XXH3, 64 bits) in an entry's list


def _digest(part: bytes) -> bytes:
    return xxhash.xxh3_64_digest(part)


def rest_digests(rest: Packed) -> bytes:
    """The digests of the updates packed in ``rest``, in order, ``DIGEST`` bytes each."""
    return b"".join(_digest(part) for part in iter_parts(rest))


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


def stream_rest(
    db: sqlite3.Connection, rowid: int, length: int, digests: bytes, deliver: Callable[[bytes], None]
) -> None:
    """Read the rest at ``rowid`` (``length`` bytes) one update at a time, check each against its digest
    in ``digests`` and give it to ``deliver``, in order (on the calling thread). ``ValueError``, saying
    what is wrong, for a rest that is cut short, holds more than its updates, or has an update that does
    not match its digest; the updates given before it stand (each matched its digest)."""
    count = len(digests) // DIGEST
    at = 0
    with _reader(db, rowid, length) as read:
        for index in range(count):
            if at + PART_HEADER > length:
                raise ValueError(f"is cut short (update {index + 1} of {count})")
            size = int.from_bytes(read(PART_HEADER), "little")
            at += PART_HEADER
            part = read(size) if at + size <= length else b""
            at += size
            if len(part) != size:
                raise ValueError(f"is cut short (update {index + 1} of {count})")
            if _digest(part) != digests[index * DIGEST : (index + 1) * DIGEST]:
                raise ValueError(f"does not match its checksum (update {index + 1} of {count})")
            deliver(part)
    if at != length:
        raise ValueError(f"holds more than its {count} updates")


@contextlib.contextmanager
def _reader(db: sqlite3.Connection, rowid: int, length: int) -> Iterator[Callable[[int], bytes]]:
    """A function that reads the next ``n`` bytes of the rest at ``rowid`` (fewer at its end), each read a
    bytes object of its own: through an incremental blob handle (Python 3.11+: SQLite copies with the GIL
    released), else out of the blob read whole by a query."""
    if hasattr(db, "blobopen"):
        with db.blobopen("rests", "rest", rowid, readonly=True) as handle:
            yield handle.read
        return
    (blob,) = db.execute("SELECT rest FROM rests WHERE rowid = ?", (rowid,)).fetchone()
    view = memoryview(blob)[:length]
    at = 0

    def read(n: int) -> bytes:
        nonlocal at
        piece = bytes(view[at : at + n])
        at += n
        return piece

    yield read
