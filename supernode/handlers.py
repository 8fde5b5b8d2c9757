"""REST handlers of the supernode.

``PUT /api/collaboration/session/{path}`` with ``{"format", "type"}`` answers
``{"format", "type", "fileId", "sessionId"}``: 200 when the file already had an id,
201 when it was just indexed, 404 when there is no such file. A file that exists but
cannot be opened as asked (not UTF-8, not a notebook, a ``type`` no package registered with
jupyter_ydoc) is answered all the same: its
room's websocket is then closed with 4400 (or 4404/4500) and the reason, which the
stock frontend shows in its "File Load Error" dialog. Opening a document for reading
needs ``contents:read`` only.

``GET /api/rtc/spec.json`` answers the OpenAPI document of every endpoint (``spec.json``).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .documents import DocumentLoadError, DocumentManager

__all__ = ["SessionHandler", "SpecHandler", "spec_path"]



class SessionHandler(APIHandler):
    """Indexes a file and loads its room; the frontend then joins the room's websocket."""

    auth_resource = "contents"

    @property
    def documents(self) -> DocumentManager:
        return self.settings["supernode_documents"]

    @web.authenticated
    async def put(self, path: str) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", "contents")):
            raise web.HTTPError(403, "contents:read is required to open a document")
        try:  # not get_json_body(): it answers 500 to a body that is not UTF-8
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise web.HTTPError(400, 'the body must be {"format": ..., "type": ...}')
        file_format, file_type = body.get("format"), body.get("type")
        if not isinstance(file_format, str) or not isinstance(file_type, str):
            raise web.HTTPError(400, 'the body must be {"format": ..., "type": ...}')
        # The stock timeline slider asks for "/{path}": the same file, so the same id (the file id
        # manager would index the spelling with a slash as another file).
        path = path.strip("/")
        cm = self.contents_manager
        if not await ensure_async(cm.file_exists(path)):
            raise web.HTTPError(404, f"no file {path}")
        file_ids = self.settings["file_id_manager"]
        file_id = file_ids.get_id(path)
        status = 200
        if file_id is None:
            file_id = file_ids.index(path)
            status = 201
        room = f"{file_format}:{file_type}:{file_id}"
        try:
            session = await self.documents.session(room, wait=False)  # the load goes on meanwhile
        except DocumentLoadError:
            # As the stock frontend expects: the session is answered, and the room's websocket is then
            # closed with the load error's code and reason, which it shows in its "File Load Error" dialog.
            session = str(uuid.uuid4())  # (the document manager logged why)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"format": file_format, "type": file_type, "fileId": file_id, "sessionId": session}))


_HERE = Path(__file__).resolve().parent


def spec_path() -> Path:
    """``spec.json``: inside the wheel, or at the root of a checkout."""
    for path in (_HERE / "spec.json", _HERE.parent / "spec.json"):
        if path.is_file():
            return path
    raise FileNotFoundError("spec.json is neither in the package nor beside it")


class SpecHandler(APIHandler):
    """The OpenAPI document of the server's jupyter-rtc endpoints."""

    @web.authenticated
    async def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(spec_path().read_bytes())
