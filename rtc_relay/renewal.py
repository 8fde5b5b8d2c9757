"""Presence renewal: after clients join a room where others are present, everyone present announces
itself once more, so that the joiners' interfaces see them arrive (``RelayConfig.presence_renewal``).

A joiner got every presence state at once, but an interface that started listening after they arrived
(JupyterLab's collaborators panel) shows only presence that *changes*, and a state renewed with the same
content is no change. So, ``delay`` seconds after the first of a batch of joins, each joiner is told, on
its own connection, that the others are gone (at their current clocks), and each other connection with
presence is told the same of its own states: y-protocols clients answer that by announcing their state
again with a newer clock, which the joiners take as someone arriving. Only presence owned by a connection
of this relay is renewed; joins within the delay are coalesced into one renewal.

A joiner's renewal is repeated every ``delay`` seconds, ``ROUNDS`` times in all: an interface that starts
listening late (a page restored from its workspace, still loading at the first renewal) sees the others
arrive at the next one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .lib0 import var_uint8array
from .websocket import frame

if TYPE_CHECKING:
    from .awareness import Awareness
    from .room import Peer

__all__ = ["PresenceRenewal"]

_AWARENESS = 1
ROUNDS = 3  # renewals of each joiner, ``delay`` seconds apart


class PresenceRenewal:
    """The presence renewals of one room: ``peers`` is the room's admitted peers (read when a renewal
    runs), ``delay`` the seconds between a join and the renewal (0: never)."""

    def __init__(self, awareness: Awareness, peers: dict[Peer, None], delay: float) -> None:
        self._awareness = awareness
        self._peers = peers
        self._delay = delay
        self._timer: asyncio.TimerHandle | None = None
        self._joiners: dict[Peer, int] = {}  # joiner -> renewals it got so far

    def joined(self, peer: Peer) -> None:
        """``peer`` was admitted and shown the presence of others: renew theirs within ``delay``."""
        if not peer.remote or self._delay <= 0:
            return
        self._joiners[peer] = 0
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._renew)

    def left(self, peer: Peer) -> None:
        """``peer`` left the room."""
        self._joiners.pop(peer, None)

    def _renew(self) -> None:
        """One round: renew the others' presence for every joiner still in the room and due a renewal."""
        self._timer = None
        joiners = [peer for peer in self._joiners if peer in self._peers]
        self._joiners = {peer: self._joiners[peer] + 1 for peer in joiners if self._joiners[peer] + 1 < ROUNDS}
        if self._joiners:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._renew)
        self._send(joiners)

    def _send(self, joiners: list[Peer]) -> None:
        if not joiners:
            return
        awareness = self._awareness
        owners = [o for o in awareness.owners() if o in self._peers and getattr(o, "remote", False)]
        requests = {owner: awareness.renewal_request(owner) for owner in owners}
        for joiner in joiners:
            for owner, request in requests.items():
                if owner is not joiner and request is not None:
                    joiner.send(frame(bytes((_AWARENESS,)) + var_uint8array(request)))
        for owner, request in requests.items():
            if request is not None and any(joiner is not owner for joiner in joiners):
                owner.send(frame(bytes((_AWARENESS,)) + var_uint8array(request)))
