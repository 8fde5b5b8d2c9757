"""REST handlers of the timeline, undo/redo and forks, with jupyter-collaboration's requests and answers.

Bodies in ``schema/timeline.json``, ``schema/undo-redo.json``, ``schema/fork-request.json``,
``schema/fork-created.json``, ``schema/fork-list.json``; errors from ``schema/rest-errors.json``
(``{"error": code, "message": text}``). Reading needs ``contents:read``, changing ``contents:write``.

- ``GET /api/collaboration/timeline/{path}?format=&type=`` → ``{"roomId", "timestamps", "forkRoom",
  "sessionId", "versions"}``: the document's versions (oldest first, the last one now) and a timeline
  fork, showing the last version, that the frontend joins in place of the document.
- ``PUT /api/collaboration/undo_redo/{roomid}?action=undo|redo|restore&steps=N&forkRoom=F``: move the
  timeline fork ``steps`` versions back or forth (``{"status": "undone"|"redone"}``, or jupyter-collaboration's
  ``{"error": "No more undo operations available"}`` with 200 when there is none), or restore the version
  it shows into the document (``{"code": 200, "status": "Document restored successfully"}``).
- ``PUT /api/collaboration/fork/{roomid}`` ``{"title"?, "description"?, "synchronize"?}`` → 201
  ``{"sessionId", "fork_roomid", "fork_info"}``; ``GET`` → ``{fork_roomid: fork_info}``;
  ``DELETE /api/collaboration/fork/{fork_roomid}?merge=true|false`` → 200 (merged back first with ``true``).
"""

from __future__ import annotations

from tornado import web

from .documents import DocumentManager
from .errors import ApiError
from .execution_handlers import ApiBase
from .forks import ForkManager
from .keys import DocumentKey

__all__ = ["HANDLERS"]


class CollaborationApi(ApiBase):
    auth_resource = "contents"

    @property
    def forks(self) -> ForkManager:
        return self.settings["supernode_forks"]

    @property
    def documents(self) -> DocumentManager:
        return self.settings["supernode_documents"]

    @property
    def username(self) -> str:
        user = self.current_user
        return str(getattr(user, "username", None) or user)


class TimelineHandler(CollaborationApi):
    @web.authenticated
    async def get(self, path: str) -> None:
        await self._allow("read")
        # Not stripped: tornado turns control characters into spaces, and a value of spaces is a value (no such type).
        file_format = self.get_query_argument("format", None, strip=False)
        content_type = self.get_query_argument("type", None, strip=False)
        if file_format is None or content_type is None:
            raise ApiError("bad_request", "the query arguments 'format' and 'type' are required")
        room = await self.documents.room_for_path(path, file_format, content_type)
        if room is None:
            raise ApiError("not_found", f"no file {path}")
        if DocumentKey.parse(room) is None:
            raise ApiError("bad_request", f"{file_format}:{content_type} is not a document format and type")
        fork = await self.forks.open_timeline(room)
        self._reply(
            200,
            {
                "roomId": room,
                "timestamps": [version.timestamp for version in fork.versions],
                "forkRoom": fork.room,
                "sessionId": self.documents.live[room].epoch,
                "versions": [version.to_json() for version in fork.versions],
            },
        )


_NO_MORE = {"undo": "No more undo operations available", "redo": "No more redo operations available"}


class UndoRedoHandler(CollaborationApi):
    @web.authenticated
    async def put(self, room: str) -> None:
        await self._allow("write")
        action = self.get_query_argument("action", None)
        fork_room = self.get_query_argument("forkRoom", None, strip=False)  # a name of white space is a name: 404
        if action not in ("undo", "redo", "restore"):
            raise ApiError("bad_request", "'action' must be undo, redo or restore")
        if not fork_room:
            raise ApiError("bad_request", "'forkRoom' (the timeline's fork room) is required")
        try:
            steps = int(self.get_query_argument("steps", "0"))
        except ValueError:
            raise ApiError("bad_request", "'steps' must be a whole number") from None
        if steps < 0:
            raise ApiError("bad_request", "'steps' must not be negative")
        fork = self.forks.timeline_fork(fork_room)
        if fork.root != room:
            raise ApiError("not_found", f"{fork_room} is not a timeline of room {room}")
        if action == "restore":
            version = self.forks.restore(fork_room)
            self._reply(200, {"code": 200, "status": "Document restored successfully", "version": version.to_json()})
        elif self.forks.move(fork_room, -steps if action == "undo" else steps):
            self._reply(200, {"status": "undone" if action == "undo" else "redone", "position": fork.position})
        else:
            self._reply(200, {"error": _NO_MORE[action], "position": fork.position})


class ForkHandler(CollaborationApi):
    @web.authenticated
    async def get(self, room: str) -> None:
        await self._allow("read")
        self._reply(200, self.forks.list(room))

    @web.authenticated
    async def put(self, room: str) -> None:
        await self._allow("write")
        body = self._body()
        title, description = body.get("title", ""), body.get("description", "")
        synchronize = body.get("synchronize", False)
        if not isinstance(title, str) or not isinstance(description, str):
            raise ApiError("bad_request", "'title' and 'description' must be strings")
        if not isinstance(synchronize, bool):
            raise ApiError("bad_request", "'synchronize' must be true or false")
        fork = await self.forks.create(
            room, synchronize=synchronize, title=title, description=description, user=self.username
        )
        session = self.documents.live[room].epoch
        self._reply(201, {"sessionId": session, "fork_roomid": fork.room, "fork_info": fork.info})

    @web.authenticated
    async def delete(self, room: str) -> None:
        """``room`` is the fork's room here."""
        await self._allow("write")
        merge = self.get_query_argument("merge", "false")
        if merge not in ("true", "false"):
            raise ApiError("bad_request", "'merge' must be true or false")
        fork = await self.forks.delete(room, merge=merge == "true", user=self.username)
        self._reply(200, {"fork_roomid": fork.room, "fork_info": fork.info, "merged": merge == "true"})


HANDLERS = [
    (r"/api/collaboration/timeline/(?P<path>.+)", TimelineHandler),
    (r"/api/collaboration/undo_redo/(?P<room>[^/]+)", UndoRedoHandler),
    (r"/api/collaboration/fork/(?P<room>[^/]+)", ForkHandler),
]
