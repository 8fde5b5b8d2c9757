"""Presence of one room: who is there, by awareness client id, and which connection said so.

The relay forwards awareness messages untouched; this registry only remembers the
latest state of each client so that a late joiner sees everyone at once, and so
that a connection's clients can be announced as gone when it disconnects. States
are kept as the raw JSON text the client sent; the relay never parses them.

The update format (y-protocols ``encodeAwarenessUpdate``) is
``varUint(n)`` then n × ``(varUint clientID, varUint clock, varString stateJSON)``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from .lib0 import DecodeError, read_var_string, read_var_uint, var_string, var_uint

__all__ = ["Awareness"]

_NULL = "null"


class Awareness:
    """Latest awareness state per client id, and which owner (connection) set it."""

    __slots__ = ("_clocks", "_owners", "_states")

    def __init__(self) -> None:
        self._clocks: dict[int, int] = {}
        self._states: dict[int, str] = {}
        self._owners: dict[int, Hashable] = {}

    def __len__(self) -> int:
        return len(self._states)

    def apply(self, owner: Hashable, update: bytes) -> None:
        """Apply an awareness update received from ``owner``.

        Follows y-protocols' ``applyAwarenessUpdate``: a state replaces the known one
        if its clock is newer, and a ``null`` state of the same clock removes it.
        Raises :class:`DecodeError` if ``update`` is malformed; then nothing changes.
        """
        entries = []
        count, pos = read_var_uint(update, 0)
        for _ in range(count):
            client, pos = read_var_uint(update, pos)
            clock, pos = read_var_uint(update, pos)
            state, pos = read_var_string(update, pos)
            entries.append((client, clock, state))
        if pos != len(update):
            raise DecodeError(f"{len(update) - pos} trailing bytes after the awareness update")
        clocks, states, owners = self._clocks, self._states, self._owners
        for client, clock, state in entries:
            current = clocks.get(client, 0)
            if current < clock or (current == clock and state == _NULL and client in states):
                clocks[client] = clock
                if state == _NULL:
                    states.pop(client, None)
                    owners.pop(client, None)
                else:
                    states[client] = state
                    owners[client] = owner

    def encode_all(self, select: Callable[[Hashable], bool] | None = None) -> bytes | None:
        """An update holding every known state (those whose owner ``select`` accepts, if given), or
        ``None`` when there is none."""
        clients = [c for c in self._states if select is None or select(self._owners[c])]
        if not clients:
            return None
        parts = [var_uint(len(clients))]
        for client in clients:
            parts += (var_uint(client), var_uint(self._clocks[client]), var_string(self._states[client]))
        return b"".join(parts)

    def states(self) -> dict[int, str]:
        """Every known state (its JSON text) by client id (a copy)."""
        return dict(self._states)

    def owner_of(self, client: int) -> Hashable | None:
        """Who sent the presence of Yjs client ``client`` (a connection), if anyone does now."""
        return self._owners.get(client)

    def owners(self) -> set[Hashable]:
        """Every owner that holds at least one state."""
        return set(self._owners.values())

    def renewal_request(self, owner: Hashable) -> bytes | None:
        """An update that, sent to ``owner`` only, makes it announce its states again with a newer clock.

        It says the owner's clients are gone, at their current clocks: y-protocols answers a removal of
        its own live state by increasing its clock and broadcasting the state again (so every peer sees
        a change). Nothing here changes; ``None`` when ``owner`` holds no state.
        """
        clients = [client for client, who in self._owners.items() if who is owner]
        if not clients:
            return None
        parts = [var_uint(len(clients))]
        for client in clients:
            parts += (var_uint(client), var_uint(self._clocks[client]), var_string(_NULL))
        return b"".join(parts)

    def remove_owner(self, owner: Hashable) -> bytes | None:
        """Forget every client ``owner`` set; return the update announcing them gone (or ``None``)."""
        gone = [client for client, who in self._owners.items() if who is owner]
        if not gone:
            return None
        parts = [var_uint(len(gone))]
        for client in gone:
            clock = self._clocks[client] + 1
            self._clocks[client] = clock
            del self._states[client]
            del self._owners[client]
            parts += (var_uint(client), var_uint(clock), var_string(_NULL))
        return b"".join(parts)
