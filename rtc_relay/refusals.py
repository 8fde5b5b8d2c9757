"""The clients a room refused and has not closed yet: those whose document it is recovering, and the fenced.

A policy refuses a client with a :class:`~rtc_relay.policy.Refusal`. Without ``recover`` the
client is closed at once. With it, the room first asks the client for its whole document
(SyncStep1 with an empty state vector) and hands the answer to the policy's ``recover``; then:

* the refusal has a notice and ``recover`` said to fence (it kept the document, or the client
  was told before): the client is **fenced**. It gets the notice (unless empty) and stays
  connected; nothing of the room reaches it; its document updates are dropped (counted); its own
  presence is echoed back to it alone (a browser closes a socket that receives nothing for 30 s,
  and would reconnect into a second notice); its save request closes it with the refusal's code,
  and so does :meth:`Refusals.release_fenced` (its page reloading the file, say);
* otherwise, or if the client sends nothing within ``RECOVER_TIMEOUT`` seconds, it is closed with
  the refusal's code.

Error handling: a ``recover`` that raises is logged and counts as "nothing kept"; a fenced or
recovering client's malformed message raises :class:`~rtc_relay.lib0.DecodeError` like any other.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from .catalogue import close_reason, CloseCode
from .lib0 import DecodeError, read_var_string, read_var_uint8array, var_uint8array
from .policy import Refusal
from .websocket import frame

if TYPE_CHECKING:
    from .room import Peer, Room

__all__ = ["RECOVER_TIMEOUT", "Refusals"]

log = logging.getLogger("rtc_relay.room")

RECOVER_TIMEOUT = 5.0  # seconds a refused client has to send its document before it is closed anyway
_SYNC, _AWARENESS, _CUSTOM = 0, 1, 2
_STEP1, _STEP2, _UPDATE = 0, 1, 2


class Refusals:
    """The refused clients of ``room`` still connected (see the module docstring)."""

    def __init__(self, room: Room) -> None:
        self._room = room
        self._recovering: dict[Peer, tuple[Refusal, asyncio.TimerHandle]] = {}
        self._fenced: dict[Peer, Refusal] = {}

    def __contains__(self, peer: object) -> bool:
        return peer in self._recovering or peer in self._fenced

    def __bool__(self) -> bool:
        return bool(self._recovering or self._fenced)

    def refuse(self, peer: Peer, refusal: Refusal) -> None:
        """Close ``peer`` now, or ask for its whole document first (``refusal.recover``)."""
        if not refusal.recover:
            peer.close(CloseCode(refusal.code), close_reason(refusal.reason))
            return
        timer = asyncio.get_running_loop().call_later(RECOVER_TIMEOUT, self._recovered, peer)
        self._recovering[peer] = (refusal, timer)
        peer.send(frame(bytes((_SYNC, _STEP1)) + var_uint8array(b"\x00")))
        peer.attached()

    def receive(self, peer: Peer, msg: bytes) -> None:
        """A message of a refused ``peer`` (``peer in self``)."""
        if peer in self._recovering:
            if len(msg) > 2 and msg[0] == _SYNC and msg[1] == _STEP2:
                update, _ = read_var_uint8array(msg, 2)
                self._room.spawn(self._recover(peer, update), f"recover {self._room.name}")
            return
        if not msg:
            raise DecodeError("truncated message")
        kind = msg[0]
        if kind == _SYNC:
            if len(msg) < 2:
                raise DecodeError("truncated message")
            read_var_uint8array(msg, 2)
            self._room.count_dropped(msg[1] == _UPDATE)
        elif kind == _AWARENESS:
            read_var_uint8array(msg, 1)
            peer.send(frame(msg))
        elif kind == _CUSTOM and read_var_string(msg, 1)[0] == "save":
            refusal = self._fenced.pop(peer)
            log.info("room %r: fenced client %s asked to save its stale copy; closing it", self._room.name, peer.label)
            peer.close(CloseCode(refusal.code), close_reason(refusal.reason))

    def release_fenced(self, match: Callable[[Peer], bool]) -> int:
        """Close the fenced clients ``match`` accepts with their refusal's code (a page that reverts to
        the file: the reload dialog); returns how many."""
        released = [peer for peer in self._fenced if match(peer)]
        for peer in released:
            refusal = self._fenced.pop(peer)
            log.info("room %r: fenced client %s reloads the file; closing it", self._room.name, peer.label)
            peer.close(CloseCode(refusal.code), close_reason(refusal.reason))
        return len(released)

    def forget(self, peer: Peer) -> None:
        """``peer`` left the room."""
        entry = self._recovering.pop(peer, None)
        if entry is not None:
            entry[1].cancel()
        self._fenced.pop(peer, None)

    async def _recover(self, peer: Peer, update: bytes) -> None:
        room = self._room
        fence = False
        try:
            fence = bool(await room.policy.recover(room.name, update, peer.params))
        except Exception:
            log.exception("room %r: keeping the document of refused client %s failed", room.name, peer.label)
        finally:
            self._recovered(peer, fence)

    def _recovered(self, peer: Peer, fence: bool = False) -> None:
        """End the recovery of ``peer``: fence it (``fence`` and the refusal has a notice), else close it."""
        entry = self._recovering.pop(peer, None)
        if entry is None:
            return
        refusal, timer = entry
        timer.cancel()
        room = self._room
        if fence and refusal.notice is not None and peer in room.members:
            self._fenced[peer] = refusal
            if refusal.notice:
                room.notify(peer, refusal.notice)
            told = f"told {json.dumps(refusal.notice)}" if refusal.notice else "told before"
            log.info("room %r: %s fenced off the document (%s)", room.name, peer.label, told)
            return
        peer.close(CloseCode(refusal.code), close_reason(refusal.reason))
