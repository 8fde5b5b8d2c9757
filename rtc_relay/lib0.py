"""lib0 binary encoding, the wire format of the y-protocols (sync and awareness).

Only what the relay needs: LEB128 unsigned integers (``varUint``), length-prefixed
byte arrays (``varUint8Array``) and UTF-8 strings (``varString``).

Decoding functions take ``(buf, pos)`` and return ``(value, new_pos)``; they raise
:class:`DecodeError` on truncated input, never ``IndexError``.
"""

from __future__ import annotations

__all__ = [
    "DecodeError",
    "read_var_string",
    "read_var_uint",
    "read_var_uint8array",
    "var_string",
    "var_uint",
    "var_uint8array",
]

# A varUint longer than this cannot describe a length or id the relay accepts (2**63).
_MAX_VARUINT_BYTES = 9


class DecodeError(ValueError):
    """The bytes are not a well-formed lib0 value (truncated, or absurdly long)."""


def var_uint(num: int) -> bytes:
    """Encode a non-negative integer as a lib0 varUint (LEB128)."""
    if num < 0x80:
        return bytes((num,))
    out = bytearray()
    while num > 0x7F:
        out.append(0x80 | (num & 0x7F))
        num >>= 7
    out.append(num)
    return bytes(out)


def var_uint8array(data: bytes) -> bytes:
    """Encode bytes as ``varUint(len) + data``."""
    return var_uint(len(data)) + data


def var_string(text: str) -> bytes:
    """Encode a string as ``varUint(len(utf8)) + utf8``."""
    return var_uint8array(text.encode())


def read_var_uint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """Decode a varUint at ``pos``; return ``(value, position after it)``."""
    try:
        byte = buf[pos]
    except IndexError:
        raise DecodeError("truncated varUint") from None
    if byte < 0x80:
        return byte, pos + 1
    value = byte & 0x7F
    shift = 7
    end = pos + _MAX_VARUINT_BYTES
    pos += 1
    while pos < end:
        try:
            byte = buf[pos]
        except IndexError:
            raise DecodeError("truncated varUint") from None
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
    raise DecodeError("varUint too long")


def read_var_uint8array(buf: bytes | memoryview, pos: int) -> tuple[bytes, int]:
    """Decode a ``varUint8Array`` at ``pos``; return ``(bytes, position after it)``."""
    length, pos = read_var_uint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise DecodeError(f"truncated byte array: {length} bytes announced, {len(buf) - pos} present")
    return bytes(buf[pos:end]), end


def read_var_string(buf: bytes | memoryview, pos: int) -> tuple[str, int]:
    """Decode a ``varString`` at ``pos``; return ``(text, position after it)``."""
    data, pos = read_var_uint8array(buf, pos)
    try:
        return data.decode(), pos
    except UnicodeDecodeError as exc:
        raise DecodeError(f"string is not UTF-8: {exc}") from None
