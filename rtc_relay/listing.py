"""The room list a relay answers on ``GET /api/rtc/rooms`` (body: ``schema/room-list.json``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import RelayCore

__all__ = ["room_list"]


def room_list(core: RelayCore, covers: Callable[[str], bool] | None = None) -> dict[str, list[dict[str, object]]]:
    """Every room in memory that ``covers`` accepts (default: all), sorted by name: its name, its
    websocket clients, whether it is loaded, and the users of its clients (who their signed token, or
    Jupyter, says they are; never what a client's awareness claims).

    Room names can be read by anyone allowed to join a room: the transports check access first, and
    pass the rooms the caller's token covers as ``covers``.
    """
    if not core.serving:
        return {"rooms": []}
    rooms = sorted(core.rooms.rooms.values(), key=lambda room: room.name)
    return {
        "rooms": [
            {
                "name": room.name,
                "clients": room.remote_members,
                "loaded": room.ready.done() and room.failed is None,
                "users": sorted(
                    {user for peer in room.members if peer.remote and (user := getattr(peer, "user", None))}
                ),
            }
            for room in rooms
            if covers is None or covers(room.name)
        ]
    }
