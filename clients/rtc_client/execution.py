"""One execution of cells on a Jupyter server (``POST /api/rtc/executions``), followed to its end.

The server keeps a durable record of it (``schema/execution-record.json``): its status
(``queued`` → ``running`` → ``ok``/``error``/``aborted``), and per cell the status, execution count,
outputs so far (streams merged) and a pending ``input()`` request. An :class:`Execution` reads that
record; :meth:`Execution.wait` awaits the end, :meth:`Execution.events` streams what happens as it
happens, derived from successive reads of the record every ``poll`` seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .errors import DeadlineExceeded, ExecutionFailed

if TYPE_CHECKING:
    from .rest import RestClient

__all__ = ["FINISHED", "Execution", "cell_events"]

FINISHED = ("ok", "error", "aborted")


class Execution:
    """An execution record on the server: ``id``, ``path``, ``record`` (the last one read)."""

    def __init__(self, rest: RestClient, record: dict[str, Any]) -> None:
        self._rest = rest
        self.record = record
        self.id: str = record["id"]
        self.path: str = record.get("path", "")

    def __repr__(self) -> str:
        return f"<Execution {self.id} {self.status} {self.path}>"

    @property
    def status(self) -> str:
        return self.record["status"]

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    @property
    def cell_ids(self) -> list[str]:
        return [cell["cell_id"] for cell in self.record.get("cells", [])]

    async def refresh(self) -> dict[str, Any]:
        """Read the record again; return it."""
        _, self.record, _ = await self._rest.request("GET", f"api/rtc/executions/{self.id}")
        return self.record

    async def wait(self, timeout: float | None = None, *, check: bool = False, poll: float = 0.1) -> dict[str, Any]:
        """Wait until the execution finished; return the final record.

        ``check``: raise :class:`~rtc_client.errors.ExecutionFailed` when a cell failed.
        ``timeout`` (seconds): :class:`~rtc_client.errors.DeadlineExceeded` if it is still running then.
        """
        async for _ in self.events(timeout=timeout, poll=poll):
            pass
        if check and self.status == "error":
            raise ExecutionFailed(self.record)
        return self.record

    async def events(self, *, timeout: float | None = None, poll: float = 0.1) -> AsyncIterator[dict[str, Any]]:
        """Yield what happens, in order, until the execution finished:

        - ``{"event": "status", "status"}`` — the execution's status changed;
        - ``{"event": "cell", "cell_id", "status", "execution_count", "error"}`` — a cell's status changed;
        - ``{"event": "output", "cell_id", "index", "output", "replace"}`` — an output appeared (``replace``:
          it replaces output ``index``, e.g. a display update); a growing stream yields only its new text;
        - ``{"event": "clear", "cell_id"}`` — the cell's outputs were cleared;
        - ``{"event": "input_request", "cell_id", "prompt", "password"}`` — answer with :meth:`answer`;
        - ``{"event": "done", "record"}`` — last.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        seen_status: str | None = None
        cells: dict[str, dict[str, Any]] = {}
        record = self.record
        while True:
            if record["status"] != seen_status:
                seen_status = record["status"]
                yield {"event": "status", "status": seen_status}
            for cell in record.get("cells", []):
                for event in cell_events(cells.setdefault(cell["cell_id"], {}), cell):
                    yield event
            if record["status"] in FINISHED:
                yield {"event": "done", "record": record}
                return
            if deadline is not None and loop.time() > deadline:
                raise DeadlineExceeded(f"execution {self.id} still {record['status']} after {timeout}s")
            await asyncio.sleep(poll)
            record = await self.refresh()

    async def answer(self, value: str) -> dict[str, Any]:
        """Answer the ``input()`` the running cell waits for."""
        _, self.record, _ = await self._rest.request("POST", f"api/rtc/executions/{self.id}/input", {"value": value})
        return self.record

    async def interrupt(self) -> dict[str, Any]:
        """Interrupt the running cell (its kernel gets SIGINT)."""
        _, self.record, _ = await self._rest.request("POST", f"api/rtc/executions/{self.id}/interrupt")
        return self.record

    async def cancel(self) -> dict[str, Any]:
        """Cancel the execution while it is queued."""
        _, self.record, _ = await self._rest.request("DELETE", f"api/rtc/executions/{self.id}")
        return self.record


def cell_events(seen: dict[str, Any], cell: dict[str, Any]) -> list[dict[str, Any]]:
    """The events between the last state ``seen`` of a cell and ``cell`` (``seen`` is updated)."""
    events: list[dict[str, Any]] = []
    cell_id = cell["cell_id"]
    old: list[dict[str, Any]] = seen.get("outputs", [])
    new: list[dict[str, Any]] = cell.get("outputs") or []
    if len(new) < len(old):
        events.append({"event": "clear", "cell_id": cell_id})
        old = []
    for index, output in enumerate(new):
        before = old[index] if index < len(old) else None
        if before == output:
            continue
        if (
            before is not None
            and output.get("output_type") == "stream"
            and before.get("output_type") == "stream"
            and before.get("name") == output.get("name")
            and str(output.get("text", "")).startswith(str(before.get("text", "")))
        ):
            delta = str(output["text"])[len(str(before.get("text", ""))) :]
            events.append({"event": "output", "cell_id": cell_id, "index": index, "replace": False,
                           "output": {**output, "text": delta}})  # fmt: skip
        else:
            events.append(
                {"event": "output", "cell_id": cell_id, "index": index, "replace": before is not None, "output": output}
            )
    seen["outputs"] = new
    request = cell.get("input_request")
    if request and request != seen.get("input_request"):
        events.append({"event": "input_request", "cell_id": cell_id, **request})
    seen["input_request"] = request
    if cell.get("status") != seen.get("status"):
        seen["status"] = cell.get("status")
        events.append(
            {
                "event": "cell",
                "cell_id": cell_id,
                "status": cell.get("status"),
                "execution_count": cell.get("execution_count"),
                "error": cell.get("error"),
            }
        )
    return events
