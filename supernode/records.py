"""Execution records: what was asked to run, and what happened (``schema/execution-record.json``)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = ["CellRun", "Execution", "now", "source_hash"]

FINISHED = ("ok", "error", "aborted")


def now() -> str:
    """The current time as an ISO 8601 UTC timestamp."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def source_hash(source: str) -> str:
    """The hash a caller sends to say which version of a cell's source it saw: sha256 of its UTF-8, hex."""
    return hashlib.sha256(source.encode()).hexdigest()


@dataclass
class CellRun:
    """One cell of an execution. ``cell_id`` is empty for code run outside any notebook (``code``)."""

    cell_id: str
    status: str = "queued"  # queued | running | ok | error | aborted
    execution_count: int | None = None
    error: dict[str, Any] | None = None  # {ename, evalue, traceback}
    started: str | None = None
    finished: str | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    input_request: dict[str, Any] | None = None  # {prompt, password} while the cell waits for input
    code: str | None = None  # the code to run instead of the cell's source (jupyter-server-nbmodel's "code")
    kernel_id: str | None = None
    kernel_restarts: int | None = None  # the kernel's restart count when the cell started
    answer: asyncio.Future[str] | None = field(default=None, repr=False)
    input_header: dict[str, Any] | None = field(default=None, repr=False)  # the kernel's input_request header
    # While the cell runs: its OutputWriter, which holds the outputs so far (``outputs`` is set at the end).
    live: Any = field(default=None, repr=False)

    def to_json(self, *, deferred: bool = False) -> dict[str, Any]:
        """The cell's record. ``deferred``: a running cell's outputs are an
        :class:`~supernode.outputs_snapshot.OutputsSnapshot` (taken in O(number of outputs); its
        ``to_json()`` gives the list, on any thread) instead of the list (O(the outputs))."""
        if self.live is None:
            outputs: Any = self.outputs
        else:
            outputs = self.live.snapshot() if deferred else self.live.outputs
        record = {
            "cell_id": self.cell_id,
            "status": self.status,
            "execution_count": self.execution_count,
            "error": self.error,
            "started": self.started,
            "finished": self.finished,
            "outputs": outputs,
            "input_request": self.input_request,
            "kernel_id": self.kernel_id,
            "kernel_restarts": self.kernel_restarts,
        }
        if self.code is not None:
            record["code"] = self.code
        return record


@dataclass
class Execution:
    """A request to run one or more cells of one notebook, run as one unit in order.

    ``path`` is empty for code run on a kernel outside any notebook (queued per kernel: ``kernel_hint``).
    ``record_timing``: None leaves the cells' ``metadata.execution`` alone; False removes it when a cell
    starts; True records JupyterLab's timings there (:mod:`supernode.execution_timing`).
    ``running_metadata``: entries of the cell's metadata while it runs (removed when it ends).
    ``kernel_request``: the context of a request made on ``/api/kernels/{kernel_id}/execute`` with
    jupyter-server-nbmodel's body (:mod:`supernode.nbmodel`), kept in the record.
    """

    path: str
    cells: list[CellRun]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "queued"
    created: str = field(default_factory=now)
    started: str | None = None
    finished: str | None = None
    abort_reason: str | None = None
    kernel_hint: str | None = field(default=None, repr=False)  # the kernel a frontend asked to run it on
    record_timing: bool | None = field(default=None, repr=False)
    running_metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    kernel_request: dict[str, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def finished_(self) -> bool:
        return self.status in FINISHED

    def abort_rest(self, reason: str) -> None:
        """Mark every cell not yet finished as not run."""
        for cell in self.cells:
            if cell.status in ("queued", "running"):
                cell.status = "aborted"
                cell.input_request = cell.input_header = None
                cell.finished = cell.finished or now()
        self.abort_reason = self.abort_reason or reason

    def to_json(self, *, deferred: bool = False) -> dict[str, Any]:
        """The record (``schema/execution-record.json``); ``deferred``: see :meth:`CellRun.to_json`."""
        record = {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "abort_reason": self.abort_reason,
            "cells": [cell.to_json(deferred=deferred) for cell in self.cells],
        }
        if self.kernel_request is not None:
            record["kernel_request"] = self.kernel_request
        return record

    @property
    def queue_key(self) -> str:
        """The queue it runs in: its notebook's path, or ``/kernels/{id}`` for code outside any notebook
        (a path in the contents never starts with ``/``)."""
        return self.path or f"/kernels/{self.kernel_hint}"
