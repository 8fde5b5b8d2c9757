"""In-process clients of a room: the way a server-side peer (the supernode) joins rooms
without a socket.

A :class:`LocalChannel` speaks the same y-protocol messages as a websocket client
(it satisfies pycrdt's ``Channel`` protocol: ``send``, ``recv``, async iteration),
so the peer's code is the same whether the relay is in-process or remote.

Resource handling: messages from the room are queued without bound — the consumer
is in this process and runs on the same loop; a consumer that stops reading must
:meth:`close` the channel. Closing leaves the room.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from typing import TYPE_CHECKING

from .catalogue import CloseCode, RelayError

if TYPE_CHECKING:
    from .core import RelayCore
    from .room import Room

__all__ = ["ChannelClosed", "LocalChannel"]

_ids = itertools.count(1)


class ChannelClosed(Exception):
    """The room closed the channel (``code``, ``reason``), or the client did."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


def _payloads(frames: bytes):
    """Split concatenated server frames (as :func:`rtc_relay.websocket.frame` builds them) into payloads."""
    pos = 0
    end = len(frames)
    while pos < end:
        opcode = frames[pos] & 0x0F
        n = frames[pos + 1] & 0x7F
        head = pos + 2
        if n == 126:
            n = int.from_bytes(frames[pos + 2 : pos + 4], "big")
            head = pos + 4
        elif n == 127:
            n = int.from_bytes(frames[pos + 2 : pos + 10], "big")
            head = pos + 10
        pos = head + n
        if opcode == 0x2:  # pings and pongs mean nothing in-process
            yield frames[head:pos]


class _LocalPeer:
    """The room's side of a local channel (implements :class:`rtc_relay.room.Peer`)."""

    remote = False

    def __init__(self, channel: LocalChannel, label: str, keeps_room: bool) -> None:
        self._channel = channel
        self.label = label
        self.can_write = True
        self.keeps_room = keeps_room
        self.params: dict[str, str] = {}
        self.outbox: list[bytes] = []
        self.queued = False

    def send(self, data: bytes) -> None:
        self._channel._core.flusher.queue(self, data)

    def flush_outbox(self) -> None:
        if not self.outbox:
            return
        outbox, self.outbox = self.outbox, []
        channel = self._channel
        channel._inbox.extend(_payloads(outbox[0] if len(outbox) == 1 else b"".join(outbox)))
        channel._wake.set()

    def close(self, code: CloseCode, reason: str) -> None:
        self._channel._closed_by_room(int(code), reason)

    def attached(self) -> None:
        self._channel.ready.set()


class LocalChannel:
    """One in-process client of room ``name``. Created by :meth:`RelayCore.open_local`."""

    def __init__(self, core: RelayCore, name: str, *, label: str, keeps_room: bool) -> None:
        self._core = core
        self.path = name
        self.ready = asyncio.Event()  # set once the room admitted us
        self.close_code: int | None = None
        self.close_reason = ""
        self._inbox: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._peer = _LocalPeer(self, f"local #{next(_ids)} {label}", keeps_room)
        self._room: Room | None = core.rooms.join(name, self._peer)

    @property
    def room(self) -> Room | None:
        """The room, while the channel is in it (None once closed, or refused)."""
        return self._room if self.ready.is_set() else None

    @property
    def keeps_room(self) -> bool:
        return self._peer.keeps_room

    def keep_room(self, keep: bool) -> None:
        """Hold the room open (True) or let it be freed when no remote client is left (False)."""
        self._peer.keeps_room = keep
        if not keep and self._room is not None:
            self._core.rooms.check_idle(self._room)

    async def send(self, message: bytes) -> None:
        """Send one y-protocol message to the room (handled before this returns)."""
        if self._room is None:
            raise ChannelClosed(self.close_code or CloseCode.NORMAL, self.close_reason)
        await self.ready.wait()
        try:
            self._room.receive(self._peer, message)
        except RelayError as exc:
            self._closed_by_room(int(exc.code), exc.reason)
            raise ChannelClosed(int(exc.code), exc.reason) from None

    async def recv(self) -> bytes:
        """The next message from the room; raises :class:`ChannelClosed` once closed and drained."""
        while not self._inbox:
            if self._room is None:
                raise ChannelClosed(self.close_code or CloseCode.NORMAL, self.close_reason)
            self._wake.clear()
            await self._wake.wait()
        return self._inbox.popleft()

    async def run_until_closed(self) -> None:
        """Read and discard what the room sends until the channel closes.

        For a writer whose document the room uses itself (its policy's ``load`` returned it): such
        a member only holds the room, and its greeting and presence traffic need no answer.
        """
        async for _ in self:
            pass

    def __aiter__(self) -> LocalChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ChannelClosed:
            raise StopAsyncIteration from None

    async def close(self) -> None:
        """Leave the room."""
        room, self._room = self._room, None
        if room is not None:
            if self.close_code is None:
                self.close_code = CloseCode.NORMAL
            self._core.rooms.leave(room, self._peer)
        self.ready.set()
        self._wake.set()

    def _closed_by_room(self, code: int, reason: str) -> None:
        if self._room is None:
            return
        room, self._room = self._room, None
        self.close_code = code
        self.close_reason = reason
        self._core.rooms.leave(room, self._peer)
        self.ready.set()
        self._wake.set()
