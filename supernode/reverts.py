"""A fenced page that reverts to its file gets the reload dialog at once.

A tab of an earlier load of a document is fenced off its room (see :mod:`rtc_relay.refusals`) and
shown the stock Edit Conflict dialog. Its "Revert" runs JupyterLab's ``docmanager:reload``, whose
traces on the server are a look at the file (``GET /api/contents/PATH?content=0``, as before any
save) and a listing of its checkpoints (``GET /api/contents/PATH/checkpoints``, which a page
otherwise asks for only when it opens the file). :class:`RevertWatch` is a tornado output transform
that sees every request: a listing of the checkpoints of a file whose room fences a tab of the same
browser (by its Jupyter cookies, :func:`rtc_common.browsers.browser_key`) closes that tab with its
refusal's code, 1003 ``{"reason":"unknown_session","reloadable":true}``, and the frontend's reload
dialog brings the shared version back. A request without Jupyter cookies (a script) matches nothing;
another browser's request leaves the tab alone.

Error handling: the check never fails the request it looks at (a failure is logged).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from tornado.web import OutputTransform

from rtc_common.browsers import browser_key

__all__ = ["revert_watch"]

_CHECKPOINTS = "/checkpoints"

log = logging.getLogger("supernode.documents")


def revert_watch(documents: Any, base_url: str) -> type[OutputTransform]:
    """The transform class for ``documents`` (a :class:`~supernode.documents.DocumentManager`) of a server
    at ``base_url``; install it with ``web_app.add_transform``."""
    prefix = base_url.rstrip("/") + "/api/contents/"

    class RevertWatch(OutputTransform):
        def __init__(self, request: Any) -> None:
            super().__init__(request)
            try:
                path = request.path
                if request.method == "GET" and path.startswith(prefix) and path.endswith(_CHECKPOINTS):
                    _check(documents, request, urllib.parse.unquote(path[len(prefix) : -len(_CHECKPOINTS)]).strip("/"))
            except Exception:
                log.exception("checking %s for a reverting tab failed", request.path)

    return RevertWatch


def _check(documents: Any, request: Any, path: str) -> None:
    browser = browser_key(request.headers.get("Cookie"))
    if browser is None:
        return
    rooms = documents.relay.rooms.rooms
    for name, live in list(documents.live.items()):
        room = rooms.get(name)
        if live.path == path and room is not None:
            room.release_fenced(lambda peer: getattr(peer, "browser", None) == browser)
