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

Reconnection (``reconnect=True``, websocket URLs only): when the connection drops
or the relay closes it for a passing reason (going away, idle, slow consumer,
internal error, room load failure), the client opens a new websocket with backoff
(0.1 s doubling to 2.5 s) for up to ``reconnect_for`` seconds (:mod:`rtc_client.reconnect`).
On each new connection both sides exchange state vectors (SyncStep1/SyncStep2), so edits made
while disconnected reach the room and the room's reach us, each exactly once (CRDT
updates are idempotent). ``connected`` is set while a connection is open and
``reconnects`` counts the new connections. A refusal (bad token, bad room, a stale
session) is final: :attr:`RoomClient.error` says why (``SessionExpired`` for a document reloaded
since, after a server restart for instance; when its copy held edits the room lacks, the server keeps
them beside the file and says so with a ``conflict`` notice, on which the client ends the same way, with
``SessionExpired.conflict`` true). A server that stops answering without closing (suspended,
cut off) is noticed by the keepalive pings (``keepalive`` seconds, 20 by default) and treated as a
dropped connection, so no wait of this client outlives its deadline.

Resource handling: one task per client (it runs the reader and a sender per
connection), owned by the ``async with`` block; leaving the block closes the
websocket (and the relay removes our presence).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from pycrdt import Awareness, Doc

from .channel import Channel, WebsocketChannel
from .errors import ClientError, ConnectionClosed, DeadlineExceeded, SessionExpired, error_for_close
from .reconnect import PASSING, reconnect
from .wire import read_var_string, read_var_uint8array, var_string, var_uint, var_uint8array

__all__ = ["RoomClient"]

log = logging.getLogger("rtc_client")

_SYNC, _AWARENESS, _CUSTOM = 0, 1, 2
_STEP1, _STEP2, _UPDATE = 0, 1, 2


