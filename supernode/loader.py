"""Reading a room's file and building its document, from the load cache when the file is unchanged.

:meth:`Loader.load` gives a :class:`Loaded`: the contents model without its content (hash, last
modified time, size), the built document and the stages still to load (see
:func:`~supernode.content.build_in_stages`). Two ways:

* **from the cache** (:mod:`supernode.load_cache`): for a notebook read by jupyter_server's own file
  manager (not a subclass that changes how notebooks are read: jupytext's pairs files, for instance),
  the file is stat'ed; when the cache remembers the digest of the version its stamp names
  (:mod:`supernode.file_stamps`: a file unchanged since it was last hashed), that digest names the build
  and the file is not read now (the live document hashes it once its first client is served, and takes a
  file that differs in as changed on disk). Otherwise it is read as bytes and hashed with the contents manager's hash algorithm (when
  the cache holds no build of a file of its size, none can be its: it is then parsed while it is
  hashed, both on worker threads, and the hash only names what the build is kept as). An
  entry built from the same bytes, whose trust (the notary's signature store) still says what it
  said, gives the document without parsing, validating or building anything. Of a staged load's
  entry only the first stage is read before the room is served: its large outputs are read while
  the first client syncs (:class:`~supernode.cached_stages.CachedStages`);
* **from the file**: for jupyter_server's own file manager, from the bytes just hashed, read as its
  ``get`` reads them (nbformat's reader's result, as plain data: :mod:`supernode.notebook_reader`; its
  signature, on the same worker thread; the notary's marks) but validated afterwards, off the event
  loop (:meth:`Loader.validate`: validation only ever logs); through the contents manager in every
  other case, and when those bytes are not a notebook (it then says why). What the build gave is
  kept in the cache (:meth:`Loader.remember`, after the room is served and once a staged load is
  complete) when it came from the hashed bytes.

When a room is freed, :meth:`Loader.prime` builds what its last save wrote the same way, in the
background, so that the next open of the file (the next morning, after a restart) is a hit too.

The document is the same either way: a cache hit applies the very update the build produced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async
from jupyter_ydoc.ybasedoc import YBaseDoc
from tornado.web import HTTPError
from pycrdt import Doc

from rtc_common.tasks import first_set

from .content import Stages, abuild_in_stages, build_in_stages, contents_type
from .doctypes import document_class
from .keys import DocumentKey
from .cached_stages import CachedStages
from .file_reads import FileRead, digest_now, read_file, reads_plain_files
from .file_stamps import FileStamp
from .cache_keys import cache_key
from .load_cache import CachedLoad, LoadCache
from .notebook_reader import read_notebook
from .notebook_signature import signature as notebook_signature

__all__ = ["Loaded", "Loader"]

log = logging.getLogger("supernode.loader")


def _digest(raw: bytes, algorithm: str) -> str:
    """The digest of ``raw`` by ``algorithm`` (a worker thread's job: tens of milliseconds for a large
    notebook, without the GIL)."""
    return hashlib.new(algorithm, raw).hexdigest()


def _parse(raw: bytes) -> dict[str, Any]:
    """What the file manager's read parses (nbformat's reader: JSON, lines rejoined, transient
    fields dropped; converted to nbformat 4; as plain data), without its validation. Raises if it is no notebook."""
    return read_notebook(raw)


def _parse_and_sign(raw: bytes, notary: Any) -> tuple[dict[str, Any], str] | None:
    """The notebook in ``raw`` (:func:`_parse`) and its signature by ``notary``; None if it is no
    notebook this way (a worker thread's job)."""
    try:
        notebook = _parse(raw)
    except Exception:
        return None
    return notebook, notebook_signature(notary, notebook)


def _marks(content: Any) -> tuple[bool, bool | None]:
    """Whether the trust marks of a notebook's code cells agree, and what they say (None: no code cell)."""
    marks = {
        bool((cell.get("metadata") or {}).get("trusted"))
        for cell in content.get("cells") or []
        if cell.get("cell_type") == "code"
    }
    if len(marks) > 1:
        return False, None
    return True, (marks.pop() if marks else None)


@dataclass
class Loaded:
    """A room's file, read and built: ``model`` (the contents model without ``content``),
    ``document``, ``stages`` (None when it holds the whole file), ``update`` (what the document
    holds, as an update), and, after a build from the file
    that may be kept, what :meth:`Loader.remember` needs (``None`` otherwise); ``validate``: the notebook was
    read without validation (see :meth:`Loader.validate`); ``verify``: the file's stamp and the digest it gave,
    which the file's bytes must still have (a load found by its stamp, see :meth:`Loader.digest_now`);
    ``stamp``: the file's stamp and the digest of the bytes read, for :meth:`Loader.remember`."""

    model: dict[str, Any]
    document: YBaseDoc
    stages: Stages | CachedStages | None
    update: bytes
    from_cache: bool
    keep: _Keep | None = None
    validate: bool = False
    verify: tuple[FileStamp, str] | None = None
    stamp: tuple[FileStamp, str] | None = None


@dataclass
class _Keep:
    key: str
    first: bytes
    trusted: bool | None
    signature: str | None
    stages: Stages | None


class Loader:
    """Loads rooms' files through ``contents_manager``; ``cache`` (None: no cache) keeps builds;
    ``delay_outputs_above`` is the staged-loading threshold in bytes (None: in one piece);
    ``prime_above`` (bytes) the smallest file :meth:`prime` builds."""

    def __init__(
        self,
        contents_manager: Any,
        cache: LoadCache | None,
        delay_outputs_above: int | None,
        *,
        prime_above: int = 256 * 1024,
    ) -> None:
        self.contents_manager = contents_manager
        self.cache = cache
        self.delay_outputs_above = delay_outputs_above
        self.prime_above = prime_above

    def prepare(self) -> None:
        """Set up now what the first open of a notebook would otherwise set up inside it: the notary's
        signature store (a SQLite database opened, its table made, a commit) and secret (a file read or
        written), and the load cache (opened). Called once at start, before the server answers; never
        raises (the first open then tries again, and says why)."""
        try:
            notary = self.contents_manager.notary
            notary.secret  # noqa: B018 (read for its side effect: the secret file)
        except Exception as exc:
            log.warning("the notebook notary could not be set up at start: %r", exc)
        if self.cache is not None:
            self.cache.open_now()

    async def load(self, key: DocumentKey, path: str) -> Loaded:
        """Read ``path`` and build ``key``'s document. Raises what the contents manager raises
        (``HTTPError`` 404 for a missing file, 400 for one it cannot read), and whatever the
        document type's ``set`` raises for content it does not take."""
        cm = self.contents_manager
        if key.kind == "notebook" and reads_plain_files(cm):
            found = await self._read(path, known=True, key=key)
            if found is not None and found.digest is not None:  # a version of the file the cache hashed before
                hit = await self._from_cache(key, path, found.stat, found.digest, found.stamp.size, found)
                if hit is not None:
                    hit.verify = (found.stamp, found.digest)
                    return hit
                found = await self._read(path, known=False)  # its build is not kept (any more): read it
            if found is not None:
                stat, raw, stamp = found.stat, found.raw, found.stamp
                assert raw is not None
                digest_of = partial(asyncio.to_thread, _digest, raw, cm.hash_algorithm)
                if self.cache is not None and await self.cache.may_hold(len(raw)):
                    digest = await digest_of()
                    hit = await self._from_cache(key, path, stat, digest, len(raw))
                    if hit is not None:
                        hit.stamp = (stamp, digest)
                        return hit
                    parsed = await asyncio.to_thread(_parse_and_sign, raw, cm.notary)
                else:  # no entry can be this file's: it is parsed while it is hashed
                    digest, parsed = await asyncio.gather(
                        digest_of(), asyncio.to_thread(_parse_and_sign, raw, cm.notary)
                    )
                keep_as = self._cache_key(key, digest, len(raw)) if self.cache is not None else None
                raw = digest_of = None  # read: not held while the document is built
                if parsed is not None:
                    model = self._plain_model(path, stat, digest, *parsed)
                    document, stages, first = build_in_stages(key, model["content"], self.delay_outputs_above)
                    loaded = self._loaded(model, document, stages, first, keep_as, parsed[1])
                    loaded.stamp = (stamp, digest)
                    return loaded
        model = await ensure_async(
            cm.get(path, content=True, type=contents_type(key), format=key.format, require_hash=True)
        )
        document, stages, first = build_in_stages(key, model["content"], self.delay_outputs_above)
        return self._loaded(model, document, stages, first, None, None)

    async def digest_now(self, path: str, verify: tuple[FileStamp, str] | None = None) -> tuple[FileStamp, str] | None:
        """The stamp and digest of the file at ``path`` as it is now (:func:`~supernode.file_reads.digest_now`),
        remembered unless they are ``verify`` (what a load found by its stamp had: the cache holds it);
        None if it cannot be read. What checks a load found by its stamp."""
        now = await digest_now(self.contents_manager, path)
        known = verify is not None and now is not None and now[1] == verify[1] and now[0].same(verify[0])
        if now is not None and self.cache is not None and not known:  # (what the load found, the cache holds)
            await self.cache.remember_digest(now[0], self.contents_manager.hash_algorithm, now[1])
        return now

    def _loaded(
        self,
        model: dict[str, Any],
        document: YBaseDoc,
        stages: Any,
        first: bytes,
        keep_as: str | None,
        signature: str | None,
    ) -> Loaded:
        """What a build from the file gave; kept under ``keep_as`` (None: not kept) when its trust
        marks agree (``signature``: the notebook's, as its trust was checked)."""
        content = model.pop("content")
        keep = None
        if keep_as is not None:
            agree, trusted = _marks(content)
            if agree:
                keep = _Keep(
                    keep_as,
                    first,
                    trusted,
                    None if trusted is None else signature,
                    stages if isinstance(stages, Stages) else None,
                )
        return Loaded(model, document, stages, first, from_cache=False, keep=keep, validate=signature is not None)

    def _plain_model(
        self, path: str, stat: dict[str, Any], digest: str, notebook: dict[str, Any], signature: str
    ) -> dict[str, Any]:
        """The contents model jupyter_server's own file manager's ``get`` gives for the notebook read
        from the file's bytes (:func:`_parse_and_sign`; validation is left to :meth:`validate`, it only
        ever logs): its code cells marked by the notary's check of ``signature``."""
        cm = self.contents_manager
        notary = cm.notary
        trusted = notary.store.check_signature(signature, notary.algorithm)
        if not trusted:
            cm.log.warning("Notebook %s is not trusted", path)
        for cell in notebook["cells"]:  # the notary's mark_cells, on plain data
            if cell.get("cell_type") == "code":
                cell["metadata"]["trusted"] = trusted
        return {**stat, "content": notebook, "format": "json", "hash": digest, "hash_algorithm": cm.hash_algorithm}

    async def validate(self, path: str) -> None:
        """Validate the notebook at ``path``, read again (a load from the file's bytes does not
        validate it, and keeps nothing of it for later): one log line if it is invalid, what the
        contents manager's read logs. Off the event loop; never raises."""
        cm = self.contents_manager

        def check() -> None:
            with open(cm._get_os_path(path), "rb") as f:
                nbformat.validate(_parse(f.read()))

        try:
            await asyncio.to_thread(check)
        except nbformat.ValidationError as exc:
            log.warning("%s: the notebook's JSON is invalid: %s", path, str(exc).splitlines()[0])
        except Exception as exc:  # gone or rewritten since: its next load says so
            log.debug("%s: the notebook could not be validated: %r", path, exc)

    async def _read(self, path: str, *, known: bool, key: DocumentKey | None = None) -> FileRead | None:
        """The file at ``path`` (:func:`~supernode.file_reads.read_file`): with ``known``, its bytes are not
        read when the cache remembers a digest for its stamp (and ``key``'s entry for it is looked up)."""
        cache = self.cache if known else None
        entry_key = None if key is None else partial(self._cache_key, key)
        return await read_file(self.contents_manager, path, cache, entry_key)

    def _cache_key(self, key: DocumentKey, digest: str, size: int) -> str:
        """The load cache's key of ``key``'s build from a file of ``size`` bytes with ``digest``."""
        cm = self.contents_manager
        notary = cm.notary
        fingerprint = hashlib.sha256(notary.algorithm.encode() + b"\0" + notary.secret).hexdigest()
        return cache_key(
            size=size,
            digest=digest,
            algorithm=cm.hash_algorithm,
            room_type=key.type,
            room_format=key.format,
            threshold=self.delay_outputs_above,
            notary=fingerprint,
        )

    async def _from_cache(
        self, key: DocumentKey, path: str, stat: dict[str, Any], digest: str, size: int, found: FileRead | None = None
    ) -> Loaded | None:
        """The document from the cache, or None (a miss, or an entry that cannot be used); ``found``: the
        file's read, which may have looked the entry up already."""
        assert self.cache is not None
        ckey = self._cache_key(key, digest, size)
        notary = self.contents_manager.notary
        algorithm = self.contents_manager.hash_algorithm
        entry = found.entry if found is not None and found.looked_up else await self.cache.get(ckey)
        if entry is None:
            return None
        if (
            entry.trusted is not None
            and notary.store.check_signature(entry.signature, notary.algorithm) != entry.trusted
        ):
            log.info("%s: its trust changed since it was cached; built from the file", path)
            return None
        try:
            document = document_class(key)(Doc())
            document.ydoc.apply_update(entry.first)
        except Exception as exc:  # an entry pycrdt cannot take: built from the file (and kept again)
            log.warning("%s: its cached build cannot be used (%r); built from the file", path, exc)
            return None
        stages = None
        digests = entry.rest_digests
        if digests is not None:  # its large outputs are read from now on, while the first client syncs
            cache = self.cache
            stages = CachedStages(entry.staged_parts, lambda deliver: cache.rest(ckey, digests, deliver), path)
            stages.prefetch()
        model = {**stat, "hash": digest, "hash_algorithm": algorithm}
        return Loaded(model, document, stages, entry.first, from_cache=True)

    async def prime(self, key: DocumentKey, path: str) -> None:
        """Build the file at ``path`` as a load would, and keep the build, unless the cache holds it
        already or the file is smaller than ``prime_above`` bytes (its load is cheap anyway). Run
        when a room is freed: the next open of what its last save wrote (after a restart too) then
        comes from the cache. Gives the event loop a turn between cells; never raises (logged)."""
        cm = self.contents_manager
        if self.cache is None or key.kind != "notebook" or not reads_plain_files(cm):
            return
        try:
            found = await self._read(path, known=True)
            if found is None or found.stamp.size < self.prime_above:
                return
            if found.digest is not None:  # a version hashed before: read only if its build is not kept
                if await self.cache.has(self._cache_key(key, found.digest, found.stamp.size)):
                    return
                found = await self._read(path, known=False)
                if found is None:
                    return
            assert found.raw is not None
            stat, raw = found.stat, found.raw
            digest = await asyncio.to_thread(_digest, raw, cm.hash_algorithm)
            await self.cache.remember_digest(found.stamp, cm.hash_algorithm, digest)
            ckey = self._cache_key(key, digest, len(raw))
            if await self.cache.has(ckey):
                return
            parsed = await asyncio.to_thread(_parse_and_sign, raw, cm.notary)
            if parsed is None:
                return
            model = self._plain_model(path, stat, digest, *parsed)
            document, stages, first = await abuild_in_stages(key, model["content"], self.delay_outputs_above)
            loaded = self._loaded(model, document, stages, first, ckey, parsed[1])
            if loaded.keep is None:
                return  # marked in a way no load gives
            if stages is not None:
                for _ in stages.updates():  # built in the load's own document, one cell a turn
                    await asyncio.sleep(0)
            done = asyncio.Event()
            done.set()
            await self._remember(loaded, done, asyncio.Event())
        except HTTPError as exc:
            if exc.status_code != 404:  # gone since: nothing to keep
                log.warning("%s: its build could not be kept in the load cache: %s", path, exc)
        except Exception as exc:
            log.warning("%s: its build could not be kept in the load cache: %r", path, exc)

    async def remember(self, loaded: Loaded, complete: asyncio.Event, gone: asyncio.Event) -> None:
        """Keep the build of ``loaded`` in the cache (see :meth:`_remember`), and the digest of the file's
        stamp. Never raises (logged)."""
        try:
            if loaded.stamp is not None and self.cache is not None:
                (stamp, digest), loaded.stamp = loaded.stamp, None
                await self.cache.remember_digest(stamp, self.contents_manager.hash_algorithm, digest)
            await self._remember(loaded, complete, gone)
        except Exception:  # the cache is an optimisation: a failure to fill it is logged, never raised
            log.exception("the build of a document could not be kept in the load cache")

    async def _remember(self, loaded: Loaded, complete: asyncio.Event, gone: asyncio.Event) -> None:
        """Keep what the build of ``loaded`` gave, once ``complete`` is set (the staged load is done);
        nothing when it cannot be kept (see the module's docstring) or when ``gone`` is set first
        (the room was freed before its load completed)."""
        keep = loaded.keep
        if keep is None or self.cache is None:
            return
        loaded.keep = None
        if keep.trusted is not None:
            notary = self.contents_manager.notary
            if notary.store.check_signature(keep.signature, notary.algorithm) != keep.trusted:
                return  # what the contents manager checked is not what the signature says: not kept
        rest, parts = None, 0
        if keep.stages is not None:
            await first_set(complete, gone)
            if not keep.stages.done:
                return
            rest, parts = keep.stages.packed, keep.stages.parts
        await self.cache.put(keep.key, CachedLoad(keep.first, rest, parts, keep.signature, keep.trusted))
