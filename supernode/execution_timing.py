"""A cell's execution timings, as JupyterLab records them in ``metadata.execution`` (its ``recordTiming``).

JupyterLab 4 (``CodeCell.execute``) writes, from the kernel's messages of the cell's request:

- ``iopub.status.busy``, ``iopub.execute_input``, ``iopub.status.idle``: the ``date`` of those
  iopub messages' headers;
- ``shell.execute_reply.started``: the ``started`` of the execute reply's metadata (ipykernel's);
- ``shell.execute_reply``: the ``date`` of the execute reply's header;
- ``execution_failed``: when the request ended without a reply (here: the cell was aborted).

Timestamps are ISO 8601 in UTC ending with ``Z``, as jupyter_client serializes header dates; a
message without a date is stamped with the time it was read. jupyterlab-execute-time shows them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

__all__ = ["ExecutionTiming", "json_header"]


def _stamp(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, str) and value:
        return value
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def json_header(header: dict[str, Any]) -> dict[str, Any]:
    """A message header as JSON (jupyter_client parses its ``date`` into a datetime)."""
    return {key: _stamp(value) if isinstance(value, datetime) else value for key, value in header.items()}


class ExecutionTiming:
    """The ``metadata.execution`` of one cell run: fed the run's messages, read as ``values``."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def see(self, msg: dict[str, Any]) -> bool:
        """Note an iopub message of the cell's request; True if it changed the timings."""
        kind = msg["msg_type"]
        if kind == "status":
            label = f"iopub.status.{msg['content'].get('execution_state')}"
        elif kind == "execute_input":
            label = "iopub.execute_input"
        else:
            return False
        self.values[label] = _stamp(msg["header"].get("date"))
        return True

    def replied(self, reply: dict[str, Any]) -> None:
        """Note the execute reply."""
        started = (reply.get("metadata") or {}).get("started")
        if started:
            self.values["shell.execute_reply.started"] = _stamp(started)
        self.values["shell.execute_reply"] = _stamp(reply["header"].get("date"))

    def failed(self) -> None:
        """The run ended without a reply."""
        self.values["execution_failed"] = _stamp(None)

    def write(self, ycell: Any) -> None:
        """Set the cell's ``metadata.execution`` (a pycrdt cell ``Map``; in the caller's transaction)."""
        ycell["metadata"]["execution"] = dict(self.values)
