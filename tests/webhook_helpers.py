"""A real HTTP receiver on loopback for webhook tests: records every request, answers as told."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from typing import Any


class WebhookReceiver:
    """An HTTP/1.1 server on 127.0.0.1 (port 0) that records the POSTs it gets.

    ``status``: the status it answers (change it at any time: 500 makes the relay retry); ``delay``: seconds
    it waits before answering (longer than the relay's webhook timeout: a slow receiver). ``requests``:
    every request received, answered or not, as ``(headers, body)``; ``events``: the bodies of those it
    answered with a 2xx, parsed, in arrival order.
    """

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/hooks?key=k"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            lines = head.split("\r\n")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name:
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            headers["request-line"] = lines[0]
            self.requests.append((headers, body))
            self._changed.set()
            if self.delay:
                await asyncio.sleep(self.delay)
            status = self.status
            if 200 <= status < 300:
                self.events.append(json.loads(body))
                self._changed.set()
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0, what: str = "events") -> None:
        """Wait until ``predicate()`` holds (checked on every request), at most ``timeout`` seconds."""

        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(wait(), timeout)
        except asyncio.TimeoutError:
            summary = [(e["type"], e["room"]) for e in self.events]
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; events: {summary}") from None

    def of(self, kind: str, room: str | None = None) -> list[dict[str, Any]]:
        """The delivered events of type ``kind`` (in ``room``)."""
        return [e for e in self.events if e["type"] == kind and (room is None or e["room"] == room)]


def dead_url() -> str:
    """An http:// URL on loopback where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"
