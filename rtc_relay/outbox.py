"""Batching of outgoing frames: one write per connection per event-loop turn.

Rooms append framed messages to each recipient's ``outbox`` and list the recipient
in :attr:`Flusher.pending`; :meth:`Flusher.arm` schedules one flush at the end of
the current loop turn. The flush writes each connection's whole outbox with a
single ``transport.write``. A burst of N updates thus costs each recipient one
system call instead of N — the reason this relay outpaces a per-frame relay.

A room may also hold the document updates of the loop turn back, to send them merged
(:meth:`Flusher.hold`): the flush first asks each such room to queue them
(``send_held()``), then writes the connections.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["LARGE", "SLOW_CONSUMER_GRACE", "Flusher", "coalesce"]

# Seconds a client dropped as a slow consumer has to read up to its close frame (4429) before its
# TCP connection is dropped: what it left unread stays in memory until then.
SLOW_CONSUMER_GRACE = 5.0

# A piece at least this large is written on its own rather than copied into one buffer.
LARGE = 1 << 20  # bytes from which a piece is written on its own rather than copied into a join


def coalesce(outbox: list[bytes]) -> list[bytes]:
    """The outbox as few buffers to write: one, unless a large piece is better left uncopied."""
    if len(outbox) == 1:
        return [outbox[0]]
    if all(len(piece) < LARGE for piece in outbox):
        return [b"".join(outbox)]
    return list(outbox)


class _Flushable(Protocol):
    queued: bool

    def flush_outbox(self) -> None: ...


class _Holder(Protocol):
    def send_held(self) -> None: ...


class Flusher:
    """Collects connections with queued frames and flushes them once per loop turn."""

    __slots__ = ("_armed", "_holders", "_loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._armed = False
        self.pending: list[_Flushable] = []
        self._holders: list[_Holder] = []

    def queue(self, conn: _Flushable, data: bytes) -> None:
        """Append one framed message to ``conn``'s outbox; it is written at the end of this loop turn."""
        conn.outbox.append(data)  # type: ignore[attr-defined]
        if not conn.queued:
            conn.queued = True
            self.pending.append(conn)
            self.arm()

    def arm(self) -> None:
        """Make sure a flush runs at the end of this loop turn."""
        if not self._armed:
            self._armed = True
            self._loop.call_soon(self._flush)

    def hold(self, holder: _Holder) -> None:
        """Call ``holder.send_held()`` at the end of this loop turn, before the connections are written
        (the holder calls this once per turn: when it starts holding something)."""
        self._holders.append(holder)
        self.arm()

    def _flush(self) -> None:
        self._armed = False
        if self._holders:
            holders, self._holders = self._holders, []
            for holder in holders:
                holder.send_held()
        pending, self.pending = self.pending, []
        for conn in pending:
            conn.queued = False
            conn.flush_outbox()
