"""The change feed over HTTP: Server-Sent Events and a websocket (events: ``schema/notebook-event.json``).

- ``GET /api/rtc/notebooks/{path}/events`` — ``text/event-stream``: each event is ``id: <seq>``,
  ``event: <type>``, ``data: <JSON>``; a comment (``: heartbeat``) every ``NotebookFeeds.heartbeat``
  seconds while nothing happens, so proxies keep the connection open. Needs ``contents:read``.
- ``GET /api/rtc/notebooks/{path}/events/ws`` — the same events over a websocket, one text message each:
  ``{"id": <seq>, "event": <type>, "data": {...}}``. Messages from the client are ignored.
- ``GET /api/rtc/notebooks/{path}/kernel-messages`` — ``text/event-stream`` of the kernel messages the
  server's executor sees for the notebook (``kernel_message`` events, each with the execution and cell
  that caused it). For debugging. Needs ``kernels:read``.

Where to start: no ``Last-Event-ID`` header and no ``?since=`` (or ``since=0``): a ``snapshot`` of the
notebook, then what happens next (the kernel-message feed: what comes next). With ``Last-Event-ID: N``
(what an ``EventSource`` sends when it reconnects) or ``?since=N``: every event after ``N``, or
``resync`` (the whole notebook) when some are no longer kept. ``?timeout=S`` ends the stream after
``S`` seconds (scripts that poll; the fuzz tests).

Errors before the stream starts are the catalogue's JSON (403 forbidden, 404 not_found, 400
bad_request); once it has started, an ``error`` event ``{"error", "message"}`` ends it (e.g. the
notebook was deleted and its room freed: ``not_found``). A subscriber
that does not take in what is written within ``NotebookFeeds.write_timeout`` seconds is disconnected
(logged): it reconnects with ``Last-Event-ID`` and resumes, or gets ``resync``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .errors import ApiError
from .event_ring import Event
from .execution_handlers import ApiBase
from .notebook_feeds import NotebookFeeds

__all__ = ["HANDLERS"]

log = logging.getLogger("supernode.feeds")


def _resume_point(handler: Any) -> tuple[int | None, float | None]:
    """``(since, timeout)`` from the request: ``Last-Event-ID`` wins over ``?since=``; 0 means from the start."""
    raw = handler.request.headers.get("Last-Event-ID") or handler.get_query_argument("since", None)
    since = None
    if raw not in (None, ""):
        try:
            since = int(raw)
        except ValueError:
            raise ApiError(
                "bad_request", f"the event id to resume after must be an integer, not {raw[:40]!r}"
            ) from None
        if since < 0:
            raise ApiError("bad_request", f"the event id to resume after must be 0 or more, not {since}")
    timeout = handler.get_query_argument("timeout", None)
    seconds = None
    if timeout is not None:
        try:
            seconds = float(timeout)
        except ValueError:
            raise ApiError("bad_request", f"timeout must be a number of seconds, not {timeout[:40]!r}") from None
        if not 0 < seconds <= 86400:
            raise ApiError("bad_request", f"timeout must be more than 0 and at most 86400 seconds, not {timeout[:40]}")
    return (since or None), seconds


class _EventStream(ApiBase):
    """One subscriber over Server-Sent Events."""

    auth_resource = "contents"  # read permission needed

    @property
    def feeds(self) -> NotebookFeeds:
        return self.settings["supernode_notebook_feeds"]

    def initialize(self) -> None:
        self._gone = asyncio.Event()  # the client went away
        self._stop = asyncio.Event()  # the stream ends (the client went away, or its timeout)

    def on_connection_close(self) -> None:
        self._gone.set()
        self._stop.set()

    async def _feed(self, path: str) -> Any:
        raise NotImplementedError

    @web.authenticated
    async def get(self, path: str) -> None:
        await self._allow("read")
        since, timeout = _resume_point(self)
        feed = await self._feed(path)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # nginx: pass each event on at once
        stop = self._stop
        ends = None if timeout is None else asyncio.get_running_loop().call_later(timeout, stop.set)
        events = self.feeds.events(feed, since, stop)
        try:
            await self._send(": stream of " + path.replace("\n", " ")[:200] + "\n\n")
            async for event in events:
                await self._send(": heartbeat\n\n" if event is None else event.sse())
        except ApiError as exc:  # e.g. the notebook was deleted while its room was freed
            try:
                await self._send(Event.of(feed.ring.head, "error", {"error": exc.code, "message": exc.message}).sse())
            except (StreamClosedError, _Slow):
                pass
        except (StreamClosedError, _Slow):
            pass
        finally:
            await events.aclose()
            if ends is not None:
                ends.cancel()
        if not self._gone.is_set():
            self.finish()

    async def _send(self, text: str) -> None:
        if self._gone.is_set():
            raise StreamClosedError()
        self.write(text)
        flushed = self.flush()
        done, _ = await asyncio.wait([flushed], timeout=self.feeds.write_timeout)
        if done:
            flushed.result()
        else:
            flushed.add_done_callback(_consume)
            log.warning(
                "%s: a subscriber took more than %ss to take in its events: disconnected",
                self.request.path,
                self.feeds.write_timeout,
            )
            self._gone.set()
            self.request.connection.close()
            raise _Slow()


def _consume(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()


class _Slow(Exception):
    """A subscriber did not take in what was written to it in time."""


class NotebookEventsHandler(_EventStream):
    async def _feed(self, path: str) -> Any:
        return await self.feeds.feed(path)


class KernelMessagesHandler(_EventStream):
    auth_resource = "kernels"

    async def _feed(self, path: str) -> Any:
        return await self.feeds.kernel_feed(path)


class NotebookEventsSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One subscriber over a websocket: the events as JSON text messages."""

    auth_resource = "contents"

    @property
    def feeds(self) -> NotebookFeeds:
        return self.settings["supernode_notebook_feeds"]

    def set_default_headers(self) -> None:
        """Websockets take none of JupyterHandler's default headers."""

    @ws_authenticated
    async def get(self, path: str) -> None:
        try:
            if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", "contents")):
                raise ApiError("forbidden", "contents:read is required")
            self._since, self._timeout = _resume_point(self)
            self._feed = await self.feeds.feed(path)
        except ApiError as exc:
            self.set_status(exc.status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps({"error": exc.code, "message": exc.message}))
            return
        self._stop = asyncio.Event()
        await super().get(path)

    def open(self, path: str) -> None:
        super().open()  # Jupyter's ping loop
        self.feeds.tasks.spawn(self._send_events(path), f"event stream of {path}")

    async def _send_events(self, path: str) -> None:
        events = self.feeds.events(self._feed, self._since, self._stop)
        ends = None if self._timeout is None else asyncio.get_running_loop().call_later(self._timeout, self._stop.set)
        try:
            async for event in events:
                if event is None:
                    continue  # websocket pings keep the connection open
                await asyncio.wait_for(self.write_message(event.message()), self.feeds.write_timeout)
        except ApiError as exc:
            self.close(1011, json.dumps({"error": exc.code, "message": exc.message})[:120])
            return
        except asyncio.TimeoutError:
            log.warning(
                "%s: a subscriber took more than %ss to take in its events: disconnected",
                path,
                self.feeds.write_timeout,
            )
            self.close(1008, "too slow: reconnect with since=<last id>")
            return
        except WebSocketClosedError:
            return
        except Exception:
            log.exception("the event stream of %s failed", path)
            self.close(1011, "internal error")
            return
        finally:
            await events.aclose()
            if ends is not None:
                ends.cancel()
        self.close(1000, "end of the stream")

    def on_message(self, message: str | bytes) -> None:
        return None

    def on_close(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


_PATH = r"(?P<path>.+)"
HANDLERS = [
    (rf"/api/rtc/notebooks/{_PATH}/events/ws", NotebookEventsSocket),
    (rf"/api/rtc/notebooks/{_PATH}/events", NotebookEventsHandler),
    (rf"/api/rtc/notebooks/{_PATH}/kernel-messages", KernelMessagesHandler),
]
