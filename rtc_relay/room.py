"""A room: one shared document, the connections in it, and their presence.

The room speaks the y-protocols on behalf of the relay. It never touches a socket:
it hands framed bytes to :class:`Peer` objects (the connections), which batch and
write them. Everything here runs synchronously on the event loop, so a message is
fully handled — applied, fanned out, queued for the store — before the next one.
A client's messages are decoded and handled by :mod:`rtc_relay.room_messages`
(:meth:`Room.receive`), which follows the sync rules below.

Sync rules (the order matters for correctness):

* On attach the room sends its SyncStep1 (its state vector) and the known
  presence; the client answers with SyncStep2 carrying what only it has.
* A client's SyncStep1 is answered with SyncStep2 (what it misses) and, from that
  moment, the client receives live updates. Both happen in one step, so a late
  joiner gets the full state before any live update and never misses one.
* Updates (and SyncStep2) are applied to the room's document, fanned out to the
  other subscribed connections as one frame built once, and appended to the store.
  The updates of one event-loop turn are held back to its end and sent merged into one
  update (as Hocuspocus does): each recipient decodes one message instead of many. A
  message of another kind the room sends (presence, a notice, a SyncStep2) first sends
  what is held, so each connection still gets everything in the order the room made it.
  With ``echo`` (the relay's default, as the reference y-websocket server does) the same
  frame also goes back to the sender: y-websocket 4 counts a local edit as confirmed only
  once an update holding it comes back; without, the sender never gets its own update
  back. Updates of a read-only connection are dropped (counted, never applied, broadcast,
  stored or echoed).
* Awareness is forwarded to every connection of the room, the sender included.
* A refused client may be *fenced* instead of closed (a :class:`~rtc_relay.policy.Refusal` with a
  notice, once the policy kept its document): it stays connected, told by the notice, and nothing
  of the document flows either way; its save request closes it.
* With a bus (scale-out through Redis), the room's awareness also goes to the other relays, and
  their updates and awareness come in through :meth:`Room.apply_remote` and
  :meth:`Room.apply_remote_awareness`: fanned out to every local connection, never stored again
  (the relay that accepted an update stored it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pycrdt import Doc

from . import room_messages
from .awareness import Awareness
from .fanout import HeldUpdates
from .catalogue import CloseCode, close_reason
from .lib0 import var_string, var_uint8array
from .policy import Refusal, RoomPolicy
from .refusals import Refusals
from .renewal import PresenceRenewal
from .room_history import RoomHistory
from .room_messages import MSG_AWARENESS, MSG_CUSTOM, MSG_SYNC, SYNC_STEP1
from .saves import SaveRequests
from .store import StoreUnavailable
from .websocket import frame

if TYPE_CHECKING:
    from .metrics import Metrics
    from .outbox import Flusher
    from .store import Store
    from rtc_common.tasks import TaskSet

__all__ = ["Peer", "Room"]

# The catalogue's close codes: a load that failed with one of them as its ``close_code`` (a policy's
# RoomLoadError: a file gone, or unreadable) closes the room's joiners with it; any other, with ROOM_ERROR.
_CODES = frozenset(int(code) for code in CloseCode)


class Bus(Protocol):
    """Where a room's presence goes beyond this relay (the Redis :class:`~rtc_relay.cluster.Cluster`)."""

    def publish_awareness(self, room: str, update: bytes) -> None:
        """Send an awareness update of ``room`` to the other relays."""


class Peer(Protocol):
    """What a room needs of a connection.

    ``remote``: a client over the network (counted as a client); ``keeps_room``: while
    this peer is a member the room is not freed; ``params``: the query parameters
    it connected with (the policy's admission looks at them).
    """

    label: str
    can_write: bool
    remote: bool
    keeps_room: bool
    params: Mapping[str, str]
    outbox: list[bytes]
    queued: bool

    def send(self, data: bytes) -> None:
        """Queue one framed message."""

    def close(self, code: CloseCode, reason: str) -> None:
        """Close the connection with a catalogued code."""

    def attached(self) -> None:
        """The room is ready and has admitted the peer (resume reading)."""


