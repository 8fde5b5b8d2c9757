"""Reconnection of a :class:`~rtc_client.room.RoomClient`: which closes are worth a new connection,
and opening it with backoff.

A close is *passing* when its code is in :data:`PASSING` (``schema/close-codes.json``): going
away, idle, slow consumer, internal error, room load failure …, or None (dropped without a close
frame); a new connection may then succeed. Any other close is final.

:func:`reconnect` opens a new websocket, first after ``BACKOFF_FIRST`` seconds, then waiting twice
as long after each failure, up to ``BACKOFF_MAX``. It returns the open channel (the caller owns it),
or the error that ends the attempts: a refused upgrade other than 429 or 5xx (401, 403, 404 …: a
revoked token, a deleted file) at once; any other failure to connect is retried for ``within``
seconds, then returned; :class:`~rtc_client.errors.ConnectionClosed` when ``stopped()`` is true
before an attempt (the client was closed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .channel import WebsocketChannel
from .errors import ApiError, ClientError, ConnectionClosed, error_for_connect

__all__ = ["BACKOFF_FIRST", "BACKOFF_MAX", "PASSING", "reconnect"]

log = logging.getLogger("rtc_client")

# Close codes after which a new connection may succeed (schema/close-codes.json); None: dropped, no frame.
PASSING = {None, 1001, 1005, 1006, 1011, 1012, 1013, 4408, 4429, 4430, 4500}
BACKOFF_FIRST, BACKOFF_MAX = 0.1, 2.5  # seconds


async def reconnect(
    url: str,
    *,
    token: str | None,
    headers: dict[str, str] | None,
    keepalive: float | None,
    within: float,
    stopped: Callable[[], bool],
) -> WebsocketChannel | ClientError:
    """A new websocket to ``url``, or the reason to stop trying (see the module docstring)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = BACKOFF_FIRST
    while not stopped():
        await asyncio.sleep(delay)
        try:
            return await WebsocketChannel.connect(url, token=token, headers=headers, keepalive=keepalive)
        except Exception as exc:  # refused, reset, unreachable, or the server refused the upgrade
            error = error_for_connect(exc, url)
            log.info("rtc_client %s: reconnect failed: %s", url, error)
            if isinstance(error, ApiError) and error.status not in (None, 429) and error.status < 500:
                return error
            if loop.time() + delay > deadline:
                return error
            delay = min(delay * 2, BACKOFF_MAX)
    return ConnectionClosed(None, "closed by the client")
