"""A client's y-protocol messages in a room: each decoded and handled at once, before the next one.

:func:`receive` is :meth:`Room.receive <rtc_relay.room.Room.receive>` itself (bound in the class body, so a
message costs no call more than a method would); the other functions are its parts. Like methods, they take
the room first and read and write its state: its document, subscribers, held updates, history and store.

What a message does (the order is the room's sync rules, see :mod:`rtc_relay.room`):

* a refused client's message goes to the room's :class:`~rtc_relay.refusals.Refusals`;
* SyncStep1 is answered with SyncStep2 (what the client misses, with the updates the document holds back
  for missing dependencies; a state of 1 MiB or more goes out as two pieces, never copied), and
  from then on the client gets live updates; the updates held for this loop turn are sent first. A
  client with nothing, in a room with an in-process writer, gets the encoding made for an earlier such
  joiner and the writer's updates since, while nothing else changed the document
  (:class:`~rtc_relay.join_state.JoinState`);
* an update or SyncStep2 of a writer is applied, handed to the room's held updates (fanned out, echoed) and
  appended to the store; one of a client that skipped SyncStep1 first syncs it; one of a read-only client is
  dropped and counted, and the client is told once (a ``denied`` notice);
* awareness is applied, forwarded to every admitted connection (the sender too) and to the other relays;
  a query for awareness is answered with the presence known;
* a custom message (type 2) goes to the policy's ``on_custom`` first; a ``save`` it does not take is a
  save request (:class:`~rtc_relay.saves.SaveRequests`); any other is ignored.

Error handling: bytes that do not decode (truncated, trailing bytes, an unknown type, an update or state
vector pycrdt rejects) raise :class:`~rtc_relay.catalogue.RelayError` (4400). An observer of the room's
document that raises while a client's update is applied is the server's fault: the update still goes to the
other clients and the store, then the observer's error propagates (the connection closes with 1011), as
does any other exception (a policy hook).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from pycrdt import merge_updates

from .catalogue import CloseCode, RelayError
from .fanout import sync_pieces
from .lib0 import DecodeError, read_var_string, read_var_uint, read_var_uint8array, var_string, var_uint8array
from .websocket import frame

if TYPE_CHECKING:
    from .room import Peer, Room

__all__ = [
    "MSG_AWARENESS",
    "MSG_CUSTOM",
    "MSG_QUERY_AWARENESS",
    "MSG_SYNC",
    "SYNC_STEP1",
    "SYNC_STEP2",
    "SYNC_UPDATE",
    "receive",
]

log = logging.getLogger("rtc_relay.room")

MSG_SYNC = 0
MSG_AWARENESS = 1
MSG_CUSTOM = 2  # Jupyter's "raw" messages; y-websocket's auth messages
MSG_QUERY_AWARENESS = 3
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2
_EMPTY_UPDATE = b"\x00\x00"
_NOTHING = b"\x00"  # the state vector of a client that has nothing yet
# What pycrdt raises when an observer of a document raised while an update was applied.
try:
    _ObserverErrors: type[BaseException] = BaseExceptionGroup  # type: ignore[name-defined]
except NameError:  # pragma: no cover - Python 3.10: pycrdt raises the backport's group
    from exceptiongroup import BaseExceptionGroup as _ObserverErrors  # type: ignore[no-redef]


def receive(room: Room, peer: Peer, msg: bytes) -> None:
    """Handle one y-protocol message from ``peer``.

    Raises :class:`RelayError` (4400) when the client's bytes do not decode. Any other exception
    is a fault on the server's side (a policy hook, an observer of the room's document) and
    propagates: the connection closes with 1011 and logs it, the client is not blamed.
    """
    try:
        if room._refusals and peer in room._refusals:
            room._refusals.receive(peer, msg)
            return
        if not msg:
            raise DecodeError("truncated message")
        kind = msg[0]
        if kind == MSG_SYNC:
            if len(msg) < 2:
                raise DecodeError("truncated message")
            sub = msg[1]
            data, end = read_var_uint8array(msg, 2)
            if end != len(msg):
                raise DecodeError(f"{len(msg) - end} trailing bytes after a sync message")
            if sub == SYNC_UPDATE or sub == SYNC_STEP2:
                _update(room, peer, data, msg if sub == SYNC_UPDATE else None)
            elif sub == SYNC_STEP1:
                _sync(room, peer, data)
            else:
                raise DecodeError(f"unknown sync message type {sub}")
        elif kind == MSG_AWARENESS:
            data, end = read_var_uint8array(msg, 1)
            if end != len(msg):
                raise DecodeError(f"{len(msg) - end} trailing bytes after an awareness message")
            room.awareness.apply(peer, data)
            room._metrics.awareness_in += 1
            room.broadcast(frame(msg), None)
            if room._bus is not None:
                room._bus.publish_awareness(room.name, data)
            room._presence_changed()
        elif kind == MSG_CUSTOM:
            _custom(room, peer, msg)
        elif kind == MSG_QUERY_AWARENESS:
            states = room.awareness.encode_all()
            if states is not None:
                peer.send(frame(bytes((MSG_AWARENESS,)) + var_uint8array(states)))
        else:
            raise DecodeError(f"unknown message type {kind}")
    except DecodeError as exc:
        raise RelayError(CloseCode.BAD_MESSAGE, str(exc)) from None


def _sync(room: Room, peer: Peer, state_vector: bytes) -> None:
    if room._updates:  # they go to the subscribers before this one joins them (its SyncStep2 has them)
        room._updates.send_held()
    direct = room.direct
    join_state = direct.join_state if direct is not None and state_vector == _NOTHING and direct.following else None
    pending = room.history.pending()
    parts = join_state.parts() if join_state is not None and not pending else None
    if parts is not None:  # the document as encoded for an earlier joiner, and the writer's updates since
        _send(peer, SYNC_STEP2, parts[0])
        for update in parts[1:]:
            _send(peer, SYNC_UPDATE, update)
        room._metrics.joins_from_kept_state += 1
    else:
        try:
            missing = room.doc.get_update(state_vector)
        except Exception as exc:
            raise DecodeError(f"state vector does not decode ({exc})") from None
        if pending:  # what Yrs holds back for missing dependencies travels too
            missing = merge_updates(missing, *pending)
        elif join_state is not None:
            join_state.seed(missing)
        _send(peer, SYNC_STEP2, missing)
    room.subscribers[peer] = None
    if direct is not None and peer.remote:
        direct.client_synced.set()


def _send(peer: Peer, kind: int, payload: bytes) -> None:
    """A sync message of ``kind`` carrying ``payload`` (one of 1 MiB or more as two pieces: no copy)."""
    pieces = sync_pieces(kind, payload)
    if type(pieces) is tuple:
        for piece in pieces:
            peer.send(piece)
    else:
        peer.send(pieces)


def _update(room: Room, peer: Peer, update: bytes, msg: bytes | None) -> None:
    if not peer.can_write:
        room._metrics.updates_dropped_readonly += 1
        if peer not in room._denied:  # told once per connection; later drops are only counted
            room._denied[peer] = None
            log.info("%s: read-only in room %r, its document updates are dropped", peer.label, room.name)
            room.notify(
                peer, {"type": "denied", "room": room.name, "reason": "read-only: document updates are dropped"}
            )
        return
    if peer not in room.subscribers:
        # A client that skipped SyncStep1: give it the state before it gets live updates.
        _sync(room, peer, b"\x00")
    if update == _EMPTY_UPDATE:
        return
    doc = room.doc
    before = doc.get_state()
    observer_failed: BaseException | None = None
    room.applying = True
    try:
        doc.apply_update(update)
    except _ObserverErrors as exc:
        # An observer of the document (the server's code) raised; the update is in the document,
        # so it still goes to the other clients and the store before the fault is reported.
        observer_failed = exc
    except Exception as exc:
        raise DecodeError(f"update does not decode ({exc})") from None
    finally:
        room.applying = False
    if doc.get_state() == before:
        room.history.unsettled(update)
    room._metrics.updates_in += 1
    room._updates.add(update, msg, peer)  # a SyncStep2 (msg None) travels on as an update
    if room.policy.persist:
        room._store.append(room.name, update)
        room.history.grew(update)
    if observer_failed is not None:
        raise observer_failed


def _custom(room: Room, peer: Peer, msg: bytes) -> None:
    text, pos = read_var_string(msg, 1)

    def reply(notice: dict) -> None:
        if peer in room.peers:
            peer.send(frame(bytes((MSG_CUSTOM,)) + var_string(json.dumps(notice))))

    save_id = read_var_uint(msg, pos)[0] if text == "save" else 0  # the client's bytes checked here
    if room.policy.on_custom(room.name, text, msg[pos:], reply, peer.can_write):
        return
    if text == "save":
        room._saves.request(peer, save_id)
    else:
        log.debug("room %r: ignoring custom message %r from %s", room.name, text[:40], peer.label)