class Room:
    """One document and its connections. Created and freed by the :class:`RoomManager`.

    ``ready`` resolves once the room is loaded; ``failed`` then holds the error if
    loading failed. ``members`` are the peers that joined (admitted, refused, or
    waiting for ``ready``); ``peers`` those admitted (they get presence);
    ``subscribers`` those that receive live updates.
    """

    def __init__(
        self,
        name: str,
        *,
        policy: RoomPolicy,
        store: Store,
        metrics: Metrics,
        flusher: Flusher,
        tasks: TaskSet,
        compact_after_bytes: int,
        bus: Bus | None = None,
        presence_renewal: float = 0.0,
        echo: bool = False,
    ) -> None:
        self.name = name
        self.echo = echo
        self.doc = Doc()
        self.awareness = Awareness()
        self.policy = policy
        self.members: dict[Peer, None] = {}
        self.peers: dict[Peer, None] = {}
        self.subscribers: dict[Peer, None] = {}
        self._refusals = Refusals(self)  # refused clients not closed yet (recovering, or fenced)
        self._denied: dict[Peer, None] = {}  # read-only peers already told their updates are dropped
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.failed: BaseException | None = None
        self.cleanup: asyncio.TimerHandle | None = None
        self._store = store
        self._metrics = metrics
        self._flusher = flusher
        self._tasks = tasks
        self._bus = bus
        self._renewal = PresenceRenewal(self.awareness, self.peers, presence_renewal)
        # What the store holds of the room since its last snapshot (the updates that did not advance the
        # document's state included), and its compaction.
        self.history = RoomHistory(name, store, lambda: self.doc, compact_after_bytes=compact_after_bytes)
        # The room is applying a client's update to its document (a direct connection does not echo it).
        self.applying = False
        self.direct: Peer | None = None  # the in-process writer's DirectConnection, if one is attached
        self._updates = HeldUpdates(self, metrics, flusher)  # the loop turn's updates, sent merged at its end
        self._saves = SaveRequests(name, store, tasks, lambda peer: peer in self.peers)

    def __repr__(self) -> str:
        return f"<Room {self.name!r} members={len(self.members)}>"

    # -- lifecycle -------------------------------------------------------------

    def load(self, initial: bytes | Doc | None, stored: list[bytes]) -> None:
        """Build the document (called once, before ``ready``).

        ``initial`` is the policy's content (complete, nothing pending), ``stored``
        the store's updates, which may hold updates still waiting for dependencies.
        A :class:`~pycrdt.Doc` as ``initial`` is an in-process writer's document: the
        room uses it as its own; the writer's :class:`~rtc_relay.direct.DirectConnection`
        sends what it changes in it to the room's clients (:meth:`publish`).
        """
        if isinstance(initial, Doc):
            self.doc = initial
            initial = None
        self.applying = True
        try:
            with self.doc.transaction():
                if initial:
                    self.doc.apply_update(initial)
                for update in stored:
                    self.doc.apply_update(update)
        finally:
            self.applying = False
        self.history.loaded(stored)

    def publish(self, update: bytes) -> None:
        """An update an in-process writer made to the room's document: send it to every client, store it.

        Called by the writer's :class:`~rtc_relay.direct.DirectConnection` inside the transaction's
        commit: it only queues bytes (a compaction it makes due runs on the next loop turn).
        """
        self._metrics.updates_in += 1
        self._updates.add(update, None, None)
        if self.policy.persist:
            self.history.append(update)

    def compact(self) -> None:
        """Replace the room's stored history by one snapshot of its document (see :class:`RoomHistory`)."""
        self.history.compact()

    def snapshot(self) -> bytes:
        """The whole document as one update, with the updates still waiting for dependencies."""
        return self.history.snapshot()

    def compacted_elsewhere(self) -> None:
        """Another relay compacted the shared log: the history counted here is in its snapshot."""
        self.history.compacted_elsewhere()

    @property
    def has_history(self) -> bool:
        """True when updates were stored since the last snapshot."""
        return self.history.has_history

    def join(self, peer: Peer) -> None:
        """Admit ``peer``: now if the room is ready, else as soon as it is."""
        self.members[peer] = None
        if self.ready.done():
            self._admit(peer)
        else:
            self.ready.add_done_callback(lambda _: self._admit(peer))

    @property
    def remote_members(self) -> int:
        return sum(1 for peer in self.members if peer.remote)

    @property
    def kept(self) -> bool:
        """Whether a member holds the room open."""
        return any(peer.keeps_room for peer in self.members)

    def _admit(self, peer: Peer) -> None:
        if peer not in self.members:
            return  # left while the room was loading
        if self.failed is not None:
            code = getattr(self.failed, "close_code", None)
            if code in _CODES:
                peer.close(CloseCode(code), close_reason(str(getattr(self.failed, "reason", ""))))
            elif isinstance(self.failed, StoreUnavailable):
                peer.close(CloseCode.ROOM_ERROR, "the room's store cannot be read now; try again")
            else:
                peer.close(CloseCode.ROOM_ERROR, "the room could not be loaded")
            return
        if getattr(peer, "direct", False):
            # An in-process writer: it reads the document itself, and takes no part in the protocol.
            if self.direct is not None:
                peer.close(CloseCode.INTERNAL_ERROR, "the room has a direct connection already")
                return
            self.direct = peer
            peer.attached()
            return
        refusal = self.policy.admit(self.name, peer.params)
        if refusal is not None:
            self._refusals.refuse(peer, Refusal(*refusal))
            return
        if peer.remote and not getattr(self.policy, "remote_writes", True):
            peer.can_write = False
        self.peers[peer] = None
        peer.send(frame(bytes((MSG_SYNC, SYNC_STEP1)) + var_uint8array(self.doc.get_state())))
        states = self.awareness.encode_all()
        if states is not None:
            peer.send(frame(bytes((MSG_AWARENESS,)) + var_uint8array(states)))
            self._renewal.joined(peer)
        if not peer.can_write:
            self.notify(peer, {"type": "access", "access": "read", "room": self.name})
        peer.attached()

    def notify(self, peer: Peer, notice: Mapping[str, object]) -> None:
        """Send ``notice`` (a JSON object) to ``peer`` alone, as a custom message (type 2).

        The notices the relay itself sends are in ``schema/relay-notice.json``; a policy or an in-process
        writer may send others the clients understand (``{"type": "conflict"}``: JupyterLab's Edit
        Conflict dialog). Never forwarded to anyone else.
        """
        if self._updates:
            self._updates.send_held()
        peer.send(frame(bytes((MSG_CUSTOM,)) + var_string(json.dumps(notice))))

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """Run ``coro`` as a task of the relay (its failure stays in this room)."""
        self._tasks.spawn(coro, name=name)

    def release_fenced(self, match: Callable[[Peer], bool]) -> int:
        """Close the fenced clients ``match`` accepts (see :meth:`rtc_relay.refusals.Refusals.release_fenced`)."""
        return self._refusals.release_fenced(match)

    def count_dropped(self, update: bool) -> None:
        """A document update a connection may not make was dropped (read-only, or fenced)."""
        self._metrics.updates_dropped_readonly += update

    def leave(self, peer: Peer) -> bool:
        """Remove ``peer``; announce its presence gone. Returns True when nobody holds the room open."""
        if self.members.pop(peer, False) is not False:
            if peer is self.direct:
                self.direct = None
            self._renewal.left(peer)
            self.peers.pop(peer, None)
            self.subscribers.pop(peer, None)
            self._denied.pop(peer, None)
            self._refusals.forget(peer)
            gone = self.awareness.remove_owner(peer)
            if gone is not None:
                self.broadcast(frame(bytes((MSG_AWARENESS,)) + var_uint8array(gone)), None)
                if self._bus is not None:
                    self._bus.publish_awareness(self.name, gone)
                self._presence_changed()
        return not self.kept

    # -- messages ----------------------------------------------------------------

    # Room.receive(peer, msg): handle one y-protocol message from ``peer`` (see :mod:`rtc_relay.room_messages`).
    # The function is the method itself: the hot path has no call in between.
    receive = room_messages.receive

    # -- other relays (scale-out) ------------------------------------------------------

    def apply_remote(self, update: bytes) -> None:
        """An update another relay accepted (read from the shared log): apply it and send it to every
        subscribed connection. It is already stored, but counts towards the next compaction.
        Raises if the update does not decode (the caller logs and skips it)."""
        doc = self.doc
        before = doc.get_state()
        self.applying = True
        try:
            doc.apply_update(update)
        finally:
            self.applying = False
        if doc.get_state() == before:
            self.history.unsettled(update)
        self._updates.add(update, None, None)
        self.history.grew(update)

    def apply_remote_awareness(self, origin: bytes, update: bytes) -> None:
        """An awareness update from another relay (``origin``: its id): remember it for late joiners
        and send it to every local connection. Raises :class:`DecodeError` if it does not decode."""
        self.awareness.apply(f"relay:{origin.hex()}", update)
        self.broadcast(frame(bytes((MSG_AWARENESS,)) + var_uint8array(update)), None)
        self._presence_changed()

    def _presence_changed(self) -> None:
        """Tell the in-process writer that the room's presence changed (it reads it with ``presence()``)."""
        if self.direct is not None:
            self.direct.presence_changed()  # type: ignore[attr-defined]  # the direct peer is a DirectConnection

    def local_awareness(self) -> bytes | None:
        """An awareness update holding the states of this relay's connections (None if none)."""
        return self.awareness.encode_all(lambda owner: not isinstance(owner, str))

    def broadcast(
        self, data: bytes | tuple[bytes, ...], sender: Peer | None, targets: dict[Peer, None] | None = None
    ) -> int:
        """Queue ``data`` (one framed message: a buffer, or pieces written one after the other) to every
        subscriber but ``sender`` (every admitted peer when sender is None), or to every one of
        ``targets``; the updates held are sent first (:class:`HeldUpdates`)."""
        if self._updates:
            self._updates.send_held()
        if targets is None:
            targets = self.subscribers if sender is not None else self.peers
        pending = self._flusher.pending
        count = 0
        for peer in targets:
            if peer is not sender:
                if type(data) is tuple:
                    peer.outbox.extend(data)
                else:
                    peer.outbox.append(data)
                if not peer.queued:
                    peer.queued = True
                    pending.append(peer)
                count += 1
        if count:
            self._flusher.arm()
            self._metrics.messages_out += count
        return count
