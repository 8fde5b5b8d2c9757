"""The document updates a room sends in one event-loop turn, held to its end and sent merged.

Hocuspocus merges each turn's updates per document before sending them; a recipient then
decodes one message instead of many (at 1 room x 100 clients, that is what sets the pace).
:class:`HeldUpdates` does the same for a room: :meth:`HeldUpdates.add` holds an update and
asks the :class:`~rtc_relay.outbox.Flusher` to call :meth:`HeldUpdates.send_held` at the end
of the turn, before the connections are written. One update goes out as it came (the
client's own message bytes); several go out as one update (pycrdt's ``merge_updates``),
framed once for every recipient. Updates the server's own writer makes are not merged. A merged echo holds the sender's edit, which is all
y-websocket 4 needs to count it confirmed.

The room calls :meth:`HeldUpdates.send_held` itself before it sends a message of another
kind (presence, a notice, a SyncStep2), so that each connection gets everything in the
order the room made it; and past ``MAX_HELD_BYTES`` in one turn.

Error handling: updates that pycrdt will not merge (they were applied to the room's
document, so this is not expected) are logged and sent one by one.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pycrdt import merge_updates

from .lib0 import var_uint, var_uint8array
from .outbox import LARGE
from .websocket import frame, frame_header

if TYPE_CHECKING:
    from .metrics import Metrics
    from .outbox import Flusher
    from .room import Peer, Room

__all__ = ["MAX_HELD_BYTES", "HeldUpdates", "sync_pieces", "update_pieces"]

log = logging.getLogger("rtc_relay.room")

MAX_HELD_BYTES = 1 << 20  # updates of one turn past this many bytes are sent at once
_SYNC, _SYNC_UPDATE = 0, 2  # sync message, update
_UPDATE_PREFIX = bytes((_SYNC, _SYNC_UPDATE))


def update_frame(update: bytes) -> bytes:
    """The websocket frame of the y-protocol update message holding ``update``."""
    return frame(_UPDATE_PREFIX + var_uint8array(update))


def update_pieces(update: bytes) -> bytes | tuple[bytes, bytes]:
    """:func:`update_frame`, or for an update of ``LARGE`` bytes or more the frame's head and the update
    itself, written one after the other (see :func:`sync_pieces`)."""
    if len(update) < LARGE:
        return update_frame(update)
    return sync_pieces(_SYNC_UPDATE, update)


def sync_pieces(kind: int, payload: bytes) -> bytes | tuple[bytes, bytes]:
    """The frame of the y-protocol sync message ``kind`` (SyncStep2, update) holding ``payload``; for a
    payload of ``LARGE`` bytes or more, the frame's head and the payload itself, written one after the
    other: a megabyte of outputs is not copied into a frame (each copy of that size is a fresh mapping
    of memory, faulted in page by page)."""
    if len(payload) < LARGE:
        return frame(bytes((_SYNC, kind)) + var_uint8array(payload))
    prefix = bytes((_SYNC, kind)) + var_uint(len(payload))
    return frame_header(len(prefix) + len(payload)) + prefix, payload


class HeldUpdates:
    """The updates ``room`` sends this loop turn: ``(update, the client's message or None, sender or None)``.

    With ``room.echo`` every subscriber gets them all; without, a sender gets the others' only.
    ``metrics.updates_out`` counts updates per recipient, ``metrics.messages_out`` frames.
    """

    __slots__ = ("_bytes", "_flusher", "_held", "_metrics", "_room")

    def __init__(self, room: Room, metrics: Metrics, flusher: Flusher) -> None:
        self._room = room
        self._metrics = metrics
        self._flusher = flusher
        self._held: list[tuple[bytes, bytes | None, Peer | None]] = []
        self._bytes = 0

    def __bool__(self) -> bool:
        return bool(self._held)

    def add(self, update: bytes, msg: bytes | None, sender: Peer | None) -> None:
        """Hold ``update`` (``msg``: the y-protocol message it came in, if any) until the end of the turn.

        Only clients' updates are merged: an update the server's own writer made (no ``msg``) sends what is
        held, then goes out as it is. (A merge of a merge-from-disk's updates with the ones the server wrote
        right after it, in the same turn, was seen not to reach a Yjs client in node whole.)
        """
        if not self._room.subscribers:
            return
        if msg is None:
            self.send_held()
            self._held.append((update, None, sender))
            self.send_held()
            return
        if not self._held:
            self._flusher.hold(self)
        self._held.append((update, msg, sender))
        self._bytes += len(update)
        if self._bytes >= MAX_HELD_BYTES:
            self.send_held()

    def send_held(self) -> None:
        """Queue what is held to the room's subscribers: one message, merged if there are several."""
        held, self._held = self._held, []
        self._bytes = 0
        room = self._room
        targets = room.subscribers
        if not held or not targets:
            return
        metrics = self._metrics
        if len(held) == 1:
            update, msg, sender = held[0]
            data = frame(msg) if msg is not None else update_pieces(update)
            metrics.updates_out += room.broadcast(data, None if room.echo else sender, targets)
            return
        merged = self._merge([update for update, _, _ in held])
        if merged is None:
            for update, _, sender in held:
                metrics.updates_out += room.broadcast(update_frame(update), None if room.echo else sender, targets)
            return
        senders = set() if room.echo else {sender for _, _, sender in held if sender is not None and sender in targets}
        if not senders:
            metrics.updates_out += len(held) * room.broadcast(merged, None, targets)
            return
        others = {peer: None for peer in targets if peer not in senders}
        metrics.updates_out += len(held) * room.broadcast(merged, None, others)
        for sender in senders:  # without echo: the others' updates of this turn, if any
            theirs = [update for update, _, by in held if by is not sender]
            data = self._merge(theirs) if len(theirs) > 1 else None
            if data is not None:
                room.broadcast(data, None, {sender: None})
            else:
                for update in theirs:
                    room.broadcast(update_frame(update), None, {sender: None})
            metrics.updates_out += len(theirs)

    def _merge(self, updates: list[bytes]) -> bytes | None:
        """``updates`` merged, as one framed update message; None if pycrdt would not merge them."""
        try:
            return update_frame(merge_updates(*updates))
        except Exception:
            log.exception("room %r: merging %d updates failed; they are sent one by one", self._room.name, len(updates))
            return None
