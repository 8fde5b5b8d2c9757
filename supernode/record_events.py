"""Execution events of a notebook's change feed, from the execution records the journal is told.

An execution's record is journalled at each step (queued, started, each cell started and finished, an
input requested, periodically while it runs, finished); :class:`RecordEvents` compares each with what
it told of that execution before and appends one event per step to the feed's ring:
``execution_queued`` ``{"execution_id", "cell_ids"}``, ``execution_started``,
``execution_cell_started`` ``{"execution_id", "cell_id"}``, ``execution_input_request``
``{"execution_id", "cell_id", "prompt", "password"}``, ``execution_cell_finished`` ``{"execution_id",
"cell_id", "status", "execution_count", "error"}``, ``execution_finished`` ``{"execution_id", "status",
"abort_reason"}``. A record written again unchanged appends nothing.

Outputs are not read from records (a running cell's are deferred, and the document's events carry
them); ``running`` (cell id -> execution id, shared with the feed) says which execution a running
cell's output events belong to.

Resource handling: remembers what it told of unfinished executions, and the ids of the last 256 finished.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .event_ring import EventRing

__all__ = ["RecordEvents"]

_FINISHED = ("ok", "error", "aborted")


class RecordEvents:
    """Appends the events of successive execution records to ``ring``; see the module docstring."""

    def __init__(self, ring: EventRing, running: dict[str, str]) -> None:
        self.ring = ring
        self._running = running
        self._executions: dict[str, dict[str, Any]] = {}  # unfinished execution id -> what was told of it
        self._ended: deque[str] = deque(maxlen=256)  # executions told finished (a record written again: nothing)

    def record(self, record: dict[str, Any]) -> None:
        """An execution record of this notebook was journalled: append what changed since the last one.

        Cells' outputs are not read (a running cell's are deferred, and the document's events carry
        them): only statuses, input requests, counts and errors."""
        execution_id, status = record["id"], record["status"]
        if execution_id in self._ended:
            return
        told = self._executions.get(execution_id)
        if told is None:
            told = self._executions[execution_id] = {"status": None, "cells": {}}
            cell_ids = [cell["cell_id"] for cell in record.get("cells", [])]
            self.ring.append("execution_queued", {"execution_id": execution_id, "cell_ids": cell_ids})
        if status == "running" and told["status"] != "running":
            self.ring.append("execution_started", {"execution_id": execution_id})
        told["status"] = status
        for cell in record.get("cells", []):
            self._cell_record(execution_id, told["cells"].setdefault(cell["cell_id"], {}), cell)
        if status in _FINISHED:
            del self._executions[execution_id]
            self._ended.append(execution_id)
            data = {"execution_id": execution_id, "status": status, "abort_reason": record.get("abort_reason")}
            self.ring.append("execution_finished", data)

    def _cell_record(self, execution_id: str, told: dict[str, Any], cell: dict[str, Any]) -> None:
        cell_id, status = cell["cell_id"], cell.get("status")
        if status == told.get("status") and cell.get("input_request") == told.get("input_request"):
            return
        if status == "running" and told.get("status") != "running":
            self._running[cell_id] = execution_id
            self.ring.append("execution_cell_started", {"execution_id": execution_id, "cell_id": cell_id})
        request = cell.get("input_request")
        if request is not None and request != told.get("input_request"):
            self.ring.append(
                "execution_input_request",
                {
                    "execution_id": execution_id,
                    "cell_id": cell_id,
                    "prompt": request.get("prompt", ""),
                    "password": bool(request.get("password")),
                },
            )
        if status in _FINISHED:
            if self._running.get(cell_id) == execution_id:
                del self._running[cell_id]
            self.ring.append(
                "execution_cell_finished",
                {
                    "execution_id": execution_id,
                    "cell_id": cell_id,
                    "status": status,
                    "execution_count": cell.get("execution_count"),
                    "error": cell.get("error"),
                },
            )
        told["status"], told["input_request"] = status, request
