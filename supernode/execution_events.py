"""Execution state changes on jupyter_server's event bus (``serverapp.event_logger``).

An :class:`ExecutionEvents` watches the execution manager's records and emits
``https://schema.jupyter-rtc.org/events/execution/v1`` (``schema/events/execution.json``) once for each
change of an execution's state (queued, running, then ok, error or aborted) or of one of its cells'
(state, execution count); each event carries every cell's. Records written again unchanged (a running
record is journalled periodically) emit nothing. The shared tables' ``executions`` table is fed from
these events.

Resource handling: remembers the last states of unfinished executions only (forgotten at their end).
Error handling: emitting never raises into the execution manager; a failing bus is logged once.
"""

from __future__ import annotations

import logging
from typing import Any

from rtc_common.schema import schema_path

__all__ = ["EXECUTION_EVENTS", "ExecutionEvents"]

log = logging.getLogger("supernode.events")

EXECUTION_EVENTS = "https://schema.jupyter-rtc.org/events/execution/v1"
_FINISHED = frozenset({"ok", "error", "aborted"})


class ExecutionEvents:
    """A watcher of execution records (callable with a record) that emits their state changes."""

    def __init__(self, event_logger: Any) -> None:
        self._logger = event_logger
        self._states: dict[str, tuple[Any, ...]] = {}
        self._failed = False
        known = set(getattr(getattr(event_logger, "schemas", None), "schema_ids", ()) or ())
        if EXECUTION_EVENTS not in known:
            event_logger.register_event_schema(schema_path("events/execution.json"))

    def __call__(self, record: dict[str, Any]) -> None:
        execution_id, status = record["id"], record["status"]
        cells = [
            {
                "cell_id": cell["cell_id"],
                "status": cell.get("status", "queued"),
                "execution_count": cell.get("execution_count"),
            }
            for cell in record.get("cells", [])
        ]
        state = (status, *((c["status"], c["execution_count"]) for c in cells))
        if self._states.get(execution_id) == state:
            return
        if status in _FINISHED:
            self._states.pop(execution_id, None)
        else:
            self._states[execution_id] = state
        data = {
            "execution_id": execution_id,
            "path": record["path"],
            "status": status,
            "cell_ids": [cell["cell_id"] for cell in cells],
            "cells": cells,
        }
        if record.get("abort_reason"):
            data["abort_reason"] = record["abort_reason"]
        try:
            self._logger.emit(schema_id=EXECUTION_EVENTS, data=data)
        except Exception:
            if not self._failed:
                self._failed = True
                log.exception("emitting an execution event failed; further failures are not logged")
