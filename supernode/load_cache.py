"""Built documents kept across restarts: a notebook whose file has not changed opens from here.

Building a notebook's shared document from its file (read, validate, build the CRDT) costs
seconds for large notebooks, and gives the same Yjs items for the same file (see
:mod:`supernode.content`). :class:`LoadCache` keeps what a build gave, keyed by everything the build
depends on (:func:`~supernode.cache_keys.cache_key`): the file's content hash, the room's format and type, the
staged-loading threshold, the notary's key, and the versions of the libraries that build it. A
changed file has another hash, so a stale entry is never found. The store also remembers, per file, the
digest of the last version hashed, by its stamp (:mod:`supernode.file_stamps`): an unchanged file's
build is then found without reading the file (which is checked afterwards). An entry whose checksum does not
match what was stored is dropped, and the document is built from the file again.

The store is one SQLite file, bounded by the total size of its entries (the least recently used go
first). An entry is read in two steps: :meth:`LoadCache.get` reads its first stage (what a client
sees first) and what it says of itself; :meth:`LoadCache.rest` reads the updates of its later stages
(the large outputs, the bulk of a large notebook's entry), each step checked against its own
checksum: the first stage and the entry by one, the rest update by update, by the digests the entry
lists (:mod:`supernode.cache_rests`), so that each update goes to the live document as soon as it is
read and checked. When an entry was used is kept apart from it: marking a 50 MB entry used does not
rewrite it. Every call runs off the event loop. A file that is not a database (or a
damaged one) is moved aside and a new store started; a store that fails otherwise (no space, no
permission) is logged once and bypassed from then on: opening a document never depends on it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import xxhash

from . import file_stamps
from .cache_keys import cache_key
from .cache_rests import DIGEST, rest_digests, stream_rest, write_rest
from .file_stamps import FileStamp
from .packed_parts import Packed, packed_size

__all__ = ["CachedLoad", "LoadCache", "cache_key"]

log = logging.getLogger("supernode.load_cache")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS builds (
    key TEXT PRIMARY KEY,
    first BLOB NOT NULL,
    staged_parts INTEGER NOT NULL,  -- how many updates its rest packs (CachedLoad.staged_parts)
    rest_digests BLOB,  -- of each update in its row in rests (NULL: none, the first stage is the whole document)
    signature TEXT,
    trusted INTEGER,
    checksum TEXT NOT NULL,  -- of everything above (CachedLoad.checksum)
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rests (key TEXT PRIMARY KEY, rest BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS uses (key TEXT PRIMARY KEY, used REAL NOT NULL);
DROP TABLE IF EXISTS loads;  -- the layout before builds, rests and uses
"""
_LAYOUT = 3  # PRAGMA user_version of the tables above; a store of another layout is emptied (it holds copies)
_TABLES = ("builds", "rests", "uses")
@dataclass(frozen=True)
class CachedLoad:
    """What a build gave: the first stage's update (the whole document when ``staged_parts`` is 0),
    the updates of the outputs a staged load sent later (``staged_parts`` of them, packed by
    :func:`pack_parts`, in ``rest``), and the notebook's trust: ``signature`` (nbformat's, of the
    file's notebook) and the ``trusted`` marks the contents manager gave its code cells (None: no
    code cell, nothing depends on trust). An entry :meth:`LoadCache.get` read has no ``rest`` yet
    (None; :meth:`LoadCache.rest` reads it); its ``rest_digests`` are what each update read must match."""

    first: bytes
    rest: Packed | None
    staged_parts: int
    signature: str | None
    trusted: bool | None
    rest_digests: bytes | None = None

    def checksum(self, rest_digests: bytes | None) -> str:
        """The checksum of the first stage and what the entry says, ``rest_digests`` (its updates') included."""
        h = xxhash.xxh3_128(self.first)  # (a guard against damage, as the rest's digests: cache_rests)
        h.update(f"\0{self.staged_parts}:{self.signature}:{self.trusted}:".encode())
        h.update(b"-" if rest_digests is None else rest_digests)
        return h.hexdigest()

    @property
    def size(self) -> int:
        return len(self.first) + (0 if self.rest is None else packed_size(self.rest))


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

    def open_now(self) -> None:
        """Open (or create) the store now, rather than at the first open of a notebook (blocking: at start,
        before the server answers). A store that cannot be opened is bypassed, as at any other time."""
        with self._lock:
            self._connect()

    async def get(self, key: str) -> CachedLoad | None:
        """The entry of ``key`` without its rest (see :meth:`rest`), checked against its checksum and
        marked used; None if there is none (or none readable)."""
        return await asyncio.to_thread(self.get_now, key)

    def get_now(self, key: str) -> CachedLoad | None:
        """:meth:`get`, blocking: on a worker thread (a load's read of its file, see
        :func:`~supernode.file_reads.read_file`)."""
        with self._lock:
            found = self._get(key)
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
            return found

    async def rest(self, key: str, digests: bytes, deliver: Callable[[bytes], None]) -> bool:
        """Read the rest of the entry of ``key`` that :meth:`get` gave (``digests``: its ``rest_digests``) on a
        worker thread, and give each of its updates to ``deliver`` (on that thread) as soon as it matches
        its digest, in order. Whether every update was given: False if the rest is gone since (dropped
        to make room) or turned out damaged (the entry is dropped; both logged), once some or none were."""
        return await asyncio.to_thread(self._rest, key, digests, deliver)

    async def may_hold(self, size: int) -> bool:
        """Whether an entry built from a file of ``size`` bytes is kept: when none is, no entry can be
        that of a file of this size (a load then reads the file while it hashes it). A load's lookup: a
        False answer counts as a miss, as :meth:`get` finding nothing does. False once the store failed
        or closed."""
        held = await asyncio.to_thread(self._may_hold, size)
        if not held:
            self.misses += 1
        return held

    async def has(self, key: str) -> bool:
        """Whether an entry is kept under ``key`` (not read, not checked)."""
        return await asyncio.to_thread(self._has, key)

    async def put(self, key: str, load: CachedLoad) -> None:
        """Keep ``load`` under ``key``, dropping the least recently used entries beyond ``max_bytes``."""
        if load.size > self.max_bytes:
            return
        await asyncio.to_thread(self._put, key, load)

    async def remember_digest(self, stamp: FileStamp, algorithm: str, digest: str) -> None:
        """Remember that the file version ``stamp`` names has ``digest`` by ``algorithm`` (a settled stamp
        only: see :mod:`supernode.file_stamps`), for :meth:`known_digest`."""
        if stamp.settled:
            await asyncio.to_thread(self._remember_digest, stamp, algorithm, digest)

    def known_digest(self, stamp: FileStamp, algorithm: str) -> str | None:
        """The digest by ``algorithm`` remembered for the file version ``stamp`` names (None: none, or the store
        failed). Blocking: called on a worker thread, with the file it names open."""
        with self._lock:
            db = self._connect()
            if db is None:
                return None
            try:
                return file_stamps.digest_for(db, stamp, algorithm)
            except sqlite3.Error as exc:
                self._fail(exc)
                return None

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
            # Pages of 64 KiB (a new store's; one that exists keeps its own): a 50 MB rest is read as 800
            # pages rather than 12,800, in half the time.
            db.execute("PRAGMA page_size=65536")
            db.execute("PRAGMA journal_mode=WAL")
            # No fsync at each commit (marking an entry used is one, in the open of a notebook): a power
            # loss may lose the last writes to a cache, never its consistency (SQLite's WAL mode).
            db.execute("PRAGMA synchronous=NORMAL")
            (layout,) = db.execute("PRAGMA user_version").fetchone()
            if layout == _LAYOUT:
                db.executescript(_SCHEMA + file_stamps.SCHEMA)
            else:  # a new store, or another layout's entries (an older server's): copies, dropped
                drops = "".join(f"DROP TABLE IF EXISTS {table};" for table in _TABLES)
                db.executescript(
                    f"BEGIN IMMEDIATE;{drops}{_SCHEMA}{file_stamps.SCHEMA}PRAGMA user_version = {_LAYOUT};COMMIT;"
                )
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
        """The entry of ``key`` (see :meth:`get`); the caller holds the lock."""
        db = self._connect()
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT first, staged_parts, rest_digests, signature, trusted, checksum FROM builds WHERE key = ?",
                (key,),
            ).fetchone()
            if row is None:
                return None
            first, staged, digests, signature, trusted, checksum = row
            digests = None if digests is None else bytes(digests)
            load = CachedLoad(
                bytes(first), None, staged, signature, None if trusted is None else bool(trusted), digests
            )
            if load.checksum(digests) != checksum or (digests is not None and len(digests) != staged * DIGEST):
                log.warning("load cache %s: entry %s… does not match its checksum; dropped", self.path, key[:12])
                self._delete(db, key)
                return None
            db.execute("INSERT OR REPLACE INTO uses VALUES (?, ?)", (key, time.time()))
            return load
        except sqlite3.Error as exc:
            self._fail(exc)
            return None

    def _rest(self, key: str, digests: bytes, deliver: Callable[[bytes], None]) -> bool:
        with self._lock:  # held throughout: no put drops the entry from under the read
            db = self._connect()
            if db is None:
                return False
            try:
                row = db.execute("SELECT rowid, length(rest) FROM rests WHERE key = ?", (key,)).fetchone()
                if row is None:
                    log.warning("load cache %s: the rest of entry %s… is gone", self.path, key[:12])
                    return False
                try:
                    stream_rest(db, *row, digests, deliver)
                    return True
                except ValueError as exc:
                    log.warning("load cache %s: the rest of entry %s… %s; dropped", self.path, key[:12], exc)
                    self._delete(db, key)
                    return False
            except sqlite3.Error as exc:
                self._fail(exc)
                return False

    @staticmethod
    def _delete(db: sqlite3.Connection, key: str) -> None:
        for table in ("builds", "rests", "uses"):
            db.execute(f"DELETE FROM {table} WHERE key = ?", (key,))

    def _may_hold(self, size: int) -> bool:
        with self._lock:
            db = self._connect()
            if db is None:
                return False
            try:  # the keys of a size are one range of the primary key's index ("{size}:" sorts before "{size};")
                row = db.execute(
                    "SELECT 1 FROM builds WHERE key > ? AND key < ? LIMIT 1", (f"{size}:", f"{size};")
                ).fetchone()
                return row is not None
            except sqlite3.Error as exc:
                self._fail(exc)
                return False

    def _remember_digest(self, stamp: FileStamp, algorithm: str, digest: str) -> None:
        with self._lock:
            db = self._connect()
            if db is None:
                return
            try:
                file_stamps.remember_digest(db, stamp, algorithm, digest)
            except sqlite3.Error as exc:
                self._fail(exc)

    def _has(self, key: str) -> bool:
        with self._lock:
            db = self._connect()
            if db is None:
                return False
            try:
                return db.execute("SELECT 1 FROM builds WHERE key = ?", (key,)).fetchone() is not None
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
                digests = None if load.rest is None else rest_digests(load.rest)
                db.execute(
                    "INSERT OR REPLACE INTO builds VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        load.first,
                        load.staged_parts,
                        digests,
                        load.signature,
                        None if load.trusted is None else int(load.trusted),
                        load.checksum(digests),
                        load.size,
                    ),
                )
                if load.rest is None:
                    db.execute("DELETE FROM rests WHERE key = ?", (key,))
                else:
                    write_rest(db, key, load.rest)
                db.execute("INSERT OR REPLACE INTO uses VALUES (?, ?)", (key, time.time()))
                total = db.execute("SELECT COALESCE(SUM(size), 0) FROM builds").fetchone()[0]
                if total > self.max_bytes:
                    for old_key, size in db.execute(
                        "SELECT builds.key, size FROM builds LEFT JOIN uses ON uses.key = builds.key"
                        " WHERE builds.key != ? ORDER BY COALESCE(used, 0)",
                        (key,),
                    ).fetchall():
                        self._delete(db, old_key)
                        total -= size
                        if total <= self.max_bytes:
                            break
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._fail(exc)
