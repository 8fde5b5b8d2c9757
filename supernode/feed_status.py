"""The ``status`` table: one row about the server (start, activity, connections, kernels,
terminals, version), re-read at every poll and after kernel events."""

from __future__ import annotations

from datetime import datetime, timezone

from jupyter_core.utils import ensure_async
from jupyter_server import __version__

from .feed import Feed, iso
from .feed_kernels import connections

__all__ = ["StatusFeed"]

_EPOCH = datetime.fromtimestamp(0, timezone.utc)


class StatusFeed(Feed):
    """The row ``server``."""

    table = "status"
    polled = True

    async def read(self) -> None:
        settings = self.app.web_app.settings
        kernels = await ensure_async(self.app.kernel_manager.list_kernels())
        terminals = settings.get("terminal_manager")
        row = {
            "id": "server",
            "started": iso(settings.get("started", _EPOCH)),
            "last_activity": iso(self.app.web_app.last_activity()),
            "connections": sum(connections(k) for k in kernels),
            "kernels": len(kernels),
            "terminals": len(terminals.list()) if terminals is not None else 0,
            "version": __version__,
        }
        self.tables.replace("status", [row])
