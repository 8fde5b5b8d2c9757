"""The HTTP/1.1 upgrade that opens a websocket (RFC 6455 section 4), both sides, hand-rolled.

Contracts:
- ``split_head(buf)`` returns ``(head, rest)`` once ``buf`` holds a complete HTTP head (up to and
  including the blank line), else ``None``. Raises ``HandshakeError`` if the head grows past 16 KiB.
- ``parse_request(head)`` -> ``(path, headers)`` for a GET upgrade; header names are lower-cased.
- ``build_request(host, port, path, key)`` / ``build_response(key)`` / ``build_reject(status)``
  give the exact bytes to write.
- ``check_response(head, key)`` raises ``HandshakeError`` unless it is a 101 with the right accept.
"""

from __future__ import annotations

from wsframe import accept_key

MAX_HEAD = 16 * 1024


class HandshakeError(Exception):
    """The peer's upgrade request or response is not an acceptable websocket handshake."""


def split_head(buf: bytes) -> tuple[bytes, bytes] | None:
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        if len(buf) > MAX_HEAD:
            raise HandshakeError("HTTP head too large")
        return None
    return buf[: i + 4], buf[i + 4 :]


def _headers(lines: list[bytes]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise HandshakeError(f"malformed header line {line[:80]!r}")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers


def parse_request(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[0] != b"GET":
        raise HandshakeError(f"not a GET request line: {lines[0][:80]!r}")
    headers = _headers(lines[1:])
    if headers.get("upgrade", "").lower() != "websocket" or "sec-websocket-key" not in headers:
        raise HandshakeError("missing Upgrade: websocket or Sec-WebSocket-Key")
    return parts[1].decode("latin-1"), headers


def build_response(key: str) -> bytes:
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode("ascii")


def build_reject(status: str) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("ascii")


def build_request(host: str, port: int, path: str, key: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode("ascii")


def check_response(head: bytes, key: str) -> None:
    lines = head.split(b"\r\n")
    status = lines[0].split(b" ", 2)
    if len(status) < 2 or status[1] != b"101":
        raise HandshakeError(f"upgrade refused: {lines[0][:120]!r}")
    headers = _headers(lines[1:])
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise HandshakeError("wrong Sec-WebSocket-Accept")
    if "sec-websocket-extensions" in headers:
        raise HandshakeError("server accepted an extension that was never offered")
