"""JSON over HTTP to a jupyter-rtc server: one request, one decoded answer or one error of the catalogue.

Every request carries the token as ``Authorization: token …`` (Jupyter) — the standalone relay reads it
as a bearer token too. An error answer raises the :mod:`rtc_client.errors` class of its status and
code, with the server's message; a server that cannot be reached raises ``ConnectionFailed``.

Resource handling: ``async with RestClient(...)`` owns one tornado HTTP client, closed on exit.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .errors import ConnectionFailed, error_for_status

__all__ = ["RestClient", "quote_path"]


def quote_path(path: str) -> str:
    """A file path as it goes in a URL (slashes kept)."""
    return quote(path, safe="/")


class RestClient:
    """Requests to ``base_url`` (``http://host:port/base/``); ``timeout`` in seconds per request."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.token = token
        self.timeout = timeout
        self._http: AsyncHTTPClient | None = None

    async def __aenter__(self) -> RestClient:
        self._http = AsyncHTTPClient(force_instance=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"} if self.token else {}

    async def request(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any, dict[str, str]]:
        """``(status, decoded JSON or text, headers)`` of a 2xx answer; raises for anything else.

        ``body`` as ``bytes`` goes as is (``application/octet-stream``), and an ``application/octet-stream``
        answer is returned as its bytes."""
        assert self._http is not None, "use `async with RestClient(...)`"
        url = self.base_url + path.lstrip("/")
        if params:
            url += "?" + urlencode({k: v for k, v in params.items() if v is not None})
        binary = isinstance(body, bytes)
        data = body if binary else None if body is None else json.dumps(body)
        if data is None and method in ("POST", "PUT", "PATCH"):
            data = "{}"
        request = HTTPRequest(
            url,
            method=method,
            body=data,
            headers={**self.headers(), "Content-Type": "application/octet-stream" if binary else "application/json"},
            request_timeout=self.timeout,
            follow_redirects=False,
        )
        try:
            response = await self._http.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise ConnectionFailed(f"cannot reach {url}: {exc}") from None
        if response.code == 599:
            raise ConnectionFailed(f"cannot reach {url}: {response.error}")
        content_type = response.headers.get("Content-Type", "")
        if content_type.startswith("application/octet-stream") and 200 <= response.code < 300:
            return response.code, response.body or b"", dict(response.headers)
        text = response.body.decode("utf-8", "replace") if response.body else ""
        decoded: Any = text
        if "json" in content_type and text:
            try:
                decoded = json.loads(text)
            except ValueError:
                pass
        if not 200 <= response.code < 300:
            raise error_for_status(response.code, decoded, f"{method} {url}: HTTP {response.code}")
        return response.code, decoded, dict(response.headers)
