"""Classroom sessions of other servers, mirrored here: the student's side of joining across servers.

:class:`RemoteClassrooms` starts a :class:`~supernode.classroom_mirror.MirroredClassroom` for a teacher's
server base URL and join code, registers it with this server's :class:`~supernode.classrooms.Classrooms`
(so it is joined, read and pulled from like a session of this server, under the same code), and ends it
when asked, when the teacher ends the session, or when the teacher's server is gone for good.

Several students of this server who join the same teacher session share one mirror (the second join
answers the first's). Only the base URL and the code leave this server: the URL's query and fragment are
dropped (a link copied from the teacher's browser may carry the teacher's ``?token=``), never stored, sent
or shown.

Error handling (all within about twice ``timeout`` seconds): ``bad_request`` for a URL that is not
``http(s)://``; ``remote_unreachable`` (502) when the teacher's server does not answer, answers what is no
ticket, or its room cannot be opened; ``not_found`` for a code no session of that server has; ``forbidden``
when that server does not admit students of other servers; ``rate_limited`` (429, with its Retry-After)
when it refuses this server's ticket requests for too many wrong codes; ``conflict`` when the session is
one of this server's own (join it with its code directly).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .classroom_mirror import MirroredClassroom
from .classroom_tickets import RateLimited
from .classrooms import Classrooms
from .errors import ApiError

__all__ = ["RemoteClassrooms", "base_url"]

log = logging.getLogger("supernode.classroom")

_SESSION_ID = re.compile(r"^[0-9A-Za-z_-]{1,128}$")
_CODE = re.compile(r"^[A-Z0-9]{4,32}$")  # a join code as a server gives it (normalized)
_MAX_ANSWER = 64 * 1024  # bytes of a ticket answer, at most


def base_url(url: Any) -> str:
    """``url`` as a server base URL: scheme, host, port and path ending in ``/``; no query, fragment or user
    info. Raises ``bad_request``.

    A page's URL (``…/lab/tree/x.ipynb``) stands for its server (``…/``). On a JupyterHub, the hub's own
    route to a user's server (``{hub prefix}hub/user/NAME/…``) stands for the server's URL through the proxy
    (``{hub prefix}user/NAME/``), where it answers without the hub's redirect; a ``hub/user-redirect/`` link
    is refused: it leads to the server of whoever follows it, not to the teacher's."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError("bad_request", "'url' (the teacher's Jupyter server, e.g. https://host/user/name/) is required")
    try:
        parts = urlsplit(url.strip())
        port = parts.port  # raises for a port that is no number or out of range
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError("bad_request", "'url' must be an http:// or https:// URL of the teacher's Jupyter server")
    path = parts.path
    if "/hub/user-redirect/" in path + "/":
        raise ApiError(
            "bad_request",
            "a JupyterHub '/hub/user-redirect/' link opens the server of whoever follows it: give the teacher's own "
            "server URL (…/user/NAME/, as the teacher's browser shows it)",
        )
    if "/hub/user/" in path:  # the hub's route to a user's server: the server itself is at the same path, less hub/
        path = path.replace("/hub/user/", "/user/", 1)
    for tail in ("/lab", "/tree", "/notebooks"):  # a page's URL pasted as it is: its server is before it
        if tail + "/" in path + "/":
            path = path[: (path + "/").index(tail + "/")]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, path.rstrip("/") + "/", "", ""))


