"""One webhook URL: a bounded queue of signed events and the loop that POSTs them, in order.

A :class:`WebhookEndpoint` takes events (already encoded JSON) with :meth:`WebhookEndpoint.put`, which never
blocks and never fails: at most ``capacity`` events wait; beyond, the oldest waiting one is dropped and counted.
One delivery loop POSTs them one at a time, oldest first, so a receiver sees each room's events in the order
they happened, and signs each attempt afresh (``X-RTC-Signature``, see :mod:`rtc_relay.webhooks`).

Outcome of an attempt: a 2xx answer delivers the event. A 4xx other than 408 and 429 rejects it for good
(the receiver said it does not want it; dropped and counted as ``rejected``). Anything else (a refused or
dropped connection, a 5xx, 408, 429, or no answer head within ``timeout`` seconds) fails the attempt: the
event stays first in line and is tried again after a back-off of 0.1 s doubling up to ``max_backoff``
seconds, while newer events queue behind it within ``capacity``.

Credentials in the URL (``https://user:password@host/path``) are sent as HTTP basic authentication; the query
string is sent as it is. Neither appears in logs or metric labels.

Resource handling: memory is bounded by ``capacity`` events plus the one in flight; each request is bounded
by ``timeout`` seconds; the loop is a long-lived task of the relay's :class:`~rtc_common.tasks.TaskSet`
(its death is reported on ``/health``). Error handling: failures are logged once when an endpoint starts
failing and once when it recovers, never once per attempt.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections import deque
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from rtc_common.tasks import Ready

__all__ = ["WebhookEndpoint", "check_url", "public_url"]

log = logging.getLogger("rtc_relay.webhooks")

FIRST_BACKOFF = 0.1  # seconds before the first retry
_MAX_ANSWER_HEAD = 16 * 1024


def _retrieve(task: asyncio.Future[int]) -> None:
    """Mark a request's outcome as seen (a request cut by its timeout ends later, cancelled)."""
    if not task.cancelled():
        task.exception()


def check_url(url: str) -> None:
    """Raise ``ValueError`` (saying why) unless ``url`` is an http:// or https:// URL with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--webhook {public_url(url)!r} must be an http:// or https:// URL with a host")
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"--webhook {public_url(url)!r} has a bad port") from None


def public_url(url: str) -> str:
    """``url`` without credentials or query (which may hold secrets), for logs and metric labels."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class WebhookEndpoint:
    """The queue and delivery loop of one URL. ``sign(body) -> headers`` adds the signature headers."""

    def __init__(
        self,
        url: str,
        *,
        sign: Callable[[bytes], dict[str, str]],
        capacity: int,
        timeout: float,
        max_backoff: float,
    ) -> None:
        self.url = url
        self.label = public_url(url)
        self._parts = urlsplit(url)
        self._sign = sign
        self._capacity = capacity
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._queue: deque[tuple[str, bytes]] = deque()  # (event type, body), oldest first
        self._inflight: tuple[str, bytes] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._failing = 0  # attempts failed in a row
        self._overflowing = False  # events were dropped since the last delivery
        self.delivered = 0
        self.failed_attempts = 0
        self.dropped: dict[str, int] = {"overflow": 0, "rejected": 0}

    @property
    def waiting(self) -> int:
        """Events not delivered yet (queued, and the one in flight)."""
        return len(self._queue) + (self._inflight is not None)

    def put(self, kind: str, body: bytes) -> None:
        """Queue one event (``kind``: its type, for logs); drop the oldest waiting one when full."""
        if len(self._queue) >= self._capacity:
            self._queue.popleft()
            self._drop("overflow")
        self._queue.append((kind, body))
        self._idle.clear()
        self._wake.set()

    def _drop(self, reason: str) -> None:
        """An event was pushed out of the full queue (logged once until the endpoint delivers again)."""
        if not self._overflowing:
            self._overflowing = True
            log.warning(
                "webhook %s: queue full (%d events): dropping the oldest (counted in /metrics)",
                self.label,
                self._capacity,
            )
        self.dropped[reason] += 1

    async def drained(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every queued event is delivered; True if they are."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def run(self, ready: Ready) -> None:
        """The delivery loop (see the module docstring); runs until cancelled."""
        ready()
        backoff = FIRST_BACKOFF
        while True:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            self._inflight = event = self._queue.popleft()
            kind, body = event
            outcome, detail = await self._attempt(body)
            self._inflight = None
            if outcome == "failed":
                self.failed_attempts += 1
                if not self._failing:
                    log.warning("webhook %s: delivery failed (%s); retrying with back-off", self.label, detail)
                self._failing += 1
                if len(self._queue) < self._capacity:
                    self._queue.appendleft(event)  # first in line again: order is kept
                else:  # newer events filled the queue meanwhile: this one is the oldest
                    self._drop("overflow")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if self._failing:
                log.info("webhook %s: delivering again after %d failed attempts", self.label, self._failing)
                self._failing = 0
            backoff = FIRST_BACKOFF
            self._overflowing = False
            if outcome == "rejected":
                log.warning("webhook %s: %s event rejected (%s); dropped", self.label, kind, detail)
                self.dropped["rejected"] += 1
            else:
                self.delivered += 1

    async def _attempt(self, body: bytes) -> tuple[str, str]:
        """POST ``body`` once: ``("delivered" | "rejected" | "failed", detail)``."""
        # Not asyncio.wait_for: on Python 3.11 it loses a cancellation that arrives as the request ends,
        # and the loop would outlive the relay.
        post = asyncio.ensure_future(self._post(body))
        post.add_done_callback(_retrieve)
        try:
            await asyncio.wait((post,), timeout=self._timeout)
        finally:
            post.cancel()  # (no-op once it is done)
        if not post.done() or post.cancelled():
            return "failed", f"no answer within {self._timeout}s"
        exc = post.exception()
        if exc is not None:  # refused, reset, not HTTP, a certificate refused...: all worth another try
            return "failed", f"{type(exc).__name__}: {exc}"
        status = post.result()
        if 200 <= status < 300:
            return "delivered", str(status)
        if 400 <= status < 500 and status not in (408, 429):
            return "rejected", f"HTTP {status}"
        return "failed", f"HTTP {status}"

    async def _post(self, body: bytes) -> int:
        """One ``Connection: close`` POST; the answer's status (its body is not read)."""
        parts = self._parts
        https = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        context = ssl.create_default_context() if https else None
        reader, writer = await asyncio.open_connection(host, port, ssl=context, limit=_MAX_ANSWER_HEAD)
        try:
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            netloc = parts.netloc.rpartition("@")[2]
            headers = {
                "Host": netloc,
                "User-Agent": "rtc_relay",
                "Content-Type": "application/json",
                "Content-Length": str(len(body)),
                "Connection": "close",
                **self._sign(body),
            }
            if parts.username is not None:  # https://user:password@host/...: HTTP basic authentication
                credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
            head = f"POST {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
            line = await reader.readuntil(b"\r\n")
            version, _, rest = line.decode("latin-1").partition(" ")
            if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
                raise ValueError(f"not an HTTP answer: {line[:80]!r}")
            return int(rest[:3])
        finally:
            writer.close()
