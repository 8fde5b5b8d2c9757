"""The HTTP document API inside jupyter_server: ``/api/rtc/rooms/{room}/update`` (GET, POST) and
``/api/rtc/rooms/{room}/json`` (GET), as the standalone relay serves them (:mod:`rtc_relay.document_http`),
behind Jupyter's identity and authorization: reading needs ``contents:read``, writing ``contents:write``.

Errors are the REST catalogue's (``{"error", "message"}``, ``schema/rest-errors.json``).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from rtc_common.rest_errors import ApiError
from tornado import web

from .core import RelayCore
from .doc_json import parse_types
from .room_documents import RoomDocuments, decode_state_vector

__all__ = ["HANDLERS"]

SETTINGS_KEY = "rtc_relay"
_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 413: "too_large"}


class _DocumentHandler(APIHandler):
    auth_resource = "contents"

    @property
    def documents(self) -> RoomDocuments:
        core: RelayCore = self.settings[SETTINGS_KEY]
        return RoomDocuments(core)

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        """The room name from the path, bytes that are not UTF-8 kept as surrogate escapes (refused with a
        reason, as for the room websocket)."""
        if name is not None:
            return super().decode_argument(value, name)
        return value.decode("utf-8", "surrogateescape")

    async def _allow(self, action: str) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, action, "contents")):
            raise ApiError("forbidden", f"contents:{action} is required")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Jupyter's own refusals (no login, a missing XSRF token, a body over its limit) in the catalogue's body too."""
        code = _CODES.get(status_code)
        if code is None:
            super().write_error(status_code, **kwargs)
            return
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.finish(json.dumps({"error": code, "message": message}))

    def _fail(self, exc: ApiError) -> None:
        self.log.info("%s %s: %s %s", self.request.method, self.request.path[:200], exc.code, exc.message)
        self.set_status(exc.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(exc.body()))


class DocumentUpdateHandler(_DocumentHandler):
    """``GET``: the room's document as one Yjs update (``?sv=``: only what is missing); ``POST``: apply one."""

    @web.authenticated
    async def get(self, room: str) -> None:
        try:
            await self._allow("read")
            sv = self.get_query_argument("sv", None)
            update = await self.documents.update(room, decode_state_vector(sv))
        except ApiError as exc:
            self._fail(exc)
            return
        self.finish(update, set_content_type="application/octet-stream")

    @web.authenticated
    async def post(self, room: str) -> None:
        try:
            await self._allow("write")
            limit = self.settings[SETTINGS_KEY].config.max_message_size
            if len(self.request.body) > limit:
                raise ApiError("too_large", f"the update is {len(self.request.body)} bytes; at most {limit} are taken")
            await self.documents.apply(room, self.request.body)
        except ApiError as exc:
            self._fail(exc)
            return
        self.set_status(204)
        self.finish()


class DocumentJsonHandler(_DocumentHandler):
    """``GET``: the room's top-level types as JSON (``?types=name:kind,...``)."""

    @web.authenticated
    async def get(self, room: str) -> None:
        try:
            await self._allow("read")
            try:
                # (unstripped: tornado would strip a hint of control characters, turned to spaces, to nothing)
                types = parse_types(self.get_query_argument("types", "", strip=False))
            except ValueError as exc:
                raise ApiError("bad_request", str(exc)) from None
            body: dict[str, Any] = await self.documents.json(room, types)
        except ApiError as exc:
            self._fail(exc)
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))


HANDLERS = [
    (r"/api/rtc/rooms/(.+)/update", DocumentUpdateHandler),
    (r"/api/rtc/rooms/(.+)/json", DocumentJsonHandler),
]
