"""Saving a live document: the saves of :class:`~supernode.document.LiveDocument`, and their read-back.

A save writes the document's content to its file through the contents manager (with jupyter_server's
own file manager, a notebook through :mod:`supernode.notebook_writer`: the same steps, faster), one save
in flight and one queued at most (:meth:`DocumentSaves.request_save`), after a quiet period or the
maximum wait (:class:`~supernode.saver.SaveSchedule`), and at once on request. The answer comes once the
file is written and its hash known; the file is then read back (a program that wrote it in that instant
is merged, :mod:`supernode.read_back`) and, for a notebook read without validation, validated off the
event loop.

Error handling: a failed save (read-only file, disk error, a file caught half written by another program)
is logged, reported to whoever asked (:class:`SaveFailed`), and leaves the document dirty and intact; it
is tried again after the maximum wait, then after twice as long each time, up to ``_RETRY_MAX`` seconds
apart.

:class:`DocumentSaves` is a part of :class:`~supernode.document.LiveDocument` (its saving methods, on the
state the live document's ``__init__`` sets up), not an object of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from jupyter_core.utils import ensure_async

from .content import contents_type, model_for_save
from .snapshot import snapshot
from .file_sync import file_stamp
from .notebook_writer import has_pre_save_hooks, save_notebook, validate_saved, writes_plain_files
from .read_back import cell_sources, file_hash, holds_written, notebook_sources

__all__ = ["DocumentSaves", "SaveFailed"]

log = logging.getLogger("supernode.documents")

_RETRY_MAX = 60.0  # seconds between attempts to save a file that cannot be written
# What a save and its read-back cost per byte of the file, as estimated for save pacing (SaveSchedule):
# serialising, validating, signing, writing, then reading back and parsing, measured at about 170 ms
# of CPU for a 4.5 MB notebook. An estimate, not a measurement of each save: the process's CPU time
# over a save counts whatever else ran meanwhile, and would pace a busy server's small documents.
_SAVE_CPU_PER_BYTE = 0.17 / 4.5e6


class SaveFailed(Exception):
    """The file could not be written; the message says why."""


def _consume(done: asyncio.Future[None]) -> None:
    """Mark a save's outcome as seen: a failure nobody waited for is already logged."""
    if not done.cancelled():
        done.exception()


