"""REST handlers of classroom sessions (:mod:`supernode.classrooms`). Bodies in ``schema/classroom.json``.

Teacher (``contents:write``: whoever may write this server's files runs its sessions; a student reaching
the server through a read-only share cannot):

- ``POST /api/rtc/classrooms`` ``{"path", "outputs"?}`` → 201 the session (``id``, ``code``, ``room``, …).
- ``GET /api/rtc/classrooms`` → ``{"classrooms": [...]}``, the server's sessions.
- ``DELETE /api/rtc/classrooms/{id}``; ``GET /api/rtc/classrooms/{id}/class`` → the class: who is in the
  room now, who follows the teacher, who pulled which version of each shared cell.

Student (``contents:read`` to look; ``contents:write`` on their own notebook to pull):

- ``GET /api/rtc/classrooms/join/{code}`` → the session (its room to join read-only, the shared cells).
- ``GET /api/rtc/classrooms/join/{code}/cells?path=`` → each shared cell, marked ``changed`` since the
  student's last pull (from their notebook ``path``), with a diff against their cell.
- ``POST /api/rtc/classrooms/join/{code}/pull`` ``{"cell_id", "path", "replace"?}`` → the student's cell.
"""

from __future__ import annotations

from tornado import web

from .classrooms import Classrooms
from .errors import ApiError
from .notebook_handlers import NotebookApi, _string

__all__ = ["HANDLERS"]


class ClassroomApi(NotebookApi):
    @property
    def classrooms(self) -> Classrooms:
        return self.settings["supernode_classrooms"]

    async def prepare(self) -> None:
        await super().prepare()
        await self.classrooms.restore()  # the sessions of before a restart, when the server has just started

    @property
    def username(self) -> str:
        user = self.current_user
        return str(getattr(user, "username", None) or user)


class ClassroomsHandler(ClassroomApi):
    @web.authenticated
    async def post(self) -> None:
        await self._allow("write")
        body = self._body()
        path = _string(body, "path")
        outputs = body.get("outputs", False)
        if not path:
            raise ApiError("bad_request", "'path' (the teacher's notebook) is required")
        if not isinstance(outputs, bool):
            raise ApiError("bad_request", "'outputs' must be true or false")
        session = await self.classrooms.start(path, self.username, outputs=outputs)
        self._reply(201, session.to_json())

    @web.authenticated
    async def get(self) -> None:
        await self._allow("write")
        self._reply(200, {"classrooms": [s.to_json() for s in self.classrooms.sessions.values()]})


class ClassroomHandler(ClassroomApi):
    @web.authenticated
    async def delete(self, session_id: str) -> None:
        await self._allow("write")
        self._reply(200, {**self.classrooms.end(session_id).to_json(), "ended": True})


class ClassHandler(ClassroomApi):
    @web.authenticated
    async def get(self, session_id: str) -> None:
        await self._allow("write")
        session = self.classrooms.get(session_id)
        self._reply(200, {"id": session.id, "code": session.code, "students": self.classrooms.students(session)})


class JoinHandler(ClassroomApi):
    @web.authenticated
    async def get(self, code: str) -> None:
        await self._allow("read")
        self._reply(200, self.classrooms.by_code(code).to_json())


class JoinCellsHandler(ClassroomApi):
    @web.authenticated
    async def get(self, code: str) -> None:
        await self._allow("read")
        session = self.classrooms.by_code(code)
        path = self.get_query_argument("path", None)
        cells = await self.cells(path) if path else None
        self._reply(200, {"code": session.code, "cells": self.classrooms.status(session, cells, self.username)})


class PullHandler(ClassroomApi):
    @web.authenticated
    async def post(self, code: str) -> None:
        await self._allow("write")
        body = self._body()
        session = self.classrooms.by_code(code)
        cell_id, path, replace = _string(body, "cell_id"), _string(body, "path"), body.get("replace", False)
        if cell_id is None or not path:
            raise ApiError("bad_request", "'cell_id' (a shared cell) and 'path' (your notebook) are required")
        if not isinstance(replace, bool):
            raise ApiError("bad_request", "'replace' must be true or false")
        cells = await self.cells(path)
        if cells.live.path == session.path:
            raise ApiError("bad_request", "pull into your own notebook, not the teacher's")
        cell = self.classrooms.pull(session, cell_id, cells, self.username, replace=replace)
        self._reply_change(cells, cell=cell)


_ID = r"(?P<session_id>[^/]+)"
_CODE = r"(?P<code>[^/]+)"
HANDLERS = [
    (r"/api/rtc/classrooms", ClassroomsHandler),
    (rf"/api/rtc/classrooms/join/{_CODE}/cells", JoinCellsHandler),
    (rf"/api/rtc/classrooms/join/{_CODE}/pull", PullHandler),
    (rf"/api/rtc/classrooms/join/{_CODE}", JoinHandler),
    (rf"/api/rtc/classrooms/{_ID}/class", ClassHandler),
    (rf"/api/rtc/classrooms/{_ID}", ClassroomHandler),
]
