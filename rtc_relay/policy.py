"""The extension seam of the relay: a policy decides how a family of rooms is loaded,
who may join them, and what their custom messages do.

The relay itself knows nothing of files or notebooks. An extension (the supernode)
registers a :class:`RoomPolicy` with :meth:`RelayCore.add_policy`; the first policy
whose :meth:`RoomPolicy.claims` accepts a room name governs that room. Rooms no
policy claims get :class:`RoomPolicy`'s defaults: content from the store, everyone
admitted, save requests answered once the store has everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from pycrdt import Doc


__all__ = ["Refusal", "RoomLoadError", "RoomPolicy"]


class Refusal(NamedTuple):
    """Why a client may not join a room, as the close frame it gets (``code`` from the catalogue).

    With ``recover`` set, the relay first asks the client for its whole document
    (SyncStep1 with an empty state vector) and hands the answer to
    :meth:`RoomPolicy.recover`, so edits the client made and nobody else has are
    not lost with the refusal.

    With ``notice`` (a JSON object) as well, a client that :meth:`RoomPolicy.recover` says to
    fence is not closed: it gets the notice as a custom message (type 2; ``{"type": "conflict"}``
    is the stock JupyterLab frontend's "Edit Conflict" dialog; an empty notice tells nothing, for a
    client told before that reconnects) and stays connected, **fenced**: it receives nothing of
    the room's document or presence; its document updates are dropped, never applied, broadcast or
    stored (and never a reason to close it: a browser writes some on its own right after it
    reconnects); its own presence is echoed back to it alone (which keeps a browser's socket from
    timing out and reconnecting). Its save request closes it with ``code`` and ``reason``: the
    plain way of telling it that its copy cannot be kept. A policy may return a plain
    ``(code, reason, recover[, notice])`` tuple.
    """

    code: int
    reason: str
    recover: bool = False
    notice: Mapping[str, Any] | None = None


class RoomLoadError(Exception):
    """A room could not be loaded; its joiners are closed with ``close_code`` and ``reason``.

    The relay accepts any exception carrying these two attributes, so a policy
    need not import this class.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{int(code)}: {reason}")
        self.close_code = int(code)
        self.reason = reason


class RoomPolicy:
    """Defaults for rooms; subclass and override for a family of rooms.

    ``persist``: whether the relay stores the room's updates (False when the room
    is the projection of something persisted elsewhere, e.g. a file).
    ``remote_writes`` (optional, True when absent): whether clients over the network may change the room (False
    when an in-process peer is its only writer: every remote connection is then
    read-only, whatever its token or Jupyter permissions say).
    """

    persist = True
    remote_writes = True

    def claims(self, name: str) -> bool:
        """Whether this policy governs room ``name``."""
        return False

    async def load(self, name: str) -> bytes | Doc | None:
        """The room's initial content as one Yjs update, or None to start from the store.

        Or the :class:`pycrdt.Doc` an in-process writer of the room keeps: the room then uses that
        document itself instead of a copy (one copy in memory, every update applied once) and applies
        its clients' updates to it directly. The writer opens a
        :class:`~rtc_relay.direct.DirectConnection` (:meth:`RelayCore.open_direct`, called from here
        or before) that sends what the writer changes in it to the room's clients, holds the room
        while the writer has work in it, and tells the writer when the room is freed.

        Raise :class:`RoomLoadError` to refuse the room (e.g. 4404 when its file is gone).
        """
        return None

    def admit(self, name: str, params: Mapping[str, str]) -> Refusal | None:
        """Whether a client with query ``params`` may join the (loaded) room."""
        return None

    async def recover(self, name: str, update: bytes, params: Mapping[str, str]) -> bool:
        """The whole document of a refused client with query ``params`` (see :class:`Refusal`); True to
        fence the client (its document was kept, or it was told before) when the refusal has a notice,
        False to close it."""
        return False

    def on_custom(self, name: str, text: str, payload: bytes, reply: Callable[[dict], None], writer: bool) -> bool:
        """A custom message (type 2) ``text`` with the bytes after it; True if handled.

        ``reply(obj)`` sends a JSON notice back to the sender only; ``writer`` says
        whether the sender may write.
        """
        return False

    def keep(self, name: str) -> str | None:
        """Why idle room ``name`` must stay in memory now (e.g. ``"save in flight"``), or None to let it go.

        Asked when the room would be freed (no member holds it and the cleanup delay passed); a
        room kept is asked again after another cleanup delay. Not asked when the relay stops. Must
        not block: start what needs doing (a save) and answer at once.
        """
        return None

    def on_freed(self, name: str) -> None:
        """The room was freed (its last client left, the cleanup delay passed, and :meth:`keep` let it go)."""
