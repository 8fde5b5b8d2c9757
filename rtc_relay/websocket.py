"""RFC 6455 framing, server side: parse client frames, build server frames.

The relay writes each outgoing frame once and hands the same bytes to every
recipient, so framing is a pure function here (:func:`frame`), and parsing is an
incremental state machine (:class:`FrameParser`) with no I/O.

No extension is negotiated (no permessage-deflate), so reserved bits must be 0.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import sys

from .catalogue import CloseCode, RelayError

__all__ = [
    "OP_BINARY",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameParser",
    "accept_key",
    "close_frame",
    "frame",
    "frame_header",
    "parse_close",
]

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_CONTROL = frozenset((OP_CLOSE, OP_PING, OP_PONG))
_DATA = frozenset((OP_TEXT, OP_BINARY))
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_ZERO_MASK = b"\x00\x00\x00\x00"


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a client's ``Sec-WebSocket-Key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def frame(payload: bytes, opcode: int = OP_BINARY) -> bytes:
    """One unfragmented, unmasked server frame carrying ``payload``."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    return frame_header(n, opcode) + payload


def frame_header(n: int, opcode: int = OP_BINARY) -> bytes:
    """The header of a server frame whose payload has ``n`` bytes (the payload follows it)."""
    if n < 126:
        return bytes((0x80 | opcode, n))
    if n < 0x10000:
        return struct.pack("!BBH", 0x80 | opcode, 126, n)
    return struct.pack("!BBQ", 0x80 | opcode, 127, n)


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with ``code`` and a reason cut to the 123 bytes a control frame allows."""
    data = reason.encode()[:123]
    while True:  # never cut a multi-byte character in half
        try:
            data.decode()
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return frame(struct.pack("!H", code) + data, OP_CLOSE)


def parse_close(payload: bytes) -> tuple[int, str]:
    """``(code, reason)`` of a received close frame; ``(1005, "")`` when it has no code."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise RelayError(CloseCode.PROTOCOL_ERROR, "close frame of 1 byte")
    (code,) = struct.unpack("!H", payload[:2])
    try:
        reason = payload[2:].decode()
    except UnicodeDecodeError:
        raise RelayError(CloseCode.PROTOCOL_ERROR, "close reason is not UTF-8") from None
    return code, reason


def _unmask(mask: bytes, data: bytes | bytearray | memoryview) -> bytes:
    n = len(data)
    if mask == _ZERO_MASK or n == 0:
        return bytes(data)
    key = (mask * ((n + 3) >> 2))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class FrameParser:
    """Turns the bytes a client sends into complete messages and control frames.

    :meth:`feed` returns a list of ``(opcode, payload)``: ``OP_BINARY``/``OP_TEXT``
    for whole (reassembled) messages, and control frames as they come. It raises
    :class:`RelayError` with ``PROTOCOL_ERROR`` for framing violations and
    ``MESSAGE_TOO_BIG`` as soon as a header announces more than
    ``max_message_size`` bytes (before the payload is buffered). ``limit``: at most that many
    messages and control frames are returned; the bytes after them stay buffered for the next call
    (a connection about to be closed for its rate parses no more than its limits let through).
    """

    __slots__ = ("_buf", "_fragments", "_fragments_opcode", "_fragments_size", "max_message_size")

    def __init__(self, max_message_size: int) -> None:
        self.max_message_size = max_message_size
        self._buf = bytearray()
        self._fragments: list[bytes] | None = None
        self._fragments_opcode = 0
        self._fragments_size = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet part of a delivered message."""
        return len(self._buf) + self._fragments_size

    def feed(self, data: bytes, limit: int = sys.maxsize) -> list[tuple[int, bytes]]:
        buf = self._buf
        if buf:
            buf += data
        else:
            buf = bytearray(data)
            self._buf = buf
        out: list[tuple[int, bytes]] = []
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                (length,) = struct.unpack_from("!Q", buf, pos + 2)
                head = pos + 10
                if length >> 63:
                    raise RelayError(CloseCode.PROTOCOL_ERROR, "frame length has its top bit set")
            if not b1 & 0x80:
                raise RelayError(CloseCode.PROTOCOL_ERROR, "client frame is not masked")
            if b0 & 0x70:
                raise RelayError(CloseCode.PROTOCOL_ERROR, "reserved bits set (no extension negotiated)")
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode in _CONTROL:
                if not fin or length > 125:
                    raise RelayError(CloseCode.PROTOCOL_ERROR, "fragmented or oversized control frame")
            elif opcode in _DATA:
                if self._fragments is not None:
                    raise RelayError(CloseCode.PROTOCOL_ERROR, "new message before the previous one ended")
                if length > self.max_message_size:
                    raise RelayError(
                        CloseCode.MESSAGE_TOO_BIG, f"message of {length} bytes > limit {self.max_message_size}"
                    )
            elif opcode == OP_CONTINUATION:
                if self._fragments is None:
                    raise RelayError(CloseCode.PROTOCOL_ERROR, "continuation frame without a message")
                if self._fragments_size + length > self.max_message_size:
                    raise RelayError(CloseCode.MESSAGE_TOO_BIG, f"message > limit {self.max_message_size} bytes")
            else:
                raise RelayError(CloseCode.PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
            end = head + 4 + length
            if end > size:
                break
            payload = _unmask(bytes(buf[head : head + 4]), memoryview(buf)[head + 4 : end])
            pos = end
            if opcode in _CONTROL:
                out.append((opcode, payload))
            elif opcode == OP_CONTINUATION:
                self._fragments.append(payload)  # type: ignore[union-attr]
                self._fragments_size += length
                if fin:
                    out.append((self._fragments_opcode, b"".join(self._fragments)))  # type: ignore[arg-type]
                    self._fragments = None
                    self._fragments_size = 0
            elif fin:
                out.append((opcode, payload))
            else:
                self._fragments = [payload]
                self._fragments_opcode = opcode
                self._fragments_size = length
            if len(out) >= limit:
                break
        if pos:
            if pos == size:
                self._buf = bytearray()
            else:
                del buf[:pos]
        return out
