"""The ``executions`` table: one row per cell of the newest execution records.

The feed listens to our execution events on the server's event bus (one per change of an
execution's or a cell's state, :mod:`supernode.execution_events`) and reads the record each names
from the execution manager (:meth:`ExecutionFeed.on_record`); a refresh reads every record back
from it (at start: from the journal). The table keeps the
``limit`` newest records, and every record still queued or running however old.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from .errors import ApiError
from .execution_events import EXECUTION_EVENTS
from .feed import Feed
from .tables import Row

__all__ = ["ExecutionFeed"]


class ExecutionFeed(Feed):
    """Rows ``{execution id}/{cell index}`` of the records of ``executions`` (the execution manager)."""

    table = "executions"

    def __init__(self, *args: Any, executions: Any, limit: int = 100, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.executions = executions
        self.limit = limit
        self._known: OrderedDict[str, None] = OrderedDict()  # execution ids listed, oldest first

    def start(self) -> None:
        self.hooks.listen(EXECUTION_EVENTS, self._on_event)

    async def _on_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        try:
            record = await self.executions.get(data["execution_id"])
        except ApiError:
            return  # forgotten meanwhile (the journal pruned it): nothing to show
        self.on_record(record)

    async def read(self) -> None:
        records = {r["id"]: r for r in await self.executions.list(None)}
        newest = sorted(records.values(), key=lambda r: r.get("created") or "", reverse=True)
        keep = [r for i, r in enumerate(newest) if i < self.limit or r.get("status") in ("queued", "running")]
        rows = [row for record in keep for row in self._rows(record)]
        self._known = OrderedDict((r["id"], None) for r in reversed(keep))
        self.tables.replace("executions", rows)

    def on_record(self, record: dict[str, Any]) -> None:
        """A record was journalled: show its rows; drop the oldest finished records beyond ``limit``."""
        execution_id = record["id"]
        self.tables.replace("executions", self._rows(record), lambda key: key.startswith(execution_id + "/"))
        known = self._known
        known[execution_id] = None
        known.move_to_end(execution_id)
        for old in list(known)[: max(len(known) - self.limit, 0)]:
            rows = self.tables.rows["executions"]
            if any(rows[k]["status"] in ("queued", "running") for k in rows if k.startswith(old + "/")):
                continue  # unfinished work stays listed (and does not keep older finished rows listed)
            del known[old]
            self.tables.replace("executions", [], lambda key, old=old: key.startswith(old + "/"))

    @staticmethod
    def _rows(record: dict[str, Any]) -> list[Row]:
        rows = []
        for index, cell in enumerate(record.get("cells") or []):
            error = cell.get("error") or {}
            rows.append(
                {
                    "id": f"{record['id']}/{index}",
                    "execution_id": record["id"],
                    "index": index,
                    "cell_id": str(cell.get("cell_id", "")),
                    "path": str(record.get("path", "")),
                    "kernel_id": cell.get("kernel_id"),
                    "kernel_restarts": cell.get("kernel_restarts"),
                    "status": cell.get("status", "queued"),
                    "execution_count": cell.get("execution_count"),
                    "ename": error.get("ename"),
                    "evalue": error.get("evalue"),
                    "traceback": error.get("traceback"),
                    "created": record.get("created"),
                    "started": cell.get("started"),
                    "finished": cell.get("finished"),
                }
            )
        return rows
