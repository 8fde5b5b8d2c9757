"""A notebook's change feed (``GET /api/rtc/notebooks/{path}/events``, Server-Sent Events) as an async iterator.

Usage::

    async with JupyterClient(url, token) as server:
        async with server.notebook_events("analysis.ipynb") as events:
            async for event in events:
                print(event["id"], event["event"], event["data"])

Each event is ``{"id": <sequence number>, "event": <type>, "data": <dict>}`` (types and bodies:
``schema/notebook-event.json``). The first is a ``snapshot`` of the notebook unless ``since`` names an
event to resume after. When the connection drops, the iterator reconnects by itself (after 0.5 s, then
twice as long each time up to 5 s) sending ``Last-Event-ID``: the server then sends every event
missed, or ``resync`` with the whole notebook if they are too old. No event is skipped or repeated.

The HTTP connection is read only as fast as the events are consumed (no buffer grows on this side); a
consumer too slow for the server's ring of events gets ``resync``. A connection silent for
``idle_timeout`` seconds (no event, no heartbeat) counts as dropped. With ``reconnect=False`` a dropped
connection raises ``ConnectionFailed``. ``timeout`` (seconds) asks the server
to end the stream then, and ends the iteration. An ``error`` event, or an answer that is not a stream
(403, 404), raises the :mod:`rtc_client.errors` class of its code; an unreachable server raises
``ConnectionFailed`` once ``retries`` reconnections in a row have failed.

Resource handling: one connection at a time, closed by ``aclose()`` (or leaving ``async with``).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from .errors import ConnectionFailed, error_for_status
from .rest import quote_path

__all__ = ["NotebookEvents", "parse_sse"]

_FIRST_DELAY, _MAX_DELAY = 0.5, 5.0
_LINE_LIMIT = 64 * 1024 * 1024  # the longest event (a resync of a large notebook) the reader takes


class NotebookEvents:
    """The events of notebook ``path`` on the server at ``base_url``; see the module docstring.

    ``kind``: ``"events"`` (the change feed) or ``"kernel-messages"`` (the raw kernel messages).
    ``idle_timeout``: seconds without a byte from the server (it sends a heartbeat every 15 s by default)
    after which the connection counts as dropped (a network that cut it without telling either end).
    """

    def __init__(
        self,
        base_url: str,
        path: str,
        token: str | None = None,
        *,
        since: int | None = None,
        timeout: float | None = None,
        reconnect: bool = True,
        retries: int = 5,
        kind: str = "events",
        idle_timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.path = path
        self.token = token
        self.last_id = since
        self.timeout = timeout
        self.reconnect = reconnect
        self.retries = retries
        self.kind = kind
        self.idle_timeout = idle_timeout
        self.connections = 0  # how many times a stream was opened (1 + reconnections)
        self._writer: asyncio.StreamWriter | None = None
        self._iterator: AsyncIterator[dict[str, Any]] | None = None

    async def __aenter__(self) -> NotebookEvents:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def __anext__(self) -> dict[str, Any]:
        return await self.__aiter__().__anext__()

    async def aclose(self) -> None:
        if self._iterator is not None:
            await self._iterator.aclose()  # type: ignore[attr-defined]
        self._close()

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        failures = 0
        delay = _FIRST_DELAY
        while True:
            try:
                reader, chunked = await self._open()
            except ConnectionFailed:
                failures += 1
                if not self.reconnect or failures > self.retries:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)
                continue
            failures, delay = 0, _FIRST_DELAY
            ended = False
            try:
                async for event in parse_sse(_chunks(reader, chunked, self.idle_timeout)):
                    if event["event"] == "error":
                        data = event["data"] if isinstance(event["data"], dict) else {}
                        raise error_for_status(0, data, "the event stream failed")
                    if event["id"] is not None:
                        self.last_id = event["id"]
                    yield event
                ended = True
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                if not self.reconnect:  # the connection dropped, and it is not ours to reconnect: said, not hidden
                    raise ConnectionFailed(f"the event stream of {self.path} was cut: {exc!r}") from None
            finally:
                self._close()
            if ended and (self.timeout is not None or not self.reconnect):
                return  # the server ended it (its ?timeout=)
            await asyncio.sleep(delay)

    async def _open(self) -> tuple[asyncio.StreamReader, bool]:
        """Send the request; return the reader at the start of the body and whether the body is chunked
        (raise for an error answer)."""
        url = urlsplit(self.base_url)
        secure = url.scheme == "https"
        host, port = url.hostname or "127.0.0.1", url.port or (443 if secure else 80)
        query = {}
        if self.timeout is not None:
            query["timeout"] = str(self.timeout)
        target = f"{url.path}api/rtc/notebooks/{quote_path(self.path.strip('/'))}/{self.kind}"
        if query:
            target += "?" + urlencode(query)
        headers = {"Host": url.netloc, "Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        try:
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if secure else None, limit=_LINE_LIMIT
            )
        except OSError as exc:
            raise ConnectionFailed(f"cannot reach {self.base_url}: {exc}") from None
        self._writer = writer
        writer.write(
            (f"GET {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
        )
        try:
            status_line = await reader.readline()
            parts = status_line.decode("latin-1").split(" ", 2)
            status = int(parts[1])
            answer: dict[str, str] = {}
            while True:
                line = (await reader.readline()).decode("latin-1").strip()
                if not line:
                    break
                name, _, value = line.partition(":")
                answer[name.strip().lower()] = value.strip()
        except (OSError, ValueError, IndexError) as exc:
            self._close()
            raise ConnectionFailed(f"{self.base_url} did not answer the event stream request: {exc}") from None
        self.connections += 1
        if status != 200 or "text/event-stream" not in answer.get("content-type", ""):
            body = await _read_body(reader, answer)
            self._close()
            try:
                decoded: Any = json.loads(body)
            except ValueError:
                decoded = body
            raise error_for_status(status, decoded, f"GET {target}: HTTP {status}")
        # A plain body (HTTP/1.0, a proxy that unchunks) is read to the end of the connection.
        return reader, answer.get("transfer-encoding", "").lower() == "chunked"


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> str:
    try:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            return b"".join([chunk async for chunk in _chunks(reader, True, 30.0)]).decode("utf-8", "replace")
        length = int(headers.get("content-length", "0") or 0)
        return (await reader.readexactly(length)).decode("utf-8", "replace")
    except (OSError, ValueError, asyncio.IncompleteReadError):
        return ""


async def _chunks(reader: asyncio.StreamReader, chunked: bool, idle: float) -> AsyncIterator[bytes]:
    """The body's bytes as they arrive (HTTP/1.1 chunked, or up to the end of the connection); raises
    ``asyncio.TimeoutError`` when nothing comes for ``idle`` seconds."""
    if not chunked:
        while data := await asyncio.wait_for(reader.read(65536), idle):
            yield data
        return
    while True:
        size_line = await asyncio.wait_for(reader.readline(), idle)
        if not size_line:
            raise asyncio.IncompleteReadError(b"", None)
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            await asyncio.wait_for(reader.readline(), idle)  # the blank line after the last chunk
            return
        data = await asyncio.wait_for(reader.readexactly(size), idle)
        await asyncio.wait_for(reader.readexactly(2), idle)
        yield data


async def parse_sse(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """Server-Sent Events from a body's bytes: ``{"id", "event", "data"}`` per event (``data`` decoded
    from JSON when it is JSON; ``id`` an int or None); comments (heartbeats) are skipped."""
    pending = b""
    fields: dict[str, list[str]] = {}
    async for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8").rstrip("\r")
            if not line:
                if "data" in fields or "event" in fields:
                    yield _event(fields)
                fields = {}
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)


def _event(fields: dict[str, list[str]]) -> dict[str, Any]:
    text = "\n".join(fields.get("data", []))
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = text
    raw_id = (fields.get("id") or [None])[-1]
    return {
        "id": int(raw_id) if raw_id is not None and raw_id.isdigit() else None,
        "event": (fields.get("event") or ["message"])[-1],
        "data": data,
    }
