"""The change feeds of the server's notebooks (one per notebook, created by its first subscriber), and
their raw kernel-message feeds.

Configuration (``c.NotebookFeeds.…``): ``max_events`` and ``max_bytes`` bound each feed's ring of
events (what a reconnecting client can resume from); ``linger`` is how long a feed keeps following
its notebook after its last subscriber left, so a client that reconnects within it resumes with no
gap (later, a new feed numbers its events afresh and an old ``Last-Event-ID`` gets ``resync``);
``heartbeat`` and ``write_timeout`` are the transports' (:mod:`supernode.notebook_feed_handlers`).

Sequence numbers: a feed starts numbering at its creation time in microseconds (above any number an
earlier feed of this process gave), so numbers only grow for a notebook, across feeds and across
restarts of the server, and a number from an earlier feed is always too old to resume from.

Who tells the feeds: the document manager's events on jupyter_server's event bus (a room loaded: the
feed attaches to the new document; freed: it lets the old one go), the execution manager's record
watchers (execution events) and its kernel-message watchers (the raw feed). A feed never keeps a
room loaded (see :mod:`supernode.notebook_feed`).

Resource handling: a feed's memory is its ring (bounded) and what it mirrors of its notebook (the
cells' sources and the last line of each stream output); a subscriber is a cursor in the ring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from jupyter_core.utils import ensure_async
from traitlets import Float, Int
from traitlets.config import LoggingConfigurable

from .errors import ApiError
from .event_ring import Event, EventRing
from .events import DOCUMENT_EVENTS
from .keys import DocumentKey
from .notebook_feed import NotebookFeed

__all__ = ["KernelMessageFeed", "NotebookFeeds"]

log = logging.getLogger("supernode.feeds")


class KernelMessageFeed:
    """The kernel messages the executor sees for one notebook (by path), as ``kernel_message`` events."""

    def __init__(self, path: str, ring: EventRing) -> None:
        self.path = path
        self.ring = ring
        self.subscribers = 0

    def message(self, channel: str, msg: dict[str, Any], execution_id: str | None, cell_id: str | None) -> None:
        header, parent = msg.get("header") or {}, msg.get("parent_header") or {}
        date = header.get("date")
        self.ring.append(
            "kernel_message",
            {
                "channel": channel,
                "msg_type": msg.get("msg_type") or header.get("msg_type"),
                "msg_id": header.get("msg_id"),
                "parent_msg_id": parent.get("msg_id"),
                "date": date.isoformat() if hasattr(date, "isoformat") else date,
                "execution_id": execution_id,
                "cell_id": cell_id,
                "content": msg.get("content"),
                "buffers": len(msg.get("buffers") or ()),
            },
        )


class NotebookFeeds(LoggingConfigurable):
    """The feeds of one server; see the module docstring."""

    max_events = Int(10_000, config=True, help="Most events each notebook's feed keeps for clients that reconnect.")
    max_bytes = Int(
        8 * 1024 * 1024,
        config=True,
        help="Most bytes of JSON each notebook's feed keeps (the newest event always stays): a client that "
        "reconnects after more than this was written gets resync instead of the events it missed.",
    )
    kernel_messages = Int(1_000, config=True, help="Most kernel messages each raw kernel-message feed keeps.")
    linger = Float(
        60.0,
        config=True,
        help="Seconds a feed keeps following its notebook after its last subscriber left, so that a client "
        "reconnecting within that time gets every event it missed.",
    )
    heartbeat = Float(15.0, config=True, help="Seconds between heartbeats (SSE comments) on an idle event stream.")
    write_timeout = Float(
        30.0,
        config=True,
        help="Seconds a subscriber may take to take in what was written to it; one slower is disconnected "
        "(it reconnects with Last-Event-ID and resumes, or gets resync).",
    )

    def __init__(self, *, documents: Any, executions: Any, tasks: Any, event_logger: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tasks = tasks  # the supernode's TaskSet: the websocket subscribers' senders
        self.documents = documents
        self.executions = executions
        self.event_logger = event_logger
        self.feeds: dict[str, NotebookFeed] = {}  # by room
        self.kernel_feeds: dict[str, KernelMessageFeed] = {}  # by path
        self._high = 0  # the highest number a dropped feed gave
        self._expiry: dict[int, asyncio.TimerHandle] = {}  # id(feed) -> its lingering end
        executions.watchers.append(self._on_record)
        if event_logger is not None:
            event_logger.add_listener(schema_id=DOCUMENT_EVENTS, listener=self._on_document_event)

    def stop(self) -> None:
        """Let every document go; the subscribers' streams end with the server."""
        if self._on_record in self.executions.watchers:
            self.executions.watchers.remove(self._on_record)
        if self._on_message in self.executions.message_watchers:
            self.executions.message_watchers.remove(self._on_message)
        if self.event_logger is not None:
            self.event_logger.remove_listener(schema_id=DOCUMENT_EVENTS, listener=self._on_document_event)
        for timer in self._expiry.values():
            timer.cancel()
        for feed in self.feeds.values():
            feed.detach()

    def _ring(self, size: int, max_bytes: int) -> EventRing:
        first = max(time.time_ns() // 1000, self._high + 1)
        self._high = first
        return EventRing(first=first, max_events=size, max_bytes=max_bytes)

    # -- feeds -------------------------------------------------------------------------------------

    async def feed(self, path: str) -> NotebookFeed:
        """The feed of notebook ``path``, following its live document (loaded if it was not).

        Raises ``ApiError("not_found")`` if there is no such notebook (or it cannot be read as one).
        """
        live = await self.documents.document_for_path(path.strip("/"))
        if live is None:
            raise ApiError("not_found", f"no notebook {path}")
        room = live.key.room
        feed = self.feeds.get(room)
        if feed is None:
            feed = self.feeds[room] = NotebookFeed(room, live.path, self._ring(self.max_events, self.max_bytes))
        feed.attach(live)
        return feed

    async def _exists(self, path: str) -> bool:
        try:
            return bool(await ensure_async(self.documents.contents_manager.file_exists(path)))
        except Exception:  # an invalid path (outside the root, a NUL byte): no such file either
            return False

    async def kernel_feed(self, path: str) -> KernelMessageFeed:
        """The raw kernel-message feed of notebook ``path``; ``ApiError("not_found")`` if there is no such file."""
        path = path.strip("/")
        if not await self._exists(path):
            raise ApiError("not_found", f"no notebook {path}")
        feed = self.kernel_feeds.get(path)
        if feed is None:
            feed = self.kernel_feeds[path] = KernelMessageFeed(path, self._ring(self.kernel_messages, self.max_bytes))
            if self._on_message not in self.executions.message_watchers:
                self.executions.message_watchers.append(self._on_message)
        return feed

    async def events(
        self, feed: NotebookFeed | KernelMessageFeed, since: int | None, stop: asyncio.Event
    ) -> AsyncIterator[Event | None]:
        """A subscriber's events: ``snapshot`` first when ``since`` is None (a notebook's feed; the raw
        feed starts with what comes next), else every event after ``since``, or ``resync`` if some are
        no longer kept; then the events as they come, None for a heartbeat, until ``stop`` is set.
        A subscriber that falls behind the ring gets ``resync`` and goes on from there. An ``error`` event
        (the notebook was deleted and its room freed) is the last."""
        self._subscribe(feed)
        try:
            ring = feed.ring
            # A snapshot or resync includes every event up to its own number: the subscriber goes on from there.
            if since is None:
                cursor = ring.head
                if isinstance(feed, NotebookFeed):
                    whole = await self._whole(feed, "snapshot", None)
                    cursor = whole.seq
                    yield whole
            elif ring.knows(since):
                cursor = since
            else:
                whole = await self._whole(feed, "resync", "too_old" if since < ring.floor else "unknown")
                cursor = whole.seq
                yield whole
            while not stop.is_set():
                async for event in ring.follow(cursor, idle=self.heartbeat, stop=stop):
                    if event is not None:
                        cursor = event.seq
                    yield event
                    if event is not None and event.type == "error":
                        return
                if not stop.is_set():  # behind: what it missed is gone
                    whole = await self._whole(feed, "resync", "behind")
                    cursor = whole.seq
                    yield whole
        finally:
            self._unsubscribe(feed)

    async def _whole(self, feed: NotebookFeed | KernelMessageFeed, kind: str, reason: str | None) -> Event:
        """A ``snapshot`` or ``resync`` for one subscriber, numbered as the newest event it includes."""
        data: dict[str, Any] = {} if reason is None else {"reason": reason}
        if isinstance(feed, NotebookFeed):
            if feed.live is None:  # its room was freed: loaded again (any change since is in the ring first)
                key = DocumentKey.parse(feed.room)
                path = (self.documents.file_ids.get_path(key.file_id) if key else None) or feed.path
                await self.feed(path)  # (renamed meanwhile: the file id knows where it went)
                if feed.live is None:
                    raise ApiError("not_found", f"the notebook {feed.path} cannot be loaded again")
            data["notebook"] = feed.notebook()
        return Event.of(feed.ring.head, kind, data)

    def _subscribe(self, feed: NotebookFeed | KernelMessageFeed) -> None:
        feed.subscribers += 1
        timer = self._expiry.pop(id(feed), None)
        if timer is not None:
            timer.cancel()

    def _unsubscribe(self, feed: NotebookFeed | KernelMessageFeed) -> None:
        feed.subscribers -= 1
        if feed.subscribers == 0:
            loop = asyncio.get_running_loop()
            self._expiry[id(feed)] = loop.call_later(self.linger, self._expire, feed)

    def _expire(self, feed: NotebookFeed | KernelMessageFeed) -> None:
        timer = self._expiry.pop(id(feed), None)
        if timer is not None:
            timer.cancel()
        if feed.subscribers:
            return
        self._high = max(self._high, feed.ring.head)
        if isinstance(feed, NotebookFeed):
            if self.feeds.get(feed.room) is feed:
                del self.feeds[feed.room]
            feed.detach()
        else:
            if self.kernel_feeds.get(feed.path) is feed:
                del self.kernel_feeds[feed.path]
            if not self.kernel_feeds and self._on_message in self.executions.message_watchers:
                self.executions.message_watchers.remove(self._on_message)

    # -- what the feeds are told ----------------------------------------------------------------------

    async def _on_document_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        feed = self.feeds.get(data.get("room", ""))
        if feed is None:
            return
        action = data.get("action")
        if action == "loaded":
            live = self.documents.live.get(feed.room)
            if live is not None:
                feed.attach(live)
        elif action == "freed":
            if feed.live is not None and self.documents.live.get(feed.room) is not feed.live:
                feed.detach()
                if not feed.subscribers:
                    self._expire(feed)
                elif not await self._exists(feed.path):
                    # Gone for good: its subscribers' streams end, instead of waiting for a load that cannot come.
                    message = f"the notebook {feed.path} was deleted"
                    feed.ring.append("error", {"error": "not_found", "message": message})
        elif action == "renamed" and data.get("path"):
            feed.path = data["path"]

    def _on_record(self, record: dict[str, Any]) -> None:
        for feed in self.feeds.values():
            if feed.path == record.get("path"):
                feed.record(record)

    def _on_message(
        self, path: str, channel: str, msg: dict[str, Any], execution_id: str | None, cell_id: str | None
    ) -> None:
        feed = self.kernel_feeds.get(path)
        if feed is not None:
            feed.message(channel, msg, execution_id, cell_id)
