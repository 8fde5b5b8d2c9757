"""Built documents kept across restarts: a notebook whose file has not changed opens from here.

Building a notebook's shared document from its file (read, validate, build the CRDT) costs
seconds for large notebooks, and gives the same Yjs items for the same file (see
:mod:`supernode.content`). :class:`LoadCache` keeps what a build gave, keyed by everything the build
depends on (:func:`cache_key`): the file's content hash, the room's format and type, the
staged-loading threshold, the notary's key, and the versions of the libraries that build it. A
changed file has another hash, so a stale entry is never found. An entry whose checksum does not
match what was stored is dropped, and the document is built from the file again.

The store is one SQLite file, bounded by the total size of its entries (the least recently used go
first). Every call runs off the event loop. A file that is not a database (or a damaged one) is
moved aside and a new store started; a store that fails otherwise (no space, no permission) is
logged once and bypassed from then on: opening a document never depends on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = [
    "CachedLoad",
    "LoadCache",
    "append_part",
    "cache_key",
    "count_parts",
    "iter_parts",
    "pack_parts",
    "unpack_parts",
]

log = logging.getLogger("supernode.load_cache")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS loads (
    key TEXT PRIMARY KEY,
    first BLOB NOT NULL,
    rest BLOB,
    staged_cells INTEGER NOT NULL,  -- how many updates rest packs (CachedLoad.staged_parts)
    signature TEXT,
    trusted INTEGER,
    checksum TEXT NOT NULL,
    size INTEGER NOT NULL,
    used REAL NOT NULL
)
"""
_BUILDERS = ("jupyter-rtc", "pycrdt", "jupyter_ydoc", "nbformat")


def _versions() -> str:
    found = []
    for name in _BUILDERS:
        try:
            found.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}=?")
    return ",".join(found)


_VERSIONS = _versions()
# What an entry's ``rest`` holds: the updates of a staged load's later stages, one per cell and one more per
# megabyte of a long stream (see pack_parts). Part of the key: an entry of another layout is never read as
# this one.
_LAYOUT = "rest=parts/2"
_PART_HEADER = 8  # bytes of a part's length (little-endian) before it


def append_part(packed: bytearray, part: bytes) -> None:
    """Add ``part`` to ``packed``: its length (8 bytes, little-endian), then its bytes."""
    packed += len(part).to_bytes(_PART_HEADER, "little")
    packed += part


def pack_parts(parts: list[bytes]) -> bytes:
    """``parts`` as one blob (see :func:`append_part`)."""
    packed = bytearray()
    for part in parts:
        append_part(packed, part)
    return bytes(packed)


def iter_parts(packed: bytes | bytearray) -> Iterator[bytes]:
    """The parts in ``packed``, each copied out when it is reached. Raises ``ValueError`` for a blob
    :func:`append_part` did not write (see :func:`count_parts`, which checks without copying)."""
    view = memoryview(packed)
    at = 0
    while at < len(view):
        size, at = _part_at(view, at)
        yield bytes(view[at : at + size])
        at += size


def unpack_parts(packed: bytes | bytearray) -> list[bytes]:
    """The parts :func:`pack_parts` packed."""
    return list(iter_parts(packed))


def count_parts(packed: bytes | bytearray) -> int:
    """How many parts ``packed`` holds; ``ValueError`` if it is not made of parts."""
    view = memoryview(packed)
    at = count = 0
    while at < len(view):
        size, at = _part_at(view, at)
        at += size
        count += 1
    return count


def _part_at(view: memoryview, at: int) -> tuple[int, int]:
    if at + _PART_HEADER > len(view):
        raise ValueError("a part's length is cut short")
    size = int.from_bytes(view[at : at + _PART_HEADER], "little")
    at += _PART_HEADER
    if at + size > len(view):
        raise ValueError("a part is cut short")
    return size, at


def cache_key(
    *, digest: str, algorithm: str, room_type: str, room_format: str, threshold: int | None, notary: str
) -> str:
    """The key of a build: what it was built from (``digest`` of the file's bytes by ``algorithm``),
    as what (``room_format``:``room_type``, staged above ``threshold`` bytes of outputs), whose trust
    marks ``notary`` names (a fingerprint of the notary's secret and algorithm), by which libraries."""
    parts = (algorithm, digest, room_format, room_type, str(threshold), notary, _VERSIONS, _LAYOUT)
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class CachedLoad:
    """What a build gave: the first stage's update (the whole document when ``rest`` is None), the
    updates of the outputs a staged load sent later (``staged_parts`` of them, packed by
    :func:`pack_parts`), and the
    notebook's trust: ``signature`` (nbformat's, of the file's notebook) and the ``trusted`` marks the
    contents manager gave its code cells (None: no code cell, nothing depends on trust)."""

    first: bytes
    rest: bytes | bytearray | None
    staged_parts: int
    signature: str | None
    trusted: bool | None

    def checksum(self) -> str:
        h = hashlib.sha256(self.first)
        h.update(b"\0" if self.rest is None else b"\1")
        if self.rest is not None:
            h.update(self.rest)  # the same digest as of the bytes joined, without a copy of the rest
        h.update(f"{self.staged_parts}:{self.signature}:{self.trusted}".encode())
        return h.hexdigest()

    @property
    def size(self) -> int:
        return len(self.first) + len(self.rest or b"")


