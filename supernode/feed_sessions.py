"""The ``sessions`` table: sessions emit no events, so a hook on the session manager's
create/update/delete asks for a refresh at once; the poll catches sessions culled with their kernel."""

from __future__ import annotations

from jupyter_core.utils import ensure_async

from .feed import Feed

__all__ = ["SessionFeed"]


class SessionFeed(Feed):
    """One row per session."""

    table = "sessions"
    polled = True

    def start(self) -> None:
        sm = self.app.session_manager
        for name in ("create_session", "update_session", "delete_session"):
            self.hooks.wrap(sm, name, lambda result: self.soon("sessions"))

    async def read(self) -> None:
        rows = []
        for model in await ensure_async(self.app.session_manager.list_sessions()):
            kernel = model.get("kernel") or {}
            rows.append(
                {
                    "id": model["id"],
                    "path": str(model.get("path") or ""),
                    "name": str(model.get("name") or ""),
                    "type": str(model.get("type") or ""),
                    "kernel_id": kernel.get("id"),
                    "kernel_name": kernel.get("name"),
                }
            )
        self.tables.replace("sessions", rows)
