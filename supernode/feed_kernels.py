"""The ``kernels`` table: the running kernels and how often each was restarted.

jupyter_server's kernel action events (start, interrupt, restart, shutdown) ask for a refresh at
once; automatic restarts are counted by a restart callback on each kernel; busy/idle, last
activity and connections (which have no event) come with the poll. jupyter_server's own count of
a kernel's connections can go below zero (a disconnect noticed twice): it is shown as 0, since the
schema refuses a negative count and the row would otherwise stay stale.
"""

from __future__ import annotations

import logging
from typing import Any

from jupyter_core.utils import ensure_async

from .feed import Feed, iso

__all__ = ["KERNEL_EVENTS", "KernelFeed", "connections"]

log = logging.getLogger("supernode.tables")

KERNEL_EVENTS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
_STATES = frozenset(("starting", "idle", "busy", "restarting", "autorestarting", "terminating", "dead"))


def connections(model: dict[str, Any]) -> int:
    """The connections of a kernel model of ``list_kernels``, never below 0."""
    return max(0, int(model.get("connections", 0) or 0))


class KernelFeed(Feed):
    """One row per running kernel; :meth:`restart_count` for the execution records."""

    table = "kernels"
    polled = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.restarts: dict[str, int] = {}  # kernel id -> restarts seen since the server started
        self._watched: set[str] = set()  # kernels with our restart callback

    def start(self) -> None:
        self.hooks.listen(KERNEL_EVENTS, self._on_kernel_event)

    async def read(self) -> None:
        km = self.app.kernel_manager
        rows = []
        for model in await ensure_async(km.list_kernels()):
            kernel_id = model["id"]
            self._watch_restarts(kernel_id)
            state = model.get("execution_state")
            rows.append(
                {
                    "id": kernel_id,
                    "name": str(model.get("name", "")),
                    "last_activity": iso(model.get("last_activity")),
                    "connections": connections(model),
                    "execution_state": state if state in _STATES else "unknown",
                    "restart_count": self.restarts.get(kernel_id, 0),
                }
            )
        live = {row["id"] for row in rows}
        for gone in [k for k in self.restarts if k not in live]:
            del self.restarts[gone]
        self._watched &= live
        self.tables.replace("kernels", rows)

    def restart_count(self, kernel_id: str | None) -> int | None:
        """How often kernel ``kernel_id`` was restarted since the server started (None: unknown kernel)."""
        if kernel_id is None:
            return None
        return self.restarts.get(kernel_id, 0)

    def _watch_restarts(self, kernel_id: str) -> None:
        if kernel_id in self._watched:
            return
        self._watched.add(kernel_id)
        km = self.app.kernel_manager
        try:
            km.add_restart_callback(kernel_id, lambda: self._restarted(kernel_id, "automatic"), "restart")
        except Exception:  # a kernel manager without restarters (e.g. a gateway): events still count
            log.debug("tables: no restart callback for kernel %s", kernel_id, exc_info=True)

    def _restarted(self, kernel_id: str, how: str) -> None:
        self.restarts[kernel_id] = self.restarts.get(kernel_id, 0) + 1
        log.debug("tables: kernel %s restarted (%s)", kernel_id, how)
        self.soon("kernels", "status")

    async def _on_kernel_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, kernel_id = data.get("action"), data.get("kernel_id")
        if data.get("status") == "error":
            return
        if action == "restart" and kernel_id:
            self._restarted(kernel_id, "asked for")
        self.soon("kernels", "sessions", "status")
