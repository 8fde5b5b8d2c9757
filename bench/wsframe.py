"""Hand-rolled RFC 6455 websocket framing and handshake, shared by the baseline relay and the loadgen.

Only what a binary broadcast relay and a cheap load generator need: no extensions (no
permessage-deflate is ever offered or accepted), no text validation, no subprotocols.

Contracts:
- ``encode_frame(opcode, payload, mask)`` returns one complete FIN frame as bytes. ``mask=False``
  gives a server frame; ``mask=True`` gives a client frame with the mask bit set and an all-zero
  masking key, which RFC 6455 allows and which makes masking a no-op (the payload is sent as is).
- ``FrameReader.feed(data)`` takes bytes as they arrive from TCP (any split, any number of frames
  per chunk) and returns the complete messages they finish, as ``(opcode, payload)`` pairs in order.
  Fragmented data messages are reassembled; control frames are returned as soon as complete. Masked
  frames are unmasked whatever the key. Raises ``ProtocolError`` on a malformed stream.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_ZERO_KEY = b"\x00\x00\x00\x00"

# Guard against a peer announcing an absurd length; 64 MiB covers the 5 MB join scenario with room.
DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024


class ProtocolError(Exception):
    """The byte stream is not valid websocket framing (or exceeds the size limit)."""


def accept_key(sec_websocket_key: str) -> str:
    """Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 section 4.2.2)."""
    digest = hashlib.sha1(sec_websocket_key.encode("ascii") + _GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def new_client_key() -> str:
    """A fresh random Sec-WebSocket-Key (16 random bytes, base64)."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def frame_header(opcode: int, length: int, mask: bool) -> bytes:
    """Header of a FIN frame carrying ``length`` payload bytes; with ``mask`` adds a zero masking key."""
    b0 = 0x80 | opcode
    mbit = 0x80 if mask else 0
    if length < 126:
        head = bytes((b0, mbit | length))
    elif length < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, length)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, length)
    return head + _ZERO_KEY if mask else head


def encode_frame(opcode: int, payload: bytes, mask: bool) -> bytes:
    """One complete FIN frame (see module docstring for the masking rule)."""
    return frame_header(opcode, len(payload), mask) + payload


def unmask(payload: bytes, key: bytes) -> bytes:
    """XOR ``payload`` with the repeating 4-byte ``key``; done as one big-int XOR so it runs in C."""
    if key == _ZERO_KEY:
        return payload
    n = len(payload)
    if n == 0:
        return payload
    stream = (key * (n // 4 + 1))[:n]
    x = int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")
    return x.to_bytes(n, "little")


class FrameReader:
    """Incremental websocket frame parser (see module docstring).

    Buffered chunks are only joined once enough bytes for the next step have arrived, so a large
    message arriving in many TCP reads costs O(size), not O(size^2).
    """

    __slots__ = ("_chunks", "_have", "_need", "_frag_op", "_frag_parts", "_frag_len", "max_message")

    def __init__(self, max_message: int = DEFAULT_MAX_MESSAGE) -> None:
        self._chunks: list[bytes] = []
        self._have = 0
        self._need = 2  # bytes required before parsing can make progress
        self._frag_op: int | None = None
        self._frag_parts: list[bytes] = []
        self._frag_len = 0
        self.max_message = max_message

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._chunks.append(data)
        self._have += len(data)
        if self._have < self._need:
            return []
        buf = self._chunks[0] if len(self._chunks) == 1 else b"".join(self._chunks)
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        need = 2
        while True:
            if end - pos < 2:
                need = 2
                break
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            hlen = 2
            if length == 126:
                hlen = 4
                if end - pos < hlen:
                    need = hlen
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
            elif length == 127:
                hlen = 10
                if end - pos < hlen:
                    need = hlen
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            masked = b1 & 0x80
            if masked:
                hlen += 4
            total = hlen + length
            if length > self.max_message:
                raise ProtocolError(f"frame of {length} bytes exceeds limit {self.max_message}")
            if end - pos < total:
                need = total
                break
            payload = buf[pos + hlen : pos + total]
            if masked:
                payload = unmask(payload, buf[pos + hlen - 4 : pos + hlen])
            pos += total
            if b0 & 0x70:
                raise ProtocolError("reserved bits set (no extension was negotiated)")
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode >= 0x8:
                if not fin or length > 125:
                    raise ProtocolError("fragmented or oversized control frame")
                out.append((opcode, payload))
            elif opcode == OP_CONT:
                if self._frag_op is None:
                    raise ProtocolError("continuation frame without a started message")
                self._append_fragment(payload)
                if fin:
                    out.append((self._frag_op, b"".join(self._frag_parts)))
                    self._frag_op = None
                    self._frag_parts = []
                    self._frag_len = 0
            else:
                if self._frag_op is not None:
                    raise ProtocolError("new data frame inside a fragmented message")
                if fin:
                    out.append((opcode, payload))
                else:
                    self._frag_op = opcode
                    self._append_fragment(payload)
        rest = buf[pos:] if pos < end else b""
        self._chunks = [rest] if rest else []
        self._have = len(rest)
        self._need = need
        return out

    def _append_fragment(self, payload: bytes) -> None:
        self._frag_len += len(payload)
        if self._frag_len > self.max_message:
            raise ProtocolError(f"fragmented message exceeds limit {self.max_message}")
        self._frag_parts.append(payload)
