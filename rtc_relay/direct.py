"""The direct connection: a server-side writer of a room, in the relay's own process, with no socket.

A writer (the supernode's live document, its shared tables) works on the room's document
itself: its policy's :meth:`~rtc_relay.policy.RoomPolicy.load` returned that
:class:`pycrdt.Doc`, so there is one copy in memory. The writer then opens a
:class:`DirectConnection` to the room (:meth:`RelayCore.open_direct`), which

* **observes** the document once the room is loaded: every transaction the writer commits
  goes to the room's clients (and to the store, for a stored room) as one update; the
  clients' updates, which the room applies to the same document, are not echoed back;
* **holds** the room: while any hold is set (:meth:`hold`, with a reason such as
  ``"execution queued"``), the room stays in memory with no client in it;
* **ends** when the writer closes it or the relay frees the room: it stops observing, and
  ``closed`` is set with ``close_code``/``close_reason`` saying why.

The writer may also take part in the room's **presence**: :meth:`set_presence` publishes an awareness
state for a client id of its own (a server-side collaborator, e.g. an agent acting through the server),
and :meth:`presence` reads the states of everyone in the room. Its states go when it closes.
:meth:`watch_presence` calls back after every change of the room's presence (a client's state set,
changed or gone, here or on another relay), so a writer that projects presence need not poll.

A room has at most one direct connection at a time (two would send each transaction twice).
Whether an idle room may be freed is also asked of its policy
(:meth:`~rtc_relay.policy.RoomPolicy.keep`): a save in flight keeps it without a hold.

Resource handling: ``async with relay.open_direct(name) as conn:`` waits until the room is
loaded and closes the connection on exit; or :meth:`ready` and :meth:`close`.
Error handling: a room that fails to load closes the connection with the load error's code;
:meth:`ready` then raises :class:`~rtc_relay.local.ChannelClosed`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from pycrdt import Doc, Subscription, TransactionEvent

from .catalogue import CloseCode
from .join_state import JoinState
from .lib0 import var_string, var_uint, var_uint8array
from .local import ChannelClosed

if TYPE_CHECKING:
    from .core import RelayCore
    from .room import Room

__all__ = ["DirectConnection"]

log = logging.getLogger("rtc_relay.direct")

_ids = itertools.count(1)
_EMPTY_UPDATE = b"\x00\x00"
_MSG_AWARENESS = 1


class DirectConnection:
    """An in-process writer of room ``name`` (see the module docstring). Created by :meth:`RelayCore.open_direct`."""

    remote = False
    direct = True

    def __init__(self, core: RelayCore, name: str, *, label: str) -> None:
        self.name = name
        self.label = f"direct #{next(_ids)} {label}"
        self.can_write = True
        self.params: dict[str, str] = {}
        self.outbox: list[bytes] = []
        self.queued = False
        self.close_code: int | None = None
        self.close_reason = ""
        self.closed = asyncio.Event()
        self._loaded = asyncio.Event()
        self.client_synced = asyncio.Event()  # set once the room sent its document to a remote client
        self._holds: Counter[str] = Counter()
        self._clocks: dict[int, int] = {}  # awareness clock of each client id whose presence we published
        self._watchers: dict[int, Callable[[], None]] = {}  # presence watchers by registration number
        self._shown: set[int] = set()  # those whose state is shown now
        self._core = core
        self._subscription: Subscription | None = None
        # What a client joining with nothing is sent, kept while only the writer changes the document.
        self.join_state = JoinState()
        self._room: Room | None = core.rooms.open(name)  # set first: a loaded room admits (or refuses) at once
        core.rooms.join(name, self)

    def __repr__(self) -> str:
        return f"<DirectConnection {self.label!r} room={self.name!r} holds={dict(self._holds)}>"

    async def __aenter__(self) -> DirectConnection:
        try:
            await self.ready()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def doc(self) -> Doc:
        """The room's document (the writer's own, when its policy's load returned it)."""
        if self._room is None:
            raise ChannelClosed(self.close_code or CloseCode.NORMAL, self.close_reason)
        return self._room.doc

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the room is loaded. Raises ChannelClosed if it could not be (or the connection closed)."""
        await asyncio.wait_for(self._loaded.wait(), timeout)
        if self._room is None:
            raise ChannelClosed(self.close_code or CloseCode.NORMAL, self.close_reason)

    # -- holds -------------------------------------------------------------------------------

    @property
    def keeps_room(self) -> bool:
        return bool(self._holds)

    @keeps_room.setter
    def keeps_room(self, keep: bool) -> None:  # the relay clears every hold when it stops
        if not keep:
            self._holds.clear()

    @property
    def holds(self) -> dict[str, int]:
        """Why the room is held: reason → how many times."""
        return dict(self._holds)

    def hold(self, reason: str) -> None:
        """Keep the room in memory, even with no client, until :meth:`release` with the same reason."""
        self._holds[reason] += 1
        if self._room is not None and self._room.cleanup is not None:
            self._room.cleanup.cancel()
            self._room.cleanup = None

    def release(self, reason: str) -> None:
        """Undo one :meth:`hold` with ``reason``; with no hold left, the room may be freed once idle."""
        if self._holds[reason] <= 0:
            raise ValueError(f"{self.label}: no hold {reason!r} to release")
        self._holds[reason] -= 1
        if not self._holds[reason]:
            del self._holds[reason]
        self.idle_check()

    def idle_check(self) -> None:
        """Let the relay free the room now if nothing holds it (e.g. after a save its policy waited for)."""
        if self._room is not None and not self._holds:
            self._core.rooms.check_idle(self._room)

    # -- telling the clients -------------------------------------------------------------------

    def notify(self, notice: dict, editors: Collection[int] | None = None) -> int:
        """Send ``notice`` (a JSON object) as a custom message to clients of the room that may write
        (e.g. ``{"type": "conflict"}``: JupyterLab's Edit Conflict dialog); returns how many were told.

        For what the writer did to their edits (a merge from disk that set typed text aside). With
        ``editors`` (Yjs client ids), only the connections whose presence is one of those clients are
        told, and those that show no presence (nothing says they did not edit); without, every writer.
        Clients of the room that are refused or fenced are not told.
        """
        room = self._room
        if room is None:
            return 0
        targets = [peer for peer in room.peers if peer.remote and peer.can_write]
        if editors is not None:
            owners = room.awareness.owners()
            chosen = {room.awareness.owner_of(client) for client in editors}
            targets = [peer for peer in targets if peer in chosen or peer not in owners]
        for peer in targets:
            room.notify(peer, notice)
        return len(targets)

    # -- presence --------------------------------------------------------------------------------

    def presence(self, *, writers_only: bool = False) -> dict[int, dict]:
        """The awareness state of every client in the room (ours included), by Yjs client id; states that are
        not JSON objects are left out. ``writers_only``: only those of connections that may write the room
        (ours, and those of other relays, whose writers they checked), not those of read-only readers."""
        room = self._room
        if room is None:
            return {}
        states = {}
        for client, text in room.awareness.states().items():
            if writers_only and not getattr(room.awareness.owner_of(client), "can_write", True):
                continue
            try:
                state = json.loads(text)
            except ValueError:
                continue
            if isinstance(state, dict):
                states[client] = state
        return states

    def watch_presence(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` after every change of the room's presence; returns the function that stops it.

        It runs inside the relay's handling of an awareness message: it must be quick and must not raise
        (an exception is logged and goes no further); read the states with :meth:`presence`.
        """
        key = next(_ids)
        self._watchers[key] = callback

        def unwatch() -> None:
            self._watchers.pop(key, None)

        return unwatch

    def presence_changed(self) -> None:
        """The room's presence changed (called by the room): tell the watchers."""
        for callback in list(self._watchers.values()):
            try:
                callback()
            except Exception:
                log.exception("room %r: a presence watcher of %s failed", self.name, self.label)

    def set_presence(self, client: int, state: dict | None) -> None:
        """Publish ``state`` as the presence of Yjs client ``client`` (a client id of the writer's own, not used
        by anyone else), or withdraw it (None). Sent to every client of the room (and the other relays) as if
        a client had sent it, with the next clock; states are renewed by calling again (clients drop a state
        not renewed within 30 s). A no-op once the connection is closed."""
        room = self._room
        if room is None:
            return
        if state is None and client not in self._shown:
            return
        clock = self._clocks[client] = self._clocks.get(client, 0) + 1  # kept after a withdrawal: clocks only grow
        if state is None:
            self._shown.discard(client)
        else:
            self._shown.add(client)
        text = "null" if state is None else json.dumps(state)
        update = var_uint(1) + var_uint(client) + var_uint(clock) + var_string(text)
        room.receive(self, bytes((_MSG_AWARENESS,)) + var_uint8array(update))

    @property
    def following(self) -> bool:
        """Whether the connection follows the room's document (it is loaded, and not left)."""
        return self._room is not None and self._subscription is not None

    def apply(self, update: bytes, *, held: bool = False) -> None:
        """Apply ``update``, an update made elsewhere (a stage of a document loaded in stages), to the
        room's document and send those very bytes to every client: the same as a transaction of the
        writer's, without encoding the update again (a megabyte of outputs would be encoded twice).
        ``held``: the writer keeps these bytes anyway (see :meth:`JoinState.grew`).
        Raises what ``apply_update`` raises for bytes that are no update (nothing is sent then)."""
        room = self._room
        if room is None or self._subscription is None:
            raise RuntimeError(f"{self.label} does not follow a loaded room")
        doc = room.doc
        doc.unobserve(self._subscription)
        try:
            doc.apply_update(update)
        except BaseException:
            self.join_state.stale()  # (an observer may have failed after it was applied)
            raise
        finally:
            self._subscription = doc.observe(self._committed)
        self.join_state.grew(update, held=held)
        room.publish(update)

    # -- the room's side (rtc_relay.room.Peer) ----------------------------------------------------

    def attached(self) -> None:
        """The room is loaded: follow the writer's transactions on its document."""
        room = self._room
        assert room is not None
        self._subscription = room.doc.observe(self._committed)
        self._loaded.set()

    def send(self, data: bytes) -> None:
        return None  # a direct connection reads the document itself, never the protocol

    def flush_outbox(self) -> None:
        self.outbox.clear()

    def close(self, code: CloseCode = CloseCode.NORMAL, reason: str = "") -> None:
        """Leave the room (the writer's call), or be told it is gone (the room's): stop observing."""
        room, self._room = self._room, None
        if room is None:
            return
        self.close_code = int(code)
        self.close_reason = reason
        if self._subscription is not None:
            room.doc.unobserve(self._subscription)
            self._subscription = None
        self.join_state.stale()
        self._holds.clear()
        self._watchers.clear()
        self._core.rooms.leave(room, self)
        self._loaded.set()
        self.closed.set()

    async def wait_closed(self) -> None:
        await self.closed.wait()

    def _committed(self, event: TransactionEvent) -> None:
        """A transaction on the room's document: the writer's goes to every client (the room's own do not).

        Runs inside the transaction's commit: it only queues bytes, and never raises (an exception
        here would surface in the writer's code).
        """
        room = self._room
        if room is None or room.applying:
            self.join_state.stale()  # the room's own: a client's, another relay's
            return
        try:
            update = event.update
            if update != _EMPTY_UPDATE:
                self.join_state.grew(update)
                room.publish(update)
        except Exception:
            self.join_state.stale()
            log.exception("room %r: sending the update of %s failed", self.name, self.label)