class LoadCache:
    """The store of :class:`CachedLoad` entries at ``path`` (``:memory:`` for one process only),
    holding at most ``max_bytes`` of updates; ``None`` entries never exceed it (a larger build is not
    kept). :meth:`close` ends it; calls after it find nothing and keep nothing."""

    def __init__(self, path: str | Path, *, max_bytes: int) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._failed = False

    # -- the event loop's side ----------------------------------------------------------------

    async def open(self) -> None:
        """Open (or create) the store now, off the event loop, rather than at the first open of a notebook."""
        await asyncio.to_thread(self._open_now)

    def _open_now(self) -> None:
        with self._lock:
            self._connect()

    async def get(self, key: str) -> CachedLoad | None:
        """The entry of ``key``, checked against its checksum; None if there is none (or none readable)."""
        found = await asyncio.to_thread(self._get, key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    async def has(self, key: str) -> bool:
        """Whether an entry is kept under ``key`` (not read, not checked)."""
        return await asyncio.to_thread(self._has, key)

    async def put(self, key: str, load: CachedLoad) -> None:
        """Keep ``load`` under ``key``, dropping the least recently used entries beyond ``max_bytes``."""
        if load.size > self.max_bytes:
            return
        await asyncio.to_thread(self._put, key, load)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._failed = True  # closed: nothing more is read or kept

    # -- the worker threads' side -----------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self._failed:
            return None
        if self._db is None:
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                if self.path == ":memory:" or isinstance(exc, sqlite3.OperationalError):  # cannot open, locked, I/O
                    self._fail(exc)
                    return None
                # Not a database (or a damaged one): it only ever held copies; start a new one beside it.
                aside = f"{self.path}.damaged"
                log.warning(
                    "load cache %s cannot be read (%s); moved to %s, starting an empty one", self.path, exc, aside
                )
                try:
                    os.replace(self.path, aside)
                    for suffix in ("-wal", "-shm"):
                        Path(self.path + suffix).unlink(missing_ok=True)
                    self._db = self._open()
                except (OSError, sqlite3.Error) as again:
                    self._fail(again)
                    return None
            except (OSError, sqlite3.Error) as exc:
                self._fail(exc)
                return None
        return self._db

    def _open(self) -> sqlite3.Connection:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # No statement cache: a cached statement keeps the copy of its last bound blob (a whole
        # document's build) alive until it is bound again.
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, cached_statements=0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _fail(self, exc: BaseException) -> None:
        self._failed = True
        log.warning("load cache %s cannot be used (%s); documents are built from their files", self.path, exc)
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _get(self, key: str) -> CachedLoad | None:
        with self._lock:
            db = self._connect()
            if db is None:
                return None
            try:
                row = db.execute(
                    "SELECT first, rest, staged_cells, signature, trusted, checksum FROM loads WHERE key = ?", (key,)
                ).fetchone()
                if row is None:
                    return None
                first, rest, staged, signature, trusted, checksum = row
                load = CachedLoad(
                    bytes(first),
                    None if rest is None else bytes(rest),
                    staged,
                    signature,
                    None if trusted is None else bool(trusted),
                )
                if load.checksum() != checksum:
                    log.warning("load cache %s: entry %s… does not match its checksum; dropped", self.path, key[:12])
                    db.execute("DELETE FROM loads WHERE key = ?", (key,))
                    return None
                db.execute("UPDATE loads SET used = ? WHERE key = ?", (time.time(), key))
                return load
            except sqlite3.Error as exc:
                self._fail(exc)
                return None

    def _has(self, key: str) -> bool:
        with self._lock:
            db = self._connect()
            if db is None:
                return False
            try:
                return db.execute("SELECT 1 FROM loads WHERE key = ?", (key,)).fetchone() is not None
            except sqlite3.Error as exc:
                self._fail(exc)
                return False

    def _put(self, key: str, load: CachedLoad) -> None:
        with self._lock:
            db = self._connect()
            if db is None:
                return
            try:
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT OR REPLACE INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        load.first,
                        load.rest,
                        load.staged_parts,
                        load.signature,
                        None if load.trusted is None else int(load.trusted),
                        load.checksum(),
                        load.size,
                        time.time(),
                    ),
                )
                total = db.execute("SELECT COALESCE(SUM(size), 0) FROM loads").fetchone()[0]
                if total > self.max_bytes:
                    for old_key, size in db.execute(
                        "SELECT key, size FROM loads WHERE key != ? ORDER BY used", (key,)
                    ).fetchall():
                        db.execute("DELETE FROM loads WHERE key = ?", (old_key,))
                        total -= size
                        if total <= self.max_bytes:
                            break
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)
