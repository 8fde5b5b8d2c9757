"""An entry's rest in the load cache (:mod:`supernode.load_cache`): the updates of a staged load's later
stages, stored as one blob and read back one update at a time, each checked before it is given out.

The blob holds each update after its length (``PART_HEADER`` bytes, little-endian) and its sha256
digest (``DIGEST`` bytes). An entry's ``rest_checksum`` (:func:`rest_checksum`) is the sha256 of those
digests, in order: it ties the rest to its entry's row, whose own checksum covers it.
:func:`stream_rest` gives each update out as soon as it is read and its digest matches (the live
document applies it while the next is read); a rest cut short, an update that does not match, or a
rest whose digests do not make its checksum raises ``ValueError`` when it is found, after the updates
before it were given out (each of them checked). :func:`write_rest` writes the blob piece by piece.
Both go through SQLite's incremental blob handle (Python 3.11+; before, the blob at once), so no copy
of the whole rest is made either way.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from .packed_parts import PART_HEADER, Packed, iter_parts

__all__ = ["DIGEST", "rest_checksum", "rest_size", "stream_rest", "write_rest"]

DIGEST = 32  # bytes of each update's sha256 digest, after its length


def _digests(rest: Packed) -> list[bytes]:
    return [hashlib.sha256(part).digest() for part in iter_parts(rest)]


def _checksum(digests: list[bytes]) -> str:
    return hashlib.sha256(b"".join(digests)).hexdigest()


def rest_checksum(rest: Packed) -> str:
    """The checksum of an entry's rest: the sha256 of its updates' digests, in order."""
    return _checksum(_digests(rest))


def rest_size(rest: Packed) -> int:
    """The length in bytes of ``rest`` as the blob :func:`write_rest` writes."""
    return sum(PART_HEADER + DIGEST + len(part) for part in iter_parts(rest))


def _pieces(rest: Packed, digests: list[bytes]) -> Iterator[bytes]:
    for part, digest in zip(iter_parts(rest), digests, strict=True):
        yield len(part).to_bytes(PART_HEADER, "little") + digest
        yield part


def write_rest(db: sqlite3.Connection, key: str, rest: Packed) -> str:
    """Keep ``rest`` under ``key`` as one blob, written piece by piece through an incremental blob handle
    (Python 3.11+; before, joined first): the updates of a staged load are never copied into one buffer.
    Returns its checksum (:func:`rest_checksum`)."""
    digests = _digests(rest)
    if not hasattr(db, "blobopen"):
        db.execute("INSERT OR REPLACE INTO rests VALUES (?, ?)", (key, b"".join(_pieces(rest, digests))))
        return _checksum(digests)
    db.execute("INSERT OR REPLACE INTO rests VALUES (?, zeroblob(?))", (key, rest_size(rest)))
    (rowid,) = db.execute("SELECT rowid FROM rests WHERE key = ?", (key,)).fetchone()
    with db.blobopen("rests", "rest", rowid) as blob:
        for piece in _pieces(rest, digests):
            blob.write(piece)
    return _checksum(digests)


def stream_rest(
    db: sqlite3.Connection, rowid: int, length: int, checksum: str, emit: Callable[[bytes], object]
) -> int:
    """Give ``emit`` the updates of the rest at ``rowid`` (``length`` bytes), in order, each once its
    digest matches; return how many. Each update is read into a bytes of its own through an incremental
    blob handle (Python 3.11+; before, the blob at once), and hashed on a thread of its own while the
    next is read (both release the GIL). ``ValueError`` (saying what is wrong) for a rest that is cut
    short, an update that does not match its digest, or digests that do not make ``checksum``."""
    if hasattr(db, "blobopen"):
        with db.blobopen("rests", "rest", rowid, readonly=True) as blob, ThreadPoolExecutor(1) as hasher:
            return _stream(blob.read, length, checksum, emit, hasher)
    (whole,) = db.execute("SELECT rest FROM rests WHERE rowid = ?", (rowid,)).fetchone()
    view = memoryview(whole)
    at = 0

    def read(n: int) -> bytes:
        nonlocal at
        piece = bytes(view[at : at + n])
        at += len(piece)
        return piece

    with ThreadPoolExecutor(1) as hasher:
        return _stream(read, len(whole), checksum, emit, hasher)


def _stream(
    read: Callable[[int], bytes],
    length: int,
    checksum: str,
    emit: Callable[[bytes], object],
    hasher: ThreadPoolExecutor,
) -> int:
    digests: list[bytes] = []
    held: tuple[bytes, bytes, Future[bytes]] | None = None  # the update read last, its digest, its hash

    def release() -> None:
        assert held is not None
        part, digest, hashed = held
        if hashed.result() != digest:
            raise ValueError(f"update {len(digests) + 1} does not match its digest")
        digests.append(digest)
        emit(part)

    at = 0
    while at < length:
        head = read(PART_HEADER + DIGEST)
        size = int.from_bytes(head[:PART_HEADER], "little")
        at += PART_HEADER + DIGEST
        whole = len(head) == PART_HEADER + DIGEST and at + size <= length
        part = read(size) if whole else b""
        whole = whole and len(part) == size
        if held is not None:  # the update before is whole: given before anything else is said
            release()
            held = None
        if not whole:
            raise ValueError("is cut short")
        at += size
        held = (part, head[PART_HEADER:], hasher.submit(_sha256, part))  # hashed while the next is read
    if held is not None:
        release()
    if _checksum(digests) != checksum:
        raise ValueError("does not match its checksum")
    return len(digests)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
