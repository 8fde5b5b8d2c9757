"""A live document: one file kept in one relay room, owned by the supernode.

Lifecycle (one per load of a room): :class:`DocumentManager` reads the file and
builds the document, which the relay room then uses as its own (one copy in
memory: clients' updates are applied to it by the relay, the server's writes go
from it to the clients through the room's direct connection); :meth:`LiveDocument.run`
lives until the relay frees the room. The relay frees an idle room only when
:meth:`LiveDocument.keep_reason` lets it: never with a save in flight or unsaved
changes (it starts the save and is asked again), never while an execution holds it.
So the file holds everything once the room is gone, and the next load of the same
file never waits on the previous one.

While it runs it keeps ``state.dirty``, ``state.path`` and ``state.hash`` true;
saves through the contents manager after a quiet period, never later than the
maximum wait after the first unsaved change, and at once on request (requests
coalesce: one save in flight and one queued, see :meth:`LiveDocument.request_save`); watches
the file for edits made by someone else (merged in, keeping concurrent edits to
cells the disk change did not touch) and for renames (:class:`~supernode.file_sync.FileSync`).

Saving is :mod:`supernode.document_saves` (the live document's saving methods,
and what a failed save does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rtc_common.tasks import first_set

from .cell_cache import CellCache
from .content import load_update
from .snapshot import snapshot
from .document_saves import DocumentSaves, SaveFailed
from .file_sync import FileSync, file_stamp
from .keys import DocumentKey
from .packed_parts import iter_parts
from .saver import SaveSchedule
from .staged_load import StagedLoad

if TYPE_CHECKING:
    from .loader import Loaded
    from .documents import DocumentManager

__all__ = ["LiveDocument", "SaveFailed"]

log = logging.getLogger("supernode.documents")

_STAGE_WAIT = 2.0  # seconds a document loaded in stages waits for its first client before the rest


class LiveDocument(DocumentSaves, FileSync):
    """One file in one room. ``epoch`` names this load: a client of another load is stale."""

    def __init__(
        self, manager: DocumentManager, key: DocumentKey, path: str, loaded: Loaded, epoch: str | None = None
    ) -> None:
        self.manager = manager
        self.key = key
        self.path = path
        self.epoch = epoch or str(uuid.uuid4())  # (a session answered before the load was done named it)
        model = loaded.model
        self.document = loaded.document
        self._staged = None if loaded.stages is None else StagedLoad(self._apply_stage, loaded.stages)
        self.stamp = file_stamp(model)
        # The content as on disk, for merges: kept as the load's update and decoded only when a
        # merge needs it (decoding a large notebook costs as much as building it).
        self._base: Any = None
        self._base_update: bytes | None = None
        self._base_parts: tuple[bytes, Any] | None = None  # a staged load's base: first update, packed rest
        self._saved: tuple[int, Any, int] | None = None  # revision, content and file size of the last save
        self._validated: Any = None  # the content of the last save given to validation
        self._version = 0  # bumped by every change from the room
        self._save_lock = asyncio.Lock()  # held by the save in flight (and by merges from disk)
        self._queued_save: asyncio.Future[None] | None = None  # the save that starts after the one in flight
        self._schedule = SaveSchedule(
            self._save_due, delay=manager.save_delay, max_wait=manager.save_max_wait, share=manager.save_share
        )
        self._writing_state = False
        self._deleted = False
        self._closing = False
        self._failures = 0  # saves failed in a row
        self.loaded = asyncio.Event()  # set once the document holds the whole file (every stage)
        self._hurry = asyncio.Event()  # someone on the server needs the whole document now
        self.document.observe(self._on_change)
        self._cells = CellCache(key, self.document)  # the cells as the last save read them (notebooks)
        # ``loading`` (True while a staged load's outputs still follow) tells clients the document is not whole yet.
        self._set_state(dirty=False, path=path, hash=model.get("hash"), loading=True if self._staged else None)
        self._base_update = loaded.update  # the content as built (the state map is not content)
        self._base_state = self.document.ydoc.get_state()  # the state vector of the base: who edited since
        if self._staged is None:
            self.loaded.set()
        # A load the cache found by the file's stamp: the file is hashed once the first client is served,
        # and nothing saves or merges before (see verified()).
        self._verify = loaded.verify
        self._verified = asyncio.Event()
        if self._verify is None:
            self._verified.set()
        self.closed = asyncio.Event()
        self._connection: Any = None  # the room's DirectConnection
        self.conflict_copies: dict[str, str] = {}  # digest of a stale client's content -> its conflict copy
        self.told: set[str] = set()  # sessions of earlier loads told of their conflict (fenced, not told again)
        self._holds = 0

    @property
    def dirty(self) -> bool:
        return bool(self.document.dirty)

    @property
    def revision(self) -> int:
        """How many changes the content has had in this load (from any writer): same revision, same content."""
        return self._version

    def saved_content(self) -> tuple[Any, int] | None:
        """What the last save wrote, as plain data, and the file's size in bytes, while the document has not
        changed since (None otherwise, or if the contents manager may have changed it on the way: a
        pre-save hook, a manager of its own). Never to be changed by the caller."""
        saved = self._saved
        if saved is None or saved[0] != self._version:
            return None
        return saved[1], saved[2]

    # -- running -------------------------------------------------------------------------

    def attach(self, connection: Any) -> None:
        """The direct connection of this document's room (before :meth:`run`)."""
        self._connection = connection

    def presence(self, *, writers_only: bool = False) -> dict[int, dict]:
        """Everyone's awareness state in the room, by Yjs client id (empty once the room is gone); with
        ``writers_only``, only those of clients that may edit the document."""
        connection = self._connection
        if connection is None or connection.closed.is_set():
            return {}
        return connection.presence(writers_only=writers_only)

    def watch_presence(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` (quick, never raising) after every change of the room's presence; returns the
        function that stops it. See :meth:`rtc_relay.direct.DirectConnection.watch_presence`."""
        connection = self._connection
        if connection is None or connection.closed.is_set():
            return lambda: None
        return connection.watch_presence(callback)

    def set_presence(self, client: int, state: dict | None) -> None:
        """Show ``state`` as the presence of Yjs client ``client`` (one of the server's own: an agent working
        through it), or withdraw it (None); see :meth:`rtc_relay.direct.DirectConnection.set_presence`."""
        connection = self._connection
        if connection is not None and not connection.closed.is_set():
            connection.set_presence(client, state)

    def hold(self, keep: bool, reason: str = "execution queued or running") -> None:
        """Keep the room open even with no client (True), or let it be freed again (False); counted by ``reason``."""
        self._holds += 1 if keep else -1
        if self._connection is not None and not self._connection.closed.is_set():
            if keep:
                self._connection.hold(reason)
            else:
                self._connection.release(reason)

    def keep_reason(self) -> str | None:
        """Why the idle room must stay (the relay asks before freeing it), or None.

        Unsaved changes start a save now and keep the room; the relay asks again later.
        """
        if self._save_lock.locked() or self._queued_save is not None:
            return "a save is in flight"
        if self._deleted or self._closing:
            return None  # a deleted file is not written back
        if self._failures:
            return f"unsaved changes: {self._failures} save(s) failed, tried again with back-off"
        if self.dirty or self._schedule.pending:
            self._schedule.cancel()
            self._save_due()
            return "unsaved changes are being saved"
        return None

    async def run(self) -> None:
        """Live until the relay frees the room (or the server stops); then stop watching the file.

        The room uses this document itself (see :meth:`DocumentManager.load`): clients' updates
        are applied to it by the relay, and what the server writes in it reaches them through the
        room's direct connection. A room freed with unsaved changes (only when the relay stops:
        otherwise :meth:`keep_reason` keeps it until they are saved) is saved here.
        """
        watcher = self.manager.spawn(self._watch_file(), f"watch {self.path}")
        if not self._verified.is_set():
            self.manager.spawn(self.verified(), f"check {self.path}")
        stages = None if self._staged is None else self.manager.spawn(self._load_stages(), f"load {self.path}")
        try:
            await self._connection.wait_closed()
        finally:
            if stages is not None:
                stages.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # a failure is logged by spawn
                    await stages
                if self._staged is not None and await self._staged.finish():
                    # Closed before the stages were done: the document is whole before anything saves it.
                    await self._stages_ended()
            watcher.cancel()
            try:
                await watcher
            except asyncio.CancelledError:
                pass
            self._closing = True
            self._schedule.cancel()
            if self.dirty and not self._deleted:
                try:
                    await self.save("room closed")
                except SaveFailed:
                    pass  # logged; nothing more can be done once the room is gone
            self.document.unobserve()
            self._cells.close()
            self.closed.set()

    def encoded(self) -> tuple[bytes, bytes | bytearray | None]:
        """The document's content as ``(update, rest)``: ``rest`` (None, or updates packed by
        :func:`~supernode.packed_parts.pack_parts`) follows ``update``. While nothing changed since the
        load, the load's own (encoding a large notebook again costs as much as reading it: a turn of
        the event loop of a tenth of a second for 50 MB), its first stage and the stages' updates for a
        load in stages; else the document encoded now."""
        if self._version == 0 and self.loaded.is_set():
            if self._base_update is not None:
                return self._base_update, None
            if self._base is None and self._base_parts is not None:
                return self._base_parts
        return self.document.ydoc.get_update(), None

    async def first_client(self, timeout: float, sooner: asyncio.Event) -> None:
        """Return once a client of the room has the document, once ``sooner`` is set, or after
        ``timeout`` seconds."""
        await first_set(self._connection.client_synced, sooner, timeout=timeout)

    async def whole(self) -> None:
        """Wait until the document holds the whole file (at once, if it was loaded in one piece and
        needs no check: see :meth:`~supernode.file_sync.FileSync.verified`)."""
        self._hurry.set()
        await self.loaded.wait()
        await self._verified.wait()

    async def _load_stages(self) -> None:
        """Write the outputs the first stage left out, once a client has the rest (or the server needs them).

        One transaction per cell, each reaching the clients as an ordinary update; not an edit
        (nothing to save). Waits at most ``_STAGE_WAIT`` for a client: a load nobody syncs goes on.
        """
        staged = self._staged
        assert staged is not None
        try:
            await staged.run(self._connection.client_synced, self._hurry, _STAGE_WAIT)
        except Exception:  # a bug: what the server waits for goes on, as with a load in one piece
            log.exception("%s: the outputs loaded in stages could not all be written", self.path)
            staged.done = True
        await self._stages_ended()

    async def _stages_ended(self) -> None:
        """The stages are applied. Stages that came up short (the load cache lost the outputs it held
        since the first stage was served, or found some of them damaged) are made good from the file: a
        merge whose base is what the room took from the cache takes the other outputs from the disk, and
        keeps what the room did meanwhile. No save
        or other merge runs before the document is whole (they wait for :attr:`loaded`)."""
        staged = self._staged
        assert staged is not None
        if getattr(staged.stages, "short", False) and self._base_update is not None:
            # The base: what the room took from the cache (the first stage, the updates read before the rest
            # came up short); the file has the outputs they lack.
            first = snapshot(self.key, load_update(self.key, self._base_update, *staged.stages.packed))
            try:
                await self._merge_from_disk(base=first)
            except Exception as exc:  # the file is gone or unreadable: nothing holds the outputs any more
                log.error(
                    "%s: its large outputs could not be read from the file (%r); the room lacks them", self.path, exc
                )
                self._set_state(dirty=True)
        if self._staged is not None:
            self._stages_loaded()

    def _apply_stage(self, update: bytes) -> None:
        """Write one stage's update into the document: through the room's connection while it is open
        (the clients get these very bytes), else straight into the document. The document's own observer
        of the cells is off meanwhile (a load is no edit, which ``staged.applying`` tells any observer left
        on): pycrdt makes every event of a deep observer whole before calling it (a megabyte of stream text
        inserted is a megabyte's string in its delta, half the cost of applying it)."""
        connection = self._connection
        ycells = self.document._ycells  # (only notebooks load in stages)
        subscriptions = self.document._subscriptions  # jupyter_ydoc's, which observe() filled
        held = subscriptions.pop(ycells, None)
        if held is not None:
            ycells.unobserve(held)
        try:
            if connection is not None and connection.following:
                connection.apply(update, held=True)  # (the stages keep each update: the load's base)
            else:
                self.document.ydoc.apply_update(update)
        finally:
            if held is not None:
                subscriptions[ycells] = ycells.observe_deep(self._on_cells_change)

    def _on_cells_change(self, events: Any) -> None:
        self._on_change("cells", events)

    def _stages_loaded(self) -> None:
        """The document holds the whole file: the stages' updates become part of the base."""
        staged = self._staged
        assert staged is not None and staged.done
        stages = staged.stages
        # The base is the first stage's update and the later ones (no whole update is encoded here: an
        # encoding of the document costs a turn of the event loop as long as a build).
        first = self._base_update
        if first is not None:  # (else a later base replaced it: nothing that does runs before the stages end)
            self._base, self._base_update, self._base_parts = None, None, (first, stages.packed)
        if self._version == 0:  # nobody edited yet: the outputs are part of the base, not an edit
            self._base_state = self.document.ydoc.get_state()
        self._writing_state = True
        try:
            with self.document.ydoc.transaction():
                if "loading" in self.document.ystate:
                    del self.document.ystate["loading"]  # the document is whole
                if not self._schedule.pending and not self._save_lock.locked():
                    # A frontend marks itself changed on every remote update; dirty=False written again
                    # tells it the document is the file (it always takes the value, even an unchanged one).
                    self.document.ystate["dirty"] = False
        finally:
            self._writing_state = False
        self._staged = None
        self.loaded.set()
        log.info(
            "%s loaded in stages: the outputs of %d cell(s) followed in %.3fs",
            self.path,
            stages.cells,
            time.monotonic() - (staged.started or time.monotonic()),
        )

    def _on_change(self, target: str, event: Any) -> None:
        # Runs inside the commit of a transaction, where the document is read-only.
        staged = self._staged
        if target == "state" or self._writing_state or (staged is not None and staged.applying):
            return
        self._version += 1
        if not self.document.dirty:
            asyncio.get_running_loop().call_soon(self._mark_dirty)
        self._schedule.changed()

    def _mark_dirty(self) -> None:
        if self._schedule.pending or self._save_lock.locked():
            self._set_state(dirty=True)

    def _set_state(self, **values: Any) -> None:
        self._writing_state = True
        try:
            with self.document.ydoc.transaction():
                for name, value in values.items():
                    if value is not None and self.document.ystate.get(name) != value:
                        self.document.ystate[name] = value
        finally:
            self._writing_state = False

    def _loaded_base(self) -> Any:
        if self._base_update is not None:
            self._base = snapshot(self.key, load_update(self.key, self._base_update))
            self._base_update = None
        elif self._base_parts is not None:
            if self._base is None:  # (else a save's content replaced the load's since)
                first, packed = self._base_parts
                self._base = snapshot(self.key, load_update(self.key, first, *iter_parts(packed)))
            self._base_parts = None
        return self._base
