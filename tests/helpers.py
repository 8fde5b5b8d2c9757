"""Small test helpers: waiting on a condition with a deadline, raw websocket access."""

from __future__ import annotations

import asyncio
import base64
import os
import urllib.request
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until ``predicate()`` holds, checking every 10 ms; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def raw_ws(url: str, **kw: object) -> ClientConnection:
    """A plain websocket (no y-protocol logic) for sending arbitrary messages."""
    return await connect(url, max_size=None, ping_interval=None, **kw)  # type: ignore[arg-type]


async def close_code_of(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Read until the relay closes ``ws``; return the close code it sent."""

    async def drain() -> None:
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass

    await asyncio.wait_for(drain(), timeout)
    rcvd = ws.protocol.close_rcvd
    return rcvd.code if rcvd is not None else None


async def http_get(url: str) -> tuple[int, str]:
    """GET ``url`` in a thread; return (status, body) for any status."""

    def fetch() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    return await asyncio.to_thread(fetch)


async def raw_tcp_upgrade(host: str, port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection and complete a websocket upgrade by hand (for framing tests)."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head
    return reader, writer


def masked_frame(payload: bytes, opcode: int = 2, mask: bytes = b"\x00\x00\x00\x00") -> bytes:
    """A client frame (masked, FIN set)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if mask != b"\x00\x00\x00\x00" else payload
    return head + mask + masked


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One unmasked server frame: ``(opcode, payload)``."""
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    return b0 & 0x0F, await reader.readexactly(n)


async def read_server_frames_until_close(reader: asyncio.StreamReader, timeout: float = 5.0) -> int:
    """Read unmasked server frames until a close frame; return its code."""

    async def run() -> int:
        while True:
            opcode, payload = await read_frame(reader)
            if opcode == 0x8:
                return int.from_bytes(payload[:2], "big")

    return await asyncio.wait_for(run(), timeout)


async def http_request(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, str, bytes]:
    """One request in a thread; ``(status, content type, body bytes)`` for any status."""

    def fetch() -> tuple[int, str, bytes]:
        request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    return await asyncio.to_thread(fetch)
