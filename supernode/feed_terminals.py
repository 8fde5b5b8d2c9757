"""The ``terminals`` table: the terminals of ``jupyter_server_terminals``, re-read at every poll
(none when that extension is off)."""

from __future__ import annotations

from .feed import Feed, iso

__all__ = ["TerminalFeed"]


class TerminalFeed(Feed):
    """One row per terminal."""

    table = "terminals"
    polled = True

    async def read(self) -> None:
        manager = self.app.web_app.settings.get("terminal_manager")
        models = manager.list() if manager is not None else []
        rows = [{"name": str(m["name"]), "last_activity": iso(m.get("last_activity"))} for m in models]
        self.tables.replace("terminals", rows)
