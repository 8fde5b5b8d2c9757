"""The supernode's events on jupyter_server's event bus (``serverapp.event_logger``).

Two schemas, registered at start (``schema/events/``):

* ``https://schema.jupyter-rtc.org/events/document/v1`` — ours: a document was loaded, saved,
  failed to save, merged from disk, hit a conflict, renamed, deleted on disk, freed;
* ``https://schema.jupyter.org/jupyter_collaboration/session/v1`` — jupyter-collaboration's session
  events (initialize, save, overwrite, clean), emitted with the same meaning so that listeners
  written for it keep working. Not registered again when another package registered it already.

Error handling: emitting never raises into the caller (an event bus that fails is logged once per
schema); with no event logger (a document manager used on its own), nothing is emitted.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from rtc_common.schema import schema_path

__all__ = ["DOCUMENT_EVENTS", "JC_SESSION_EVENTS", "DocumentEvents"]

log = logging.getLogger("supernode.events")

DOCUMENT_EVENTS = "https://schema.jupyter-rtc.org/events/document/v1"
JC_SESSION_EVENTS = "https://schema.jupyter.org/jupyter_collaboration/session/v1"

# Our actions that jupyter-collaboration's session schema also has, as its action and level.
_JC_ACTIONS = {
    "loaded": ("initialize", "INFO"),
    "saved": ("save", "INFO"),
    "save_failed": ("save", "ERROR"),
    "merged_from_disk": ("overwrite", "INFO"),
    "freed": ("clean", "INFO"),
}


class DocumentEvents:
    """Emits document events; see the module docstring. ``event_logger`` may be None (nothing emitted)."""

    def __init__(self, event_logger: Any | None) -> None:
        self._logger = event_logger
        self._failed: set[str] = set()
        self.counts: Counter[str] = Counter()  # events emitted so far, by action (for /metrics)
        if event_logger is None:
            return
        registered = getattr(event_logger, "schemas", None)
        known = set(getattr(registered, "schema_ids", ()) or ())
        for schema_id, name in ((DOCUMENT_EVENTS, "document.json"), (JC_SESSION_EVENTS, "jc-session.json")):
            if schema_id not in known:
                event_logger.register_event_schema(schema_path(f"events/{name}"))

    def emit(self, action: str, *, room: str, path: str, **fields: Any) -> None:
        """Emit ``action`` of the document in ``room`` at ``path`` (extra ``fields`` per the schema)."""
        self.counts[action] += 1
        if self._logger is None:
            return
        data = {"action": action, "room": room, "path": path, **{k: v for k, v in fields.items() if v is not None}}
        self._emit(DOCUMENT_EVENTS, data)
        jc = _JC_ACTIONS.get(action)
        if jc is not None:
            message = fields.get("error") or fields.get("reason") or action.replace("_", " ")
            self._emit(JC_SESSION_EVENTS, {"level": jc[1], "room": room, "path": path, "action": jc[0], "msg": message})

    def _emit(self, schema_id: str, data: dict[str, Any]) -> None:
        try:
            self._logger.emit(schema_id=schema_id, data=data)
        except Exception:
            if schema_id not in self._failed:
                self._failed.add(schema_id)
                log.exception("emitting a %s event failed; further failures are not logged", schema_id)
