"""A pycrdt document kept in sync with one room of the relay.

Usage::

    async with RoomClient("ws://127.0.0.1:1234/my-room") as room:
        await room.wait_synced()
        text = room.doc.get("text", type=Text)
        text += "hello"                   # sent to the relay at once
        room.awareness.set_local_state({"user": {"name": "bot"}})

Local changes are sent as they are committed; remote ones are applied as they
arrive. ``notices`` collects the JSON notices the relay sends (see
``schema/relay-notice.json``). When the relay closes the connection, ``closed``
is set and ``close_code``/``close_reason`` say why.

Resource handling: one reader task per client, owned by the ``async with`` block;
leaving the block closes the websocket (and the relay removes our presence).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from collections.abc import Callable

from pycrdt import Awareness, Doc
from .channel import Channel, WebsocketChannel
from .errors import ConnectionClosed
from .wire import read_var_string, read_var_uint8array, var_string, var_uint, var_uint8array

__all__ = ["RoomClient"]

log = logging.getLogger("rtc_client")

_SYNC, _AWARENESS, _CUSTOM = 0, 1, 2
_STEP1, _STEP2, _UPDATE = 0, 1, 2


class RoomClient:
    """One connection to one relay room, syncing ``doc`` (a new Doc by default).

    ``target`` is a websocket URL, or an already open :class:`~rtc_client.channel.Channel`.
    """

    def __init__(
        self,
        target: str | Channel,
        doc: Doc | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        send_step1: bool = True,
    ) -> None:
        self.url = target if isinstance(target, str) else getattr(target, "path", "channel")
        self._channel: Channel | None = None if isinstance(target, str) else target
        self._headers = headers
        self.doc = doc if doc is not None else Doc()
        self.awareness = Awareness(self.doc)
        self.token = token
        self.notices: list[dict[str, Any]] = []
        self.received: list[tuple[int, int | None]] = []  # (message type, sync type) in arrival order
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._synced = asyncio.Event()
        self._changed = asyncio.Event()
        self._send_step1 = send_step1
        self._reader: asyncio.Task[None] | None = None
        self._applying = False
        self._outgoing: list[bytes] = []
        self._sender: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._finished = False

    # -- lifecycle --------------------------------------------------------------

    async def __aenter__(self) -> RoomClient:
        if self._channel is None:
            self._channel = await WebsocketChannel.connect(self.url, token=self.token, headers=self._headers)
        self._doc_sub = self.doc.observe(self._on_doc_change)
        self._aw_sub = self.awareness.observe(self._on_awareness_change)
        if self._send_step1:
            self._queue(bytes((_SYNC, _STEP1)) + var_uint8array(self.doc.get_state()))
        if self.awareness.get_local_state() is not None:
            update = self.awareness.encode_awareness_update([self.awareness.client_id])
            self._queue(bytes((_AWARENESS,)) + var_uint8array(update))
        self._reader = asyncio.create_task(self._read(), name=f"rtc_client reader {self.url}")
        self._sender = asyncio.create_task(self._send(), name=f"rtc_client sender {self.url}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send what is queued, close the websocket and stop the tasks. Idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._sender is not None and not self.closed.is_set():
            self._outgoing.append(b"")  # sentinel: stop after sending everything before it
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._sender), 5)
            except (asyncio.TimeoutError, Exception):
                pass
        if self._channel is not None:
            await self._channel.close()
        for task in (self._reader, self._sender):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self.doc.unobserve(self._doc_sub)
        self.awareness.unobserve(self._aw_sub)

    # -- waiting ------------------------------------------------------------------

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Wait until the relay answered our SyncStep1 (the document holds the room's state)."""
        await asyncio.wait_for(self._synced.wait(), timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` is true, re-checking after every message received."""

        async def _wait() -> None:
            while not predicate():
                if self.closed.is_set():
                    raise ConnectionClosed(self.close_code, self.close_reason)
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(_wait(), timeout)

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        """Wait until the relay closed the connection; return the close code."""
        await asyncio.wait_for(self.closed.wait(), timeout)
        return self.close_code

    # -- sending --------------------------------------------------------------------

    def send_raw(self, message: bytes) -> None:
        """Queue an arbitrary binary message (for protocol tests)."""
        self._queue(message)

    def save(self, request_id: int) -> None:
        """Ask the relay to save now (Jupyter's save request); the answer arrives in ``notices``."""
        self._queue(bytes((_CUSTOM,)) + var_string("save") + var_uint(request_id))

    def _queue(self, message: bytes) -> None:
        self._outgoing.append(message)
        self._wake.set()

    async def _send(self) -> None:
        assert self._channel is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outgoing = self._outgoing, []
            for message in batch:
                if message == b"":
                    return
                try:
                    await self._channel.send(message)
                except Exception:
                    if self._channel.close_code is None:
                        raise
                    return  # closed: the reader reports it

    def _on_doc_change(self, event: Any) -> None:
        if not self._applying:
            self._queue(bytes((_SYNC, _UPDATE)) + var_uint8array(event.update))

    def _on_awareness_change(self, topic: str, changes: tuple[dict[str, Any], Any]) -> None:
        if topic != "update":
            return
        change, origin = changes
        if origin == "remote":
            return
        ids = change["added"] + change["updated"] + change["removed"]
        if ids:
            update = self.awareness.encode_awareness_update(ids)
            self._queue(bytes((_AWARENESS,)) + var_uint8array(update))

    # -- receiving --------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._channel is not None
        try:
            while True:
                self._handle(await self._channel.recv())
                self._changed.set()
        except Exception:
            if self._channel.close_code is None and not isinstance(self._channel, WebsocketChannel):
                raise
        finally:
            self.close_code = self._channel.close_code
            self.close_reason = self._channel.close_reason
            self.closed.set()
            self._changed.set()

    def _handle(self, message: bytes) -> None:
        kind = message[0]
        if kind == _SYNC:
            sub = message[1]
            self.received.append((kind, sub))
            data, _ = read_var_uint8array(message, 2)
            if sub == _STEP1:
                self._queue(bytes((_SYNC, _STEP2)) + var_uint8array(self.doc.get_update(data)))
            else:
                self._applying = True
                try:
                    self.doc.apply_update(data)
                finally:
                    self._applying = False
                if sub == _STEP2:
                    self._synced.set()
        elif kind == _AWARENESS:
            self.received.append((kind, None))
            data, _ = read_var_uint8array(message, 1)
            self.awareness.apply_awareness_update(data, "remote")
        elif kind == _CUSTOM:
            self.received.append((kind, None))
            text, _ = read_var_string(message, 1)
            try:
                self.notices.append(json.loads(text))
            except ValueError:
                log.debug("ignoring custom message %r", text[:40])
        else:
            self.received.append((kind, None))
