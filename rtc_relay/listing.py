"""The room list a relay answers on ``GET /api/rtc/rooms`` (body: ``schema/room-list.json``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .core import RelayCore

__all__ = ["room_list"]


def room_list(core: RelayCore) -> dict[str, list[dict[str, object]]]:
    """Every room in memory, sorted by name: its name, its websocket clients, whether it is loaded.

    Room names can be read by anyone allowed to join a room: the transports check access first.
    """
    if not core.serving:
        return {"rooms": []}
    rooms = sorted(core.rooms.rooms.values(), key=lambda room: room.name)
    return {
        "rooms": [
            {"name": room.name, "clients": room.remote_members, "loaded": room.ready.done() and room.failed is None}
            for room in rooms
        ]
    }
