"""The part of a :class:`~supernode.document.LiveDocument` that keeps it and its file together.

:class:`FileSync` follows renames (the contents events tell :meth:`FileSync.moved` at once; the file
id is checked before each save and at each poll), polls the file every ``file_poll_interval`` for
edits made by another program and merges them in field by field (:mod:`supernode.merge`), and, when a
collaborator typed in what the disk changed too, sets the room's version aside in a conflict copy and
tells the clients that edited (:meth:`FileSync._keep_typed`). A deleted file is noticed and never
recreated by a save. A load the load cache found by the file's stamp alone is checked against the
file's bytes once its clients have it (:meth:`FileSync.verified`).

Error handling: a version of the file that cannot be read (half written, not a notebook) is logged
once and taken in once it can be; a failing poll is logged and tried again at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from pycrdt import Decoder
from tornado import web

from rtc_common.tasks import first_set

from .cell_match import adopt_ids
from .conflict_copy import save_conflict_copy
from .content import build_document, contents_type, replace_content
from .snapshot import snapshot
from .merge import conflicting_cells, merge_notebooks

if TYPE_CHECKING:
    from jupyter_ydoc.ybasedoc import YBaseDoc

    from .documents import DocumentManager
    from .keys import DocumentKey
    from .saver import SaveSchedule

__all__ = ["FileSync", "advanced_clients", "file_stamp"]

log = logging.getLogger("supernode.documents")

_VERIFY_WAIT = 2.0  # seconds a load found by its file's stamp waits for its first client before the file is hashed


def file_stamp(model: dict[str, Any]) -> tuple[Any, Any]:
    """What tells one version of a file from another without reading it: last modified time and size.

    The size catches a write by another program within the same mtime tick as our own save (the
    filesystem's clock is coarser than two writes a few milliseconds apart).
    """
    return model.get("last_modified"), model.get("size")


def advanced_clients(before: bytes, after: bytes) -> list[int]:
    """The Yjs clients whose clock is further in state vector ``after`` than in ``before``: who edited between."""

    def clocks(state: bytes) -> dict[int, int]:
        decoder = Decoder(state)
        return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())}

    old = clocks(before)
    return [client for client, clock in clocks(after).items() if clock > old.get(client, 0)]


class FileSync:
    """Renames and edits on disk of a live document's file (a base of :class:`~supernode.document.LiveDocument`,
    which provides the attributes below and ``_set_state``, ``_loaded_base`` and ``whole``)."""

    manager: DocumentManager
    key: DocumentKey
    path: str
    document: YBaseDoc
    stamp: tuple[Any, Any]
    _base: Any
    _base_update: bytes | None
    _base_state: bytes
    _connection: Any
    _deleted: bool
    _save_lock: asyncio.Lock
    _schedule: SaveSchedule
    loaded: asyncio.Event
    _hurry: asyncio.Event
    _verified: asyncio.Event
    _verify: tuple[Any, str] | None

    async def verified(self) -> None:
        """Check a load the cache found by the file's stamp (:mod:`supernode.file_stamps`), once the first
        client has the document (or someone on the server needs it, or after ``_VERIFY_WAIT`` seconds) and
        the document is whole: the file is hashed, and a file whose bytes are not those the stamp named is
        taken in as a change made on disk (merged, the load being the base). Saves and merges wait for it
        (``whole``). Never raises; whatever happens, it ends the wait."""
        try:
            await first_set(self._connection.client_synced, self._hurry, timeout=_VERIFY_WAIT)
            await self.loaded.wait()  # a load in stages: its outputs first (they are read from the cache meanwhile)
            assert self._verify is not None
            now = await self.manager.loader.digest_now(self.path, self._verify)
            stamp, digest = self._verify
            if now is not None and now[1] != digest:
                if now[0].same(stamp):
                    log.warning(
                        "%s: the load cache's build was found by the file's stamp, but the file's bytes differ; "
                        "taking the file in as a change made on disk",
                        self.path,
                    )
                # (else written since the load: a change made on disk, as the watch would find it)
                await self._merge_from_disk(base=self._loaded_base())
        except Exception:
            log.exception("%s: checking the file against its cached build failed", self.path)
        finally:
            self._verified.set()

    def moved(self, path: str) -> None:
        """The file was renamed (or moved) to ``path``: save there from now on."""
        if path != self.path:
            log.info("%s was renamed to %s", self.path, path)
            old, self.path = self.path, path
            self._set_state(path=path)
            self.manager.events.emit("renamed", room=self.key.room, path=path, old_path=old)

    def _follow_file_id(self) -> None:
        """Take the path the file id points to now (a rename the event bus has not told us of yet)."""
        path = self.manager.file_ids.get_path(self.key.file_id)
        if path:
            self.moved(path)

    async def _watch_file(self) -> None:
        """Poll the file: follow renames, take in edits made by someone else."""
        interval = self.manager.file_poll_interval
        if interval <= 0:
            return  # no poll: each save still takes in what changed on disk first
        cm = self.manager.contents_manager
        unreadable = None  # the stamp of a version of the file that could not be read
        while True:
            await asyncio.sleep(interval)
            try:
                self._follow_file_id()
                if not await ensure_async(cm.file_exists(self.path)):
                    if not self._deleted:
                        log.warning("%s was deleted; its room keeps the content (unsaved)", self.path)
                        self._deleted = True
                        self.manager.events.emit("deleted", room=self.key.room, path=self.path)
                        self._set_state(dirty=True)
                    continue
                self._deleted = False
                current = await ensure_async(cm.get(self.path, content=False))
                if file_stamp(current) in (self.stamp, unreadable):
                    continue
                async with self._save_lock:
                    # Read again under the lock: what looked new may be our own save, finished meanwhile.
                    current = await ensure_async(cm.get(self.path, content=False))
                    if file_stamp(current) != self.stamp:
                        try:
                            await self._merge_from_disk()
                        except web.HTTPError as exc:  # not a notebook (now): half written, or replaced
                            unreadable = file_stamp(current)
                            log.warning(
                                "%s changed on disk but cannot be read (%s); it is taken in once it can be",
                                self.path,
                                exc.log_message or exc,
                            )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watching %s failed; trying again in %ss", self.path, interval)

    async def _keep_typed(self, live: Any, cells: list[str]) -> None:
        """Another program changed (or deleted) ``cells`` on disk while collaborators typed in them (a text or
        binary file: ``cells`` is empty, the whole file is the cell): save the room's version as a conflict
        copy beside the file, tell the room's writers (the stock frontend's
        Edit Conflict dialog; the clients that edited the document since it was last loaded or saved, when
        their presence says which they are), log it and emit a ``conflict`` event. The merge then takes the disk's version
        of those cells. If the copy cannot be written the merge still goes on (the disk has moved on); the
        log says what was lost."""
        try:
            copy_path = await save_conflict_copy(self.manager.contents_manager, self.key, self.path, live)
        except Exception as exc:
            log.error(
                "%s: %s changed on disk and in the room; keeping the room's version in a conflict copy "
                "failed (%s): the disk's version wins",
                self.path,
                f"cell(s) {', '.join(cells)}" if cells else "the file",
                exc,
            )
            return
        notice = {"type": "conflict", "reason": "changed_on_disk", "cells": cells, "copy": copy_path}
        editors = advanced_clients(self._base_state, self.document.ydoc.get_state())
        told = self._connection.notify(notice, editors) if self._connection is not None else 0
        log.warning(
            "%s: %s changed on disk and in the room; the disk's version is in the room, the room's was "
            "kept in %s (%d client(s) told)",
            self.path,
            f"cell(s) {', '.join(cells)}" if cells else "the file",
            copy_path,
            told,
        )
        self.manager.events.emit("conflict", room=self.key.room, path=self.path, conflict_path=copy_path)

    def _running_cells(self) -> set[str]:
        """Ids of the cells a kernel is executing now (their outputs are the kernel's, not the disk's)."""
        return {
            ycell.get("id") for ycell in self.document.ycells if ycell.get("execution_state") in ("running", "busy")
        }

    async def _merge_from_disk(self, base: Any = None) -> None:
        """Take the file's content in (the caller holds the save lock, or nothing can save yet).

        ``base`` is the content the merge takes for the file as last loaded or saved (default: the
        whole file as loaded, once the document holds it). Text typed in a cell that the disk changed
        too is set aside before the disk's version takes its place (see :meth:`_keep_typed`).
        """
        if base is None:
            await self.whole()  # the base of the merge is the whole file as loaded
        cm = self.manager.contents_manager
        model = await ensure_async(
            cm.get(self.path, content=True, type=contents_type(self.key), format=self.key.format)
        )
        if base is None:
            base = self._loaded_base()
        content = model["content"]
        if self.key.kind == "notebook" and any(not cell.get("id") for cell in content.get("cells") or []):
            content = adopt_ids(content, base)  # no ids on disk: cells are matched by content
        disk = snapshot(self.key, build_document(self.key, content))
        live = snapshot(self.key, self.document)
        if self.key.kind == "notebook":
            conflicts = conflicting_cells(base, disk, live)
            if conflicts:
                await self._keep_typed(live, conflicts)
                live = snapshot(self.key, self.document)  # what was typed while the copy was written too
            merged = merge_notebooks(base, disk, live, running=self._running_cells())
        else:
            # every other type (text, binary, chat, ...): the disk wins, and what was typed is set aside
            merged = disk
            if live != base and live != disk:
                await self._keep_typed(live, [])
                live = snapshot(self.key, self.document)
        if merged != live:
            replace_content(self.document, merged)
        if disk != base:  # (else the file holds what the room last took from it: a merge found it first)
            log.info("%s changed on disk; merged into its room", self.path)
            self.manager.events.emit("merged_from_disk", room=self.key.room, path=self.path)
        self._base, self._base_update = disk, None
        self._base_state = self.document.ydoc.get_state()
        self.stamp = file_stamp(model)
        if snapshot(self.key, self.document) == disk:
            self._set_state(dirty=False, hash=model.get("hash"))
            self._schedule.cancel()
        else:
            self._set_state(dirty=True)
            self._schedule.changed()
