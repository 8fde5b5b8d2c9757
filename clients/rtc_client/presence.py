"""Presence in a room: who is there and what they show (the y-protocols awareness states).

A state is any JSON object a client publishes; JupyterLab publishes ``user`` (``name``,
``display_name``, ``color`` …), cursors and ``autosave``. States of clients that leave, or whose
connection drops, disappear.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .room import RoomClient

__all__ = ["Presence"]


class Presence:
    """The presence of one room, seen through ``room`` (a :class:`~rtc_client.room.RoomClient`)."""

    def __init__(self, room: RoomClient) -> None:
        self._room = room

    @property
    def client_id(self) -> int:
        """Our own awareness client id."""
        return self._room.awareness.client_id

    @property
    def states(self) -> dict[int, dict[str, Any]]:
        """Every client's state by client id, ours included (a copy)."""
        return {cid: state for cid, state in self._room.awareness.states.items() if state}

    @property
    def others(self) -> dict[int, dict[str, Any]]:
        """The states of the other clients."""
        return {cid: state for cid, state in self.states.items() if cid != self.client_id}

    def set(self, state: dict[str, Any] | None) -> None:
        """Publish our state (``None`` withdraws it); sent at once."""
        self._room.awareness.set_local_state(state)

    async def follow(self) -> AsyncIterator[dict[int, dict[str, Any]]]:
        """Yield the current :attr:`states`, then again after every change (the latest wins: a slow
        consumer skips intermediate snapshots, never the last one). Ends when the room closes for good."""
        changed = asyncio.Event()

        def on_change(topic: str, _changes: Any) -> None:
            if topic == "change":
                changed.set()

        sub = self._room.awareness.observe(on_change)
        try:
            last: dict[int, dict[str, Any]] | None = None
            while True:
                current = self.states
                if current != last:
                    last = current
                    yield current
                if self._room.closed.is_set():
                    return
                closed = asyncio.ensure_future(self._room.closed.wait())
                waiter = asyncio.ensure_future(changed.wait())
                try:
                    await asyncio.wait((closed, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for fut in (closed, waiter):
                        fut.cancel()
                changed.clear()
        finally:
            self._room.awareness.unobserve(sub)