class RemoteClassrooms:
    """The mirrors of this server (see the module docstring). ``tasks``: the server's TaskSet (parent of the
    mirrors' follow tasks); ``timeout``: seconds each call to a teacher's server may take."""

    def __init__(
        self, classrooms: Classrooms, relay: Any, tasks: Any, *, timeout: float = 10.0, **mirror: float
    ) -> None:
        self.classrooms = classrooms
        self.relay = relay
        self.tasks = tasks
        self.timeout = timeout
        self.mirror_options = mirror  # renew_margin, backoff_max, give_up (MirroredClassroom)

    @property
    def mirrors(self) -> list[MirroredClassroom]:
        return [s for s in self.classrooms.sessions.values() if isinstance(s, MirroredClassroom)]

    async def join(self, url: Any, code: Any) -> tuple[MirroredClassroom, bool]:
        """The mirror of the session of ``code`` on the server at ``url``, and whether it is new."""
        upstream = base_url(url)
        if not isinstance(code, str) or not code.strip():
            raise ApiError("bad_request", "'code' (the classroom's join code) is required")
        answer = await self.fetch_ticket(upstream, code)
        session_id = answer["session"]["id"]
        known = self._known(session_id, answer["session"]["code"])
        if known is not None:
            return known, False
        mirror = MirroredClassroom(
            upstream, answer, lambda: self.fetch_ticket(upstream, code), timeout=self.timeout, **self.mirror_options
        )
        await mirror.connect()
        known = self._known(session_id, mirror.code)  # another join of the same session finished meanwhile
        if known is not None:
            await mirror.abandon()
            return known, False
        self.classrooms.sessions[mirror.id] = mirror
        try:
            await mirror.serve(self.relay, self.tasks, self._ended)
        except BaseException:
            self.classrooms.sessions.pop(mirror.id, None)
            await mirror.abandon()
            raise
        log.info("classroom %s of %s mirrored here", mirror.code, upstream)
        return mirror, True

    def _known(self, session_id: str, code: str) -> MirroredClassroom | None:
        session = self.classrooms.sessions.get(session_id)
        if isinstance(session, MirroredClassroom):
            return session
        if session is not None:
            raise ApiError("conflict", "this classroom session runs on this server: join it with its code")
        if any(s.code == code for s in self.classrooms.sessions.values()):
            raise ApiError("conflict", "a classroom session of this server has the same code; ask for a new session")
        return None

    def get(self, session_id: str) -> MirroredClassroom:
        session = self.classrooms.sessions.get(session_id)
        if not isinstance(session, MirroredClassroom):
            raise ApiError("not_found", f"no mirrored classroom session {session_id}")
        return session

    def end(self, session_id: str) -> MirroredClassroom:
        """End mirror ``session_id``: its local students' connections close with 4404."""
        mirror = self.get(session_id)
        self.classrooms.end(session_id)
        mirror.reason = mirror.reason or "ended on this server"
        return mirror

    def _ended(self, session_id: str, reason: str) -> None:
        if isinstance(self.classrooms.sessions.get(session_id), MirroredClassroom):
            self.classrooms.end(session_id)

    # -- the teacher's server -------------------------------------------------------------------

    async def fetch_ticket(self, upstream: str, code: str) -> dict[str, Any]:
        """A ticket answer of the server at ``upstream`` for ``code``, checked (see the module docstring)."""
        request = HTTPRequest(
            f"{upstream}api/rtc/classrooms/tickets",
            method="POST",
            body=json.dumps({"code": code}),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            connect_timeout=self.timeout,
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except Exception as exc:  # DNS, TLS, refused: tornado raises some before any answer
            raise ApiError("remote_unreachable", f"the teacher's server at {upstream} did not answer: {exc}") from None
        status = response.code
        if status == 599:
            raise ApiError("remote_unreachable", f"the teacher's server at {upstream} did not answer: {response.error}")
        body = _json(response.body)
        message = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else ""
        if status == 404 and isinstance(body, dict) and body.get("error") == "not_found":
            raise ApiError("not_found", f"no classroom session has this code on {upstream} (ended, or mistyped)")
        if status == 403 and isinstance(body, dict) and body.get("error") == "forbidden":
            raise ApiError("forbidden", f"{upstream}: {message or 'remote joining is off'}")
        if status == 429:
            retry_after = _seconds(response.headers.get("Retry-After"))
            raise RateLimited(f"{upstream}: {message or 'too many wrong codes'}", retry_after)
        if status == 400 and isinstance(body, dict) and body.get("error") == "bad_request":
            raise ApiError("bad_request", f"{upstream}: {message}")
        if status != 200 or not _is_ticket(body):
            if "X-JupyterHub-Version" in response.headers:
                # the hub itself (a stopped server, a user with none) or a hub's server without classrooms
                what = (
                    f"JupyterHub answered HTTP {status}: is the teacher's server running, and is this its URL "
                    "(…/user/NAME/)?"
                )
            else:
                what = f"HTTP {status}" + (
                    " (no classroom tickets there: is it a jupyter-rtc server?)" if status else ""
                )
            raise ApiError("remote_unreachable", f"the teacher's server at {upstream} answered no ticket: {what}")
        return body

    def stop(self) -> None:
        for mirror in self.mirrors:
            self.classrooms.end(mirror.id)


def _json(data: bytes | None) -> Any:
    if not data or len(data) > _MAX_ANSWER:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _seconds(value: str | None) -> int:
    try:
        return max(1, min(3600, int(value or "60")))
    except ValueError:
        return 60


def _is_ticket(body: Any) -> bool:
    """Whether ``body`` is a ticket answer of a classroom session (schema/classroom-remote.json, ``ticket``)."""
    if not isinstance(body, dict) or not isinstance(body.get("ticket"), str) or not body["ticket"].startswith("rtc1."):
        return False
    session = body.get("session")
    if not isinstance(session, dict) or not isinstance(body.get("expires"), (int, float)):
        return False
    ok = (
        isinstance(session.get("id"), str)
        and _SESSION_ID.match(session["id"]) is not None
        and body.get("room") == f"classroom/{session['id']}"
        and isinstance(session.get("code"), str)
        and _CODE.match(session["code"]) is not None
    )
    return (
        ok
        and isinstance(session.get("teacher"), str)
        and isinstance(session.get("path"), str)
        and isinstance(session.get("outputs"), bool)
    )