class DocumentSaves:
    """The saving methods of :class:`~supernode.document.LiveDocument` (see the module docstring)."""

    # Set up by LiveDocument.__init__ (declared for readers and type checkers).
    manager: Any
    key: Any
    path: str
    document: Any
    stamp: Any
    _save_lock: asyncio.Lock
    _queued_save: asyncio.Future[None] | None
    _schedule: Any
    _cells: Any  # the CellCache of the document

    def _save_due(self) -> None:
        self.manager.spawn(self._save_quietly("autosave"), f"save {self.path}")

    async def _save_quietly(self, reason: str) -> None:
        try:
            await self.save(reason)
        except SaveFailed:
            pass  # logged in save()

    async def save(self, reason: str) -> None:
        """Write the document to its file; return once a save that started after this call has ended.

        Saves coalesce (see :meth:`request_save`); the first caller with no save queued runs the save
        in its own task. Raises :class:`SaveFailed` (already logged) if that save failed.
        """
        queued = self._queued_save
        if queued is None:
            queued = self._queue_save()
            await self._run_save(queued, reason)
        await asyncio.shield(queued)

    @contextlib.asynccontextmanager
    async def between_saves(self) -> AsyncIterator[None]:
        """Hold off saves (waiting for the one in flight) while the caller moves the file: a save requested
        meanwhile starts after, at the path the document has then."""
        async with self._save_lock:
            yield

    def request_save(self, reason: str) -> asyncio.Future[None]:
        """A save that starts after this call: the one already queued (waiting for the save in flight),
        or a new one. At most one save is in flight and one queued, however many requests come in.

        The future ends when that save has ended; it holds :class:`SaveFailed` (already logged) if the
        save failed or was cancelled. Never raises.
        """
        queued = self._queued_save
        if queued is None:
            queued = self._queue_save()
            self.manager.spawn(self._run_save(queued, reason), f"save {self.path}")
        return queued

    def _queue_save(self) -> asyncio.Future[None]:
        queued = self._queued_save = asyncio.get_running_loop().create_future()
        queued.add_done_callback(_consume)
        return queued

    async def _run_save(self, done: asyncio.Future[None], reason: str) -> None:
        """Run the queued save ``done`` once the save in flight (if any) has ended; settle ``done``."""
        try:
            async with self._save_lock:
                if self._queued_save is done:
                    self._queued_save = None  # a request from now on needs a save that starts after this one
                await self._write(reason)
        except SaveFailed as exc:
            done.set_exception(exc)
        except BaseException as exc:  # cancelled (the server is stopping), or a bug: waiters are told
            if self._queued_save is done:
                self._queued_save = None
            if not done.done():
                done.set_exception(SaveFailed(f"the save did not finish ({type(exc).__name__})"))
            raise
        else:
            done.set_result(None)

    async def _write(self, reason: str) -> None:
        """Write the document to its file now (the caller holds the save lock). Raises :class:`SaveFailed`."""
        self._schedule.cancel()
        await self.whole()  # a document still loading in stages is not the file yet
        cm = self.manager.contents_manager
        version = self._version
        fast = self.key.kind == "notebook" and writes_plain_files(cm)
        plain = fast and not has_pre_save_hooks(cm)  # the file holds ``data`` as it is
        # Without hooks that may change it, the content is read through the cache of cells: a cell
        # unchanged since the last save is the same dict, and its text is written again as it was.
        read = self._cells.read if plain else functools.partial(snapshot, self.key, self.document)
        data = read()
        state = self.document.ydoc.get_state()
        started = time.monotonic()
        try:
            self._follow_file_id()
            current = await ensure_async(cm.get(self.path, content=False))
            if self.stamp[0] is not None and file_stamp(current) != self.stamp:
                # Someone else wrote the file: take their changes in before writing ours.
                await self._merge_from_disk()
                data = read()
                state = self.document.ydoc.get_state()

            def written(digest: str) -> None:  # one transaction: the file's hash, and clean if nothing changed since
                self._set_state(hash=digest, dirty=False if self._version == version else None)

            if fast:
                model, hashed = await save_notebook(
                    cm, model_for_save(self.key, data), self.path, written=written, texts=self._cells if plain else None
                )
            else:
                model = await ensure_async(cm.save(model_for_save(self.key, data), self.path))
                hashed = await self._read_hash()
        except Exception as exc:
            why = getattr(exc, "log_message", None) or str(exc) or type(exc).__name__
            self._failures += 1
            retry = min(self._schedule.max_wait * 2 ** (self._failures - 1), _RETRY_MAX)
            log.error(
                "saving %s failed (%s): %s; the room keeps its content, unsaved%s",
                self.path,
                reason,
                why,
                "" if self._closing or self._deleted else f"; trying again in {retry:g}s",
            )
            self._set_state(dirty=True)
            if not (self._closing or self._deleted):
                self._schedule.retry(retry)
            self.manager.events.emit("save_failed", room=self.key.room, path=self.path, reason=reason, error=why)
            raise SaveFailed(why) from exc
        if self._failures:
            log.info("saved %s again after %d failed attempt(s)", self.path, self._failures)
            self._failures = 0
        self.stamp = file_stamp(model)
        self._base, self._base_update, self._base_state = data, None, state
        self._saved = (version, data, model.get("size") or 0) if self._version == version and plain else None
        self._schedule.spent((model.get("size") or 0) * _SAVE_CPU_PER_BYTE)  # paces the next autosave
        # One transaction: a frontend that compares the file's hash with ours before saving never sees
        # the new file with the old hash for longer than this update takes to reach it.
        if self._version == version:
            self._set_state(dirty=False, hash=hashed)
        else:
            self._set_state(hash=hashed)
            self._schedule.changed()
        if self.key.kind == "notebook":  # what we wrote is checked against the file: the caller need not wait
            self.manager.spawn(self._after_save(data if fast else None, hashed if fast else None), f"check {self.path}")
        took = time.monotonic() - started
        log.debug("saved %s (%s) in %.3fs", self.path, reason, took)
        self.manager.events.emit(
            "saved", room=self.key.room, path=self.path, reason=reason, duration_ms=round(took * 1000, 3)
        )

    async def _read_hash(self) -> str | None:
        """The contents manager's hash of the file just saved (None, logged, if it cannot be read); off the
        event loop (:mod:`supernode.read_back`)."""
        try:
            return await file_hash(self.manager.contents_manager, self.path)
        except Exception as exc:
            log.warning("reading the hash of %s failed: %s", self.path, exc)
            return None

    async def _after_save(self, written: Any, digest: str | None) -> None:
        """After a save's answer (this task waits for the save lock: the save in flight ends first): the
        read-back check, then the validation of the notebook ``written`` by :func:`save_notebook` (None: the
        contents manager validated it), both off the event loop, one after the other. ``digest``: the hash
        of the bytes written, when known."""
        await self._check_written(digest)
        if written is not None:
            previous, self._validated = self._validated, written
            await validate_saved(written, self.path, previous)

    async def _check_written(self, digest: str | None = None) -> None:
        """Read the saved notebook back and check that it holds what we wrote.

        The contents manager stats the file after writing it, so a program that writes the file in
        that instant leaves us its stamp as if it were ours; its edit would then go unseen and be
        overwritten by our next save. A file whose bytes hash to ``digest`` (those we wrote) is ours;
        any other has its cell sources compared with what we saved: a difference is an edit on disk,
        merged at once. Read (and parsed) off the event loop (:mod:`supernode.read_back`): the file
        grows with a running cell's output.
        """
        async with self._save_lock:
            cm = self.manager.contents_manager
            try:
                if digest is not None:
                    stamp, same = await holds_written(cm, self.path, digest)
                    if same or stamp != self.stamp:
                        return  # the bytes we wrote; or written again since: the watcher takes it from here
                stamp, sources = await cell_sources(cm, self.path, contents_type(self.key), self.key.format)
            except Exception as exc:
                log.warning("reading %s back after saving it failed: %s", self.path, exc)
                return
            if stamp != self.stamp:
                return  # written again since: the watcher takes it from here
            if sources != notebook_sources(self._loaded_base()):
                log.info("%s was written by someone else right after our save; merging it", self.path)
                await self._merge_from_disk()