class RoomClient:
    """One connection to one relay room, syncing ``doc`` (a new Doc by default).

    ``target`` is a websocket URL, or an already open :class:`~rtc_client.channel.Channel`;
    ``keepalive``: seconds between pings, and the longest wait for their pong (None: no pings).
    """

    def __init__(
        self,
        target: str | Channel,
        doc: Doc | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        send_step1: bool = True,
        reconnect: bool = False,
        reconnect_for: float = 60.0,
        keepalive: float | None = 20.0,
    ) -> None:
        self.url = target if isinstance(target, str) else getattr(target, "path", "channel")
        self._channel: Channel | None = None if isinstance(target, str) else target
        self._headers = headers
        self.doc = doc if doc is not None else Doc()
        self.awareness = Awareness(self.doc)
        self.token = token
        self.notices: deque[dict[str, Any]] = deque(maxlen=1000)
        # (message type, sync type) in arrival order, the latest 10,000 (for protocol tests)
        self.received: deque[tuple[int, int | None]] = deque(maxlen=10_000)
        self.access = "write"  # "read" once the relay said this connection is read-only
        self.connected = asyncio.Event()
        self.reconnects = 0
        self._reconnect = reconnect and isinstance(target, str)
        self._reconnect_for = reconnect_for
        self._keepalive = keepalive
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._synced = asyncio.Event()
        self._changed = asyncio.Event()
        self._send_step1 = send_step1
        self._runner: asyncio.Task[None] | None = None
        self._applying = False
        self._outgoing: list[bytes] = []
        self._sender: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._finished = False
        self._down = False  # disconnected, reconnecting: local updates wait for the next handshake
        self._step1_sent = 0  # SyncStep1 messages sent on this connection, and SyncStep2 answers seen
        self._step2_seen = 0
        self.error: ClientError | None = None  # once closed: what ended the connection
        self._conflict: dict[str, Any] | None = None  # the server's conflict notice: this copy is fenced off

    # -- lifecycle --------------------------------------------------------------

    async def __aenter__(self) -> RoomClient:
        if self._channel is None:
            self._channel = await WebsocketChannel.connect(
                self.url, token=self.token, headers=self._headers, keepalive=self._keepalive
            )
        self._doc_sub = self.doc.observe(self._on_doc_change)
        self._aw_sub = self.awareness.observe(self._on_awareness_change)
        self._greet()
        self._runner = asyncio.create_task(self._run(), name=f"rtc_client {self.url}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send what is queued, close the websocket and stop the tasks. Idempotent."""
        if self._finished:
            return
        self._finished = True
        if self._sender is not None and not self._sender.done() and self.connected.is_set():
            self._outgoing.append(b"")  # sentinel: stop after sending everything before it
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._sender), 5)
            except (asyncio.TimeoutError, Exception):
                pass
        if self._channel is not None:
            await self._channel.close()
        for task in (self._runner, self._sender):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        if not self.closed.is_set():
            channel = self._channel
            self._end(channel.close_code if channel else None, channel.close_reason if channel else "")
        self.doc.unobserve(self._doc_sub)
        self.awareness.unobserve(self._aw_sub)

    def _greet(self) -> None:
        """Queue what opens every connection: our state vector and our presence."""
        self._step2_seen = self._step1_sent  # answers to a lost connection's SyncStep1 never come
        if self._send_step1:
            self._queue_step1()
        if self.awareness.get_local_state() is not None:
            update = self.awareness.encode_awareness_update([self.awareness.client_id])
            self._queue(bytes((_AWARENESS,)) + var_uint8array(update))

    async def _run(self) -> None:
        """Serve connections one after the other until a final close; ``closed`` is always set at the end."""
        channel = self._channel
        assert channel is not None
        try:
            while True:
                await self._serve(channel)
                if self._conflict is not None:  # fenced off the room: nothing more can flow
                    await channel.close()
                    self._end(1003, json.dumps(self._conflict), SessionExpired(1003, json.dumps(self._conflict)))
                    return
                code, reason = channel.close_code, channel.close_reason
                if self._finished or not self._reconnect or code not in PASSING:
                    self._end(code, reason)
                    return
                log.info("rtc_client %s: connection lost (%s %s); reconnecting", self.url, code, reason)
                refusal = await self._connect_again()
                if refusal is not None:
                    self._end(code, reason, refusal)
                    return
                channel = self._channel
        except Exception as exc:
            log.exception("rtc_client %s: the connection failed", self.url)
            self._end(channel.close_code, channel.close_reason or f"client error: {exc!r}")
        finally:
            if not self.closed.is_set():  # cancelled by close()
                self._end(channel.close_code, channel.close_reason)

    async def _serve(self, channel: Channel) -> None:
        """One connection: a sender task, and the reader here, until the channel closes."""
        self._down = False
        self.connected.set()
        self._changed.set()
        self._sender = asyncio.create_task(self._send(channel), name=f"rtc_client sender {self.url}")
        try:
            await self._read(channel)
        finally:
            self._down = self._reconnect
            self.connected.clear()
            self._changed.set()
            if not self._sender.done() and not self._finished:
                self._sender.cancel()
                try:
                    await self._sender
                except asyncio.CancelledError:
                    pass

    async def _connect_again(self) -> ClientError | None:
        """Open a new websocket with backoff (:func:`~rtc_client.reconnect.reconnect`, for
        ``reconnect_for`` seconds); the reason to stop trying, or None once connected."""
        self._synced.clear()
        self._forget_remote_presence()
        opened = await reconnect(
            self.url,
            token=self.token,
            headers=self._headers,
            keepalive=self._keepalive,
            within=self._reconnect_for,
            stopped=lambda: self._finished,
        )
        if isinstance(opened, ClientError):
            return opened
        self._channel = opened
        self.reconnects += 1
        # Document updates are in the document: the new handshake carries them once.
        self._outgoing = [m for m in self._outgoing if m and m[0] == _CUSTOM]
        self._greet()
        return None

    def _forget_remote_presence(self) -> None:
        """Like y-websocket: a lost connection removes every other client's presence."""
        others = [cid for cid in self.awareness.states if cid != self.awareness.client_id]
        if others:
            self.awareness.remove_awareness_states(others, "remote")

    def _end(self, code: int | None, reason: str, error: ClientError | None = None) -> None:
        self.close_code = code
        self.close_reason = reason
        self.error = error or error_for_close(code, reason)
        self.closed.set()
        self._changed.set()

    # -- waiting ------------------------------------------------------------------

    async def wait_synced(self, timeout: float = 10.0) -> None:
        """Wait until the relay answered our SyncStep1 (the document holds the room's state).

        Raises the error for the relay's close (:func:`~rtc_client.errors.error_for_close`) if the
        connection ends first, :class:`~rtc_client.errors.DeadlineExceeded` after ``timeout`` seconds.
        """
        await self.wait_for(lambda: self._synced.is_set(), timeout)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` is true, re-checking after every message received.

        Raises the error for the relay's close if the connection ends for good first (a client that
        reconnects keeps waiting), :class:`~rtc_client.errors.DeadlineExceeded` after ``timeout``.
        """

        async def _wait() -> None:
            while not predicate():
                if self.closed.is_set():
                    if self._finished or self.error is None:
                        raise ConnectionClosed(self.close_code, self.close_reason)
                    raise self.error
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(_wait(), timeout)
        except asyncio.TimeoutError:
            raise DeadlineExceeded(f"{self.url}: condition not met within {timeout}s") from None

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until the relay applied every change made here so far.

        The relay handles a connection's messages in order and answers a SyncStep1 with a SyncStep2,
        so once the answer to a SyncStep1 queued after our changes arrives, the changes are in the room
        (and with the room's other clients, e.g. the server's own copy of a notebook).
        """
        self._queue_step1()
        target = self._step1_sent
        await self.wait_for(lambda: self._step2_seen >= target, timeout)

    def _queue_step1(self) -> None:
        self._step1_sent += 1
        self._queue(bytes((_SYNC, _STEP1)) + var_uint8array(self.doc.get_state()))

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

    async def _send(self, channel: Channel) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._outgoing = self._outgoing, []
            for i, message in enumerate(batch):
                if message == b"":
                    return
                try:
                    await channel.send(message)
                except Exception:
                    self._outgoing[:0] = batch[i:]  # kept for the next connection's handshake to sort
                    if channel.close_code is None and not self._reconnect:
                        raise
                    return  # closed: the reader reports it

    def _on_doc_change(self, event: Any) -> None:
        if not self._applying and not self._down:
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

    async def _read(self, channel: Channel) -> None:
        try:
            while self._conflict is None:
                self._handle(await channel.recv())
                self._changed.set()
        except Exception:
            if channel.close_code is None and not isinstance(channel, WebsocketChannel):
                raise

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
                    self._step2_seen += 1
                    self._synced.set()
        elif kind == _AWARENESS:
            self.received.append((kind, None))
            data, _ = read_var_uint8array(message, 1)
            self.awareness.apply_awareness_update(data, "remote")
        elif kind == _CUSTOM:
            self.received.append((kind, None))
            text, _ = read_var_string(message, 1)
            try:
                notice = json.loads(text)
            except ValueError:
                log.debug("ignoring custom message %r", text[:40])
                return
            self.notices.append(notice)
            if isinstance(notice, dict) and notice.get("type") == "access":
                self.access = notice.get("access", "write")
            elif isinstance(notice, dict) and notice.get("type") == "conflict" and notice.get("reason") == "unknown_session":
                self._conflict = notice  # this copy belongs to an earlier load: fenced off the room
        else:
            self.received.append((kind, None))
