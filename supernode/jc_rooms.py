"""jupyter-collaboration's room lookup, for extensions written against it.

Extensions built on jupyter-collaboration reach a document's room through the extension at
``settings["jupyter_server_ydoc"]``: ``ywebsocket_server.room_exists(room_id)`` and ``await
ywebsocket_server.get_room(room_id)``, then the room's ``ydoc`` (its pycrdt document), ``_document``
(its jupyter_ydoc document), ``room_id``, ``file_format``, ``file_type``, ``ready`` and ``cleaner``.
:class:`RoomLookup` answers those for our document rooms: the document is the live one (a change
made to it reaches every client and the file). Like jupyter-collaboration, a room that is not open
raises :class:`RoomNotFound` (a :class:`LookupError`); open a file with ``get_document`` instead.
``cleaner`` is always None: the relay frees a room only when nothing holds it (assigning one, as some
extensions do to keep a room, is accepted and ignored).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DocumentRoomView", "RoomLookup", "RoomNotFound"]


class RoomNotFound(LookupError):
    """No document room of that id is open."""


class DocumentRoomView:
    """The part of jupyter-collaboration's ``DocumentRoom`` that extensions read, over one live document."""

    def __init__(self, room_id: str, live: Any) -> None:
        self._room_id = room_id
        self._live = live
        self._document = live.document
        self.ydoc = live.document.ydoc
        self.ready = True

    @property
    def room_id(self) -> str:
        return self._room_id

    @property
    def file_format(self) -> str:
        return self._live.key.format

    @property
    def file_type(self) -> str:
        return self._live.key.type

    @property
    def document(self) -> Any:
        return self._document

    @property
    def cleaner(self) -> None:
        return None

    @cleaner.setter
    def cleaner(self, value: Any) -> None:
        return None


class RoomLookup:
    """``ywebsocket_server`` of jupyter-collaboration's extension, over ``documents`` (a DocumentManager)."""

    def __init__(self, documents: Any) -> None:
        self._documents = documents

    def room_exists(self, room_id: str) -> bool:
        return room_id in self._documents.live

    async def get_room(self, room_id: str) -> DocumentRoomView:
        """The open document room ``room_id`` (its whole document); raises :class:`RoomNotFound`."""
        live = self._documents.live.get(room_id)
        if live is None:
            raise RoomNotFound(room_id)
        await live.whole()
        return DocumentRoomView(room_id, live)
