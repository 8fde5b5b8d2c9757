"""Hooks on the Jupyter server that the table feeds install, and take back at stop.

:class:`ServerHooks` listens to the server's event bus and wraps manager methods (sessions and
contents emit no event for everything the tables show); :meth:`ServerHooks.undo` removes every
listener and wrapper it installed, newest first. A hook that raises is logged and never breaks
the server call it follows.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["ServerHooks"]

log = logging.getLogger("supernode.tables")


class ServerHooks:
    """Listeners on ``serverapp.event_logger`` and wrappers of manager methods, undone together."""

    def __init__(self, serverapp: Any) -> None:
        self.app = serverapp
        self._undo: list[Callable[[], Any]] = []

    def listen(self, schema_id: str, listener: Any) -> None:
        """Call ``listener(logger, schema_id, data)`` for every event of ``schema_id``."""
        logger = self.app.event_logger
        logger.add_listener(schema_id=schema_id, listener=listener)
        self._undo.append(lambda: logger.remove_listener(schema_id=schema_id, listener=listener))

    def on_undo(self, undo: Callable[[], Any]) -> None:
        """Run ``undo`` when the hooks are undone (for hooks installed by other means)."""
        self._undo.append(undo)

    def wrap(self, target: Any, name: str, after: Callable[[Any], Any]) -> None:
        """Shadow ``target.name`` with a wrapper that calls ``after(result)`` once it succeeded."""
        original = getattr(target, name)

        def report(result: Any) -> None:
            try:
                after(result)
            except Exception:
                log.exception("tables: the %s hook failed", name)

        if inspect.iscoroutinefunction(original):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = await original(*args, **kwargs)
                report(result)
                return result
        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                if inspect.isawaitable(result):

                    async def finish() -> Any:
                        value = await result
                        report(value)
                        return value

                    return finish()
                report(result)
                return result

        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(target, name, wrapper)
        self._undo.append(lambda: target.__dict__.pop(name, None))

    def undo(self) -> None:
        """Remove every hook, newest first; one that fails to come off is logged."""
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:
                log.exception("tables: undoing a hook failed")
        self._undo.clear()
