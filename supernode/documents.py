"""The supernode's document rooms: which file each holds, who may join, saving on request.

:class:`DocumentManager` is the relay policy for rooms named
``{format}:{type}:{fileId}``. The relay loads such a room by asking
:meth:`load`, which reads the file once (however many clients open it at the same
instant — the relay loads each room once) and starts a :class:`LiveDocument` that
follows the room. A client whose ``sessionId`` names an earlier load is refused, and its
unsaved text kept beside the file (:mod:`supernode.stale_sessions`).

A room holds a document of the jupyter_ydoc class registered for its type (see
:mod:`supernode.doctypes`): a notebook, a text or binary file, jupyterlab-chat's chat, ...; a
type nobody registered closes the room's clients with 4400 and a reason naming it.

It is also the Python API other server extensions use:
:meth:`DocumentManager.get_document`.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Decoder, Doc
from tornado.web import HTTPError

from rtc_common.close_codes import close_code
from .content import load_update
from .doctypes import UnknownDocumentType, document_class
from .document import LiveDocument, SaveFailed
from .events import DocumentEvents
from .heap import HeapTrimmer
from .keys import DocumentKey
from .load_cache import LoadCache
from .loader import Loader
from .stale_sessions import keep_unseen, refusal
from rtc_common.tasks import TaskSet, first_set

__all__ = ["DocumentLoadError", "DocumentManager"]

log = logging.getLogger("supernode.documents")
_FINISH_WAIT = 30.0  # seconds the server's stop waits for freed documents' last saves
_KEEP_WAIT = 10.0  # seconds the server's stop waits for builds being kept in the load cache
_FIRST_CLIENT_WAIT = 5.0  # seconds a load's background work waits for the first client to have the document
_SETTLE = 1.0  # seconds it waits after that
_TRIM_ABOVE = 1 << 20  # bytes: a file at least this large leaves enough freed heap after its load to give back

CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"


class DocumentLoadError(Exception):
    """A document room cannot be loaded: ``close_code`` (4404/4400/4500) and ``reason`` for its clients."""

    def __init__(self, code_name: str, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code(code_name)
        self.reason = reason


class DocumentManager:
    """Relay policy of document rooms (``claims``/``load``/``admit``/``recover``/``on_custom``/``keep``/``on_freed``).

    ``save_delay`` and ``save_max_wait`` (seconds) drive autosave, ``save_share`` paces the autosaves of
    a document that keeps changing by what they cost (:mod:`supernode.saver`); ``file_poll_interval``
    (seconds) the watch for renames and edits on disk; ``delay_outputs_above`` (bytes, or None)
    loads a notebook in stages: the cells whose outputs are larger come without them first, and
    their outputs follow once a client has the rest (see :meth:`LiveDocument.whole`).
    """

    persist = False  # the file is the document's persistence

    def __init__(
        self,
        *,
        relay: Any,
        contents_manager: Any,
        file_ids: Any,
        save_delay: float,
        save_max_wait: float,
        file_poll_interval: float,
        save_share: float = 0.0,
        tasks: TaskSet,
        events: DocumentEvents | None = None,
        delay_outputs_above: int | None = None,
        load_cache: LoadCache | None = None,
    ) -> None:
        self.relay = relay
        self.contents_manager = contents_manager
        self.file_ids = file_ids
        self.save_delay = save_delay
        self.save_max_wait = save_max_wait
        self.save_share = save_share
        self.file_poll_interval = file_poll_interval
        self.delay_outputs_above = delay_outputs_above
        self.loader = Loader(contents_manager, load_cache, delay_outputs_above)
        self.heap = HeapTrimmer()  # trimmed once a large file's load and its background work are done
        self.live: dict[str, LiveDocument] = {}
        self._epochs: dict[str, str] = {}  # the epoch of the next load of each room a session was answered for
        self._keeping: set[asyncio.Task[None]] = set()  # builds being kept in the load cache
        self._finishing: set[LiveDocument] = set()  # freed, still writing their last save (see stop)
        self._stopping = asyncio.Event()  # set by stop: a load's background work no longer waits
        self.tasks = tasks
        self.events = events or DocumentEvents(None)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of the extension's supervisor."""
        return self.tasks.spawn(coro, name)

    def follow_renames(self, event_logger: Any) -> Callable[[], None]:
        """Follow renames reported on jupyter_server's event bus at once; returns the undo.

        A rename through Jupyter (file browser, ``PATCH /api/contents``) moves the path of every
        open document at or under the old path before the next request is served, so a save right
        after a rename goes to the new path.
        """

        async def listener(logger: Any, schema_id: str, data: dict[str, Any]) -> None:
            if data.get("action") == "rename" and data.get("source_path") and data.get("path"):
                self.renamed(data["source_path"], data["path"])

        event_logger.add_listener(schema_id=CONTENTS_EVENTS, listener=listener)
        return lambda: event_logger.remove_listener(schema_id=CONTENTS_EVENTS, listener=listener)

    def renamed(self, source: str, destination: str) -> None:
        """``source`` (a file or a directory) is now ``destination``: move the documents it holds."""
        source, destination = source.strip("/"), destination.strip("/")
        for live in list(self.live.values()):
            if live.path == source:
                live.moved(destination)
            elif live.path.startswith(source + "/"):
                live.moved(destination + live.path[len(source) :])

    async def stop(self) -> None:
        """Save every open document that has unsaved changes, and wait (up to ``_FINISH_WAIT`` seconds)
        for the documents whose room was just freed to finish their last save: the relay stops first
        and frees every room, and the supervisor's tasks, which write those saves, are cancelled next.
        Then waits (up to ``_KEEP_WAIT`` seconds) for the builds being kept in the load cache: a load
        whose first client has not come yet keeps its build at once, without waiting for one."""
        self._stopping.set()
        for live in list(self.live.values()):
            if live.dirty:
                try:
                    await live.save("server stopping")
                except SaveFailed:
                    pass
        finishing = [asyncio.ensure_future(live.closed.wait()) for live in self._finishing]
        if finishing:
            _, late = await asyncio.wait(finishing, timeout=_FINISH_WAIT)
            for waiter in late:
                waiter.cancel()
            if late:
                log.warning("%d document(s) did not finish their last save within %ss", len(late), _FINISH_WAIT)
        await asyncio.sleep(0)  # the freed documents' followers start keeping their last save
        if self._keeping:  # builds being kept in the load cache: the next start opens them at once
            _, late = await asyncio.wait(list(self._keeping), timeout=_KEEP_WAIT)
            if late:
                log.info("%d build(s) were not kept in the load cache within %ss", len(late), _KEEP_WAIT)

    # -- relay policy ---------------------------------------------------------------------

    def claims(self, name: str) -> bool:
        return DocumentKey.parse(name) is not None

    async def load(self, name: str) -> Doc:
        key = DocumentKey.parse(name)
        assert key is not None
        path = self.file_ids.get_path(key.file_id)
        if path is None:
            raise DocumentLoadError("room_not_found", f"no file has id {key.file_id}")
        name_of_file = posixpath.basename(path)
        try:
            document_class(key)
        except UnknownDocumentType as exc:
            log.warning("%s cannot be opened as %s:%s: %s", path, key.format, key.type, exc)
            raise DocumentLoadError(
                "bad_message", f"{name_of_file}: no document type {key.type[:40]!r} is registered"
            ) from exc
        started = time.monotonic()
        try:
            loaded = await self.loader.load(key, path)
        except HTTPError as exc:
            code = {404: "room_not_found", 400: "bad_message"}.get(exc.status_code, "room_error")
            # The client is told in a few words (a close reason holds 123 bytes); the log has the whole story.
            why = {404: "no such file", 400: f"it cannot be read as {key.format}:{key.type}"}.get(
                exc.status_code, "it cannot be read"
            )
            log.warning("%s cannot be opened as %s:%s: %s", path, key.format, key.type, exc.log_message or exc)
            raise DocumentLoadError(code, f"{name_of_file}: {why}") from exc
        except Exception as exc:  # the type's set() refused the content
            log.warning("%s cannot be opened as %s:%s: %r", path, key.format, key.type, exc)
            raise DocumentLoadError(
                "bad_message", f"{name_of_file}: it cannot be read as {key.format}:{key.type}"
            ) from exc
        live = LiveDocument(self, key, path, loaded, self._epochs.pop(name, None))
        self.live[name] = live
        live.attach(self.relay.open_direct(name, label=f"supernode {path}"))
        self.spawn(self._follow(name, live), f"document {path}")
        large = (loaded.model.get("size") or 0) >= _TRIM_ABOVE
        if loaded.keep is not None or loaded.stamp is not None or loaded.validate or large:
            self._keep(self._after_first_client(live, loaded), f"keep and validate {path}")
        how = " (from the load cache, found by the file's stamp)" if loaded.verify else " (from the load cache)"
        log.info("opened %s in room %s%s", path, name, how if loaded.from_cache else "")
        self.events.emit("loaded", room=name, path=path, duration_ms=round((time.monotonic() - started) * 1000, 3))
        return live.document.ydoc  # the room's document itself: one copy in memory

    async def _after_first_client(self, live: LiveDocument, loaded: Any) -> None:
        """Once the first client has the document (or after ``_FIRST_CLIENT_WAIT`` seconds) and
        ``_SETTLE`` seconds more: keep the build in the load cache, and validate a notebook read
        without validation, so neither slows the first open nor what the user does right after it. Then,
        for a large file, give the heap the load freed back to the system (glibc keeps it otherwise: about
        twice the document's size after a 50 MB notebook's load). When the server stops, the build is
        kept at once and the rest is left (the validation only ever logs; the process is ending)."""
        stopping = self._stopping
        await live.first_client(_FIRST_CLIENT_WAIT, stopping)
        # what a user does right after opening (an edit, a save) goes first
        await first_set(stopping, timeout=_SETTLE)
        if loaded.keep is not None or loaded.stamp is not None:
            await self.loader.remember(loaded, live.loaded, live.closed)
        if stopping.is_set():
            return
        if loaded.validate:
            await self.loader.validate(live.path)
        if (loaded.model.get("size") or 0) >= _TRIM_ABOVE:
            await first_set(live.loaded, live.closed)  # a staged load's outputs are built by then (or it is gone)
            self.heap.trim()

    async def _follow(self, name: str, live: LiveDocument) -> None:
        try:
            await live.run()
        finally:
            self._finishing.discard(live)
            if self.live.get(name) is live:
                del self.live[name]
        if not live.dirty:  # its file holds it all: the next open of that file comes from the load cache
            self._keep(self.loader.prime(live.key, live.path), f"keep the last save of {live.path}")

    def _keep(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro``, which keeps a build in the load cache; the server's stop waits for it a while
        (once the server's tasks are stopping, nothing more is kept)."""
        try:
            keeping = self.spawn(coro, name)
        except RuntimeError:
            return
        self._keeping.add(keeping)
        keeping.add_done_callback(self._keeping.discard)

    def admit(self, name: str, params: Mapping[str, str]) -> tuple[int, str, bool, dict] | None:
        live = self.live.get(name)
        return None if live is None else refusal(name, live, params.get("sessionId"))

    async def recover(self, name: str, update: bytes, params: Mapping[str, str]) -> bool:
        """See :func:`supernode.stale_sessions.keep_unseen`."""
        live = self.live.get(name)
        if live is None:
            return False
        return await keep_unseen(self.contents_manager, self.events, name, live, update, params.get("sessionId", ""))

    def on_custom(self, name: str, text: str, payload: bytes, reply: Callable[[dict], None], writer: bool) -> bool:
        if text != "save":
            return False
        request = Decoder(payload).read_var_uint()
        live = self.live.get(name)
        if live is None or not writer:
            status = "failed" if live is None else "skipped"
            reply({"type": "save", "responseTo": request, "status": status})
            return True
        # The room applied the client's edits to the document before this request: all are in it. Requests
        # coalesce: however often Ctrl+S is pressed, one save is in flight and one queued (see request_save).
        live.request_save("save request").add_done_callback(
            lambda done: reply({"type": "save", "responseTo": request, "status": _save_status(done)})
        )
        return True

    def keep(self, name: str) -> str | None:
        live = self.live.get(name)
        return live.keep_reason() if live is not None else None

    def on_freed(self, name: str) -> None:
        # Its direct connection is closed: the document stops watching its file on its own.
        live = self.live.pop(name, None)
        if live is not None:
            if not live.closed.is_set():
                self._finishing.add(live)  # its last save, if any, is being written
            self.events.emit("freed", room=name, path=live.path)
        log.debug("room %s freed", name)

    # -- API for the session endpoint and other extensions -----------------------------------

    async def session(self, room: str, *, wait: bool = True) -> str:
        """Load room ``room`` if needed; its current ``sessionId`` (the load's epoch). Without ``wait``, a room
        that is not loaded yet is answered at once, with the epoch its load will have: the load goes on
        while the client opens the room's websocket (which the room admits once it is loaded, or closes
        with the load's error); a session request of the stock frontend then costs no more than the
        load itself. Raises DocumentLoadError (with ``wait``) for a room that cannot be loaded."""
        if not wait and room not in self.live:
            epoch = self._epochs.setdefault(room, str(uuid.uuid4()))
            self.spawn(self._load_for_session(room), f"load {room}")
            return epoch
        await self.relay.load_room(room)
        live = self.live.get(room)
        if live is None:
            raise DocumentLoadError("room_error", f"room {room} has no document")
        return live.epoch

    async def _load_for_session(self, room: str) -> None:
        """Load ``room`` for a session answered before its load. A load that fails leaves its epoch to the
        next (no client had a document of it): a client that joins with it then, once the file can be read
        again, is that load's client."""
        try:
            await self.relay.load_room(room)
        except Exception as exc:  # the load logged why; the room's websocket is closed with its code
            log.debug("room %s (a session's) could not be loaded: %r", room, exc)

    async def document_for_path(self, path: str) -> LiveDocument | None:
        """The live document of notebook ``path`` (its room loaded if needed), or None if there is no file
        (or ``path`` is not a path the contents manager accepts)."""
        if not await self._exists(path):
            return None
        room = f"json:notebook:{self.file_ids.index(path)}"
        try:
            await self.session(room)
        except DocumentLoadError:
            return None
        live = self.live[room]
        await live.whole()
        return live

    async def _exists(self, path: str) -> bool:
        return await _file_exists(self.contents_manager, path)

    async def room_for_path(self, path: str, file_format: str, content_type: str) -> str | None:
        """The room of file ``path`` opened as ``file_format``/``content_type`` (the file indexed now if it was
        not), or None if there is no such file. ``/a.ipynb`` and ``a.ipynb`` are the same file."""
        path = path.strip("/")
        if not await self._exists(path):
            return None
        return f"{file_format}:{content_type}:{self.file_ids.index(path)}"

    async def get_document(
        self,
        *,
        path: str | None = None,
        room_id: str | None = None,
        content_type: str | None = None,
        file_format: str | None = None,
        copy: bool = True,
        create: bool = True,
    ) -> YBaseDoc | None:
        """The shared document of a file, by ``path`` (with ``content_type`` and ``file_format``) or ``room_id``.

        With ``copy=False`` the live document (changes made to it reach every client and
        the file); with ``copy=True`` a detached copy. With ``create=False`` only a document
        already open in a room is returned (None otherwise), as jupyter-collaboration does by
        default; with ``create=True`` (ours by default) the file is opened if it is not. None if
        there is no such file.
        """
        if room_id is None:
            if path is None or content_type is None or file_format is None:
                raise ValueError("give room_id, or path with content_type and file_format")
            room_id = await self.room_for_path(path, file_format, content_type)
            if room_id is None:
                return None
        if not create and room_id not in self.live:
            return None
        try:
            await self.session(room_id)
        except DocumentLoadError:
            return None
        live = self.live[room_id]
        await live.whole()
        if not copy:
            return live.document
        return load_update(live.key, live.document.ydoc.get_update())


async def _file_exists(contents_manager: Any, path: str) -> bool:
    try:
        return bool(await ensure_async(contents_manager.file_exists(path)))
    except HTTPError as exc:  # e.g. 404 "… is not a valid path" (a NUL byte, a path outside the root)
        if exc.status_code in (400, 403, 404):
            return False
        raise


def _save_status(done: asyncio.Future[None]) -> str:
    """The answer to a save request from the outcome of the save that served it."""
    return "failed" if done.cancelled() or done.exception() is not None else "success"
