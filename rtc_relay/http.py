"""The little HTTP/1.1 the relay speaks: one request head per connection, then either
a websocket upgrade or one plain response (``/health``, ``/metrics``, errors)."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HeadTooLarge", "Request", "parse_head", "response"]

MAX_HEAD_BYTES = 16 * 1024


class HeadTooLarge(ValueError):
    """The request head is larger than :data:`MAX_HEAD_BYTES`."""


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request head. Header names are lower-case; repeated headers are joined by ``", "``.

    ``path`` is percent-decoded (for routing); ``raw_path`` is the path as sent, which
    :func:`rtc_relay.names.room_name_from_path` decodes strictly (UTF-8, or a refusal with a reason).
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw_path: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def wants_websocket(self) -> bool:
        return self.header("upgrade").lower() == "websocket" and "upgrade" in self.header("connection").lower()


def parse_head(head: bytes) -> Request:
    """Parse a request head (without the final blank line). Raises ``ValueError`` when malformed."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"bad request line {lines[0][:80]!r}")
    method, target, _ = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise ValueError(f"bad header line {line[:80]!r}")
        key = name.lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    url = urlsplit(target)
    return Request(method=method, path=unquote(url.path), query=parse_qs(url.query), headers=headers, raw_path=url.path)


def response(status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8", **headers: str) -> bytes:
    """A complete ``Connection: close`` response."""
    phrase = HTTPStatus(status).phrase
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        "Cache-Control: no-store",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
