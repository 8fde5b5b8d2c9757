"""The Python client of the change feed against a real HTTP server on loopback that misbehaves: a connection
that goes silent counts as dropped, and the client reconnects with the id of the last event it got."""

from __future__ import annotations

import asyncio
import json

import pytest

from rtc_client.errors import ConnectionFailed
from rtc_client.notebook_events import NotebookEvents

DEADLINE = 10.0


class SilentServer:
    """Answers each request with one event (numbered by the request), then sends nothing more."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.server: asyncio.base_events.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> SilentServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        headers: dict[str, str] = {}
        await reader.readline()
        while line := (await reader.readline()).decode().strip():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.requests.append(headers)
        n = len(self.requests)
        body = f"id: {100 + n}\nevent: source_changed\ndata: {json.dumps({'n': n})}\n\n".encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(body):x}\r\n".encode() + body + b"\r\n"
        )  # fmt: skip
        await writer.drain()


async def test_a_silent_connection_is_dropped_and_resumed_with_the_last_event_id():
    async with SilentServer() as server:
        events = NotebookEvents(server.url, "a.ipynb", "tok", idle_timeout=0.3)
        got = []
        async with events:
            async for event in events:
                got.append(event)
                if len(got) == 3:
                    break
        assert [e["data"] for e in got] == [{"n": 1}, {"n": 2}, {"n": 3}]
        assert [r.get("last-event-id") for r in server.requests] == [None, "101", "102"]
        assert server.requests[0]["authorization"] == "token tok"
        assert events.connections == 3


async def test_without_reconnect_a_dropped_connection_is_an_error_not_an_end():
    async with SilentServer() as server:
        events = NotebookEvents(server.url, "a.ipynb", idle_timeout=0.3, reconnect=False)
        with pytest.raises(ConnectionFailed, match="was cut"):
            async with events:
                async for _ in events:
                    pass
