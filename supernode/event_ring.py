"""A bounded, numbered log of one feed's events, read by any number of subscribers at their own pace.

Each event gets the next sequence number (``seq``); the ring keeps the newest ones, at most
``max_events`` of them and about ``max_bytes`` of their JSON (the newest always stays). A subscriber
is only a cursor (the last ``seq`` it was given): it costs no memory of its own, and one too slow to
keep up simply finds its cursor older than the oldest event kept, and is told so (``behind``) instead
of making the server hold what it has not read.

``first`` numbers the first event: a feed starts at its creation time in microseconds (see
:mod:`supernode.notebook_feeds`), so a number of an earlier feed of the same notebook is always
older than any the new one kept, and is never mistaken for one of its own.

Events are JSON-encoded once when appended; transports write the text as it is.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Event", "EventRing"]


@dataclass(frozen=True)
class Event:
    """One event: ``seq``, ``type`` and ``data`` (its JSON text)."""

    seq: int
    type: str
    data: str

    @classmethod
    def of(cls, seq: int, type: str, data: dict[str, Any]) -> Event:
        return cls(seq, type, json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str))

    def sse(self) -> str:
        """The event as Server-Sent Events text (``data`` holds no newline: JSON escapes them)."""
        return f"id: {self.seq}\nevent: {self.type}\ndata: {self.data}\n\n"

    def message(self) -> str:
        """The event as one websocket text message: ``{"id", "event", "data"}``."""
        return f'{{"id":{self.seq},"event":{json.dumps(self.type)},"data":{self.data}}}'


class EventRing:
    """The newest events of one feed; see the module docstring."""

    def __init__(self, *, first: int, max_events: int, max_bytes: int) -> None:
        self.max_events = max(1, max_events)
        self.max_bytes = max_bytes
        self.head = first - 1  # seq of the newest event (first - 1 while there is none)
        self.floor = self.head  # every event after this one is kept
        self._events: deque[Event] = deque()
        self._bytes = 0
        self._changed: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._events)

    @property
    def size(self) -> int:
        """Bytes of JSON the kept events hold."""
        return self._bytes

    def append(self, type: str, data: dict[str, Any]) -> Event:
        """Number and keep a new event (the oldest go beyond the bounds); wake the subscribers."""
        event = Event.of(self.head + 1, type, data)
        self.head = event.seq
        self._events.append(event)
        self._bytes += len(event.data)
        while len(self._events) > 1 and (len(self._events) > self.max_events or self._bytes > self.max_bytes):
            gone = self._events.popleft()
            self._bytes -= len(gone.data)
            self.floor = gone.seq
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None
        return event

    def knows(self, seq: int) -> bool:
        """Whether a subscriber that was given ``seq`` can be given every event after it."""
        return self.floor <= seq <= self.head

    def after(self, seq: int, limit: int) -> list[Event] | None:
        """Up to ``limit`` events after ``seq``, oldest first; None if some of them are no longer kept."""
        if not self.knows(seq):
            return None
        if seq == self.head:
            return []
        start = seq - self._events[0].seq + 1  # events are numbered without gaps
        return [self._events[i] for i in range(start, min(start + limit, len(self._events)))]

    async def wait(self, seq: int, timeout: float) -> None:
        """Return once there is an event after ``seq``, or after ``timeout`` seconds."""
        if self.head > seq:
            return
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._changed), timeout)
        except asyncio.TimeoutError:
            pass

    async def follow(
        self, seq: int, *, idle: float, batch: int = 256, stop: asyncio.Event | None = None
    ) -> AsyncIterator[Event | None]:
        """Yield the events after ``seq`` as they come; None after every ``idle`` seconds without one (a
        heartbeat). Ends when the subscriber is behind (its next event is no longer kept: see
        :meth:`knows`), leaving it to the caller to resynchronise it, or when ``stop`` is set."""
        while stop is None or not stop.is_set():
            events = self.after(seq, batch)
            if events is None:
                return
            for event in events:
                yield event
                seq = event.seq
            if events:
                continue
            if stop is None:
                await self.wait(seq, idle)
            else:
                await _first(self.wait(seq, idle), stop.wait())
            if self.head == seq and (stop is None or not stop.is_set()):
                yield None


async def _first(*aws: Any) -> None:
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
