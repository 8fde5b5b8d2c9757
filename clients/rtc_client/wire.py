"""y-protocol messages as the client sends and reads them (lib0 encoding)."""

from __future__ import annotations

from pycrdt import write_var_uint as var_uint

__all__ = ["read_var_string", "read_var_uint", "read_var_uint8array", "var_string", "var_uint", "var_uint8array"]


def var_uint8array(data: bytes) -> bytes:
    return var_uint(len(data)) + data


def var_string(text: str) -> bytes:
    return var_uint8array(text.encode())


def read_var_uint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def read_var_uint8array(buf: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_var_uint(buf, pos)
    if pos + length > len(buf):
        raise ValueError("truncated message")
    return buf[pos : pos + length], pos + length


def read_var_string(buf: bytes, pos: int) -> tuple[str, int]:
    data, pos = read_var_uint8array(buf, pos)
    return data.decode(), pos
