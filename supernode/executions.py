"""Executions by notebook path and cell id: the API behind the REST handlers.

:class:`ExecutionManager` validates requests against the shared document (cell ids,
source hashes), queues them on the notebook's :class:`NotebookExecutor`, keeps the
records of running work in memory and every record in the journal. Reading a
record never consumes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .errors import ApiError
from .heap import HeapTrimmer
from .executor import NotebookExecutor, find_cell
from .journal import ExecutionJournal
from .output_log import OutputLog
from .records import CellRun, Execution, source_hash
from .tasks import TaskSet

__all__ = ["ExecutionManager"]

log = logging.getLogger("supernode.executions")


class ExecutionManager:
    """All executions of the server. ``record_interval`` (s): how often running records are journalled;
    ``output_interval`` (s): how often a running cell's outputs are written into its document."""

    def __init__(
        self,
        *,
        documents: Any,
        session_manager: Any,
        kernel_manager: Any,
        journal: ExecutionJournal,
        record_interval: float,
        tasks: TaskSet,
        output_interval: float = 0.0,
        output_log: OutputLog | None = None,
    ) -> None:
        self.documents = documents
        self.session_manager = session_manager
        self.kernel_manager = kernel_manager
        self.journal = journal
        self.record_interval = record_interval
        self.output_interval = output_interval
        self.output_log = output_log  # outputs of running cells, replayed into their files after a crash
        self.heap = HeapTrimmer()  # trimmed when a notebook's queue drains
        self.executors: dict[str, NotebookExecutor] = {}
        self.active: dict[str, Execution] = {}
        self.tasks = tasks
        self._opened: asyncio.Future[None] | None = None
        self._stopped = False
        self.watchers: list[Callable[[dict[str, Any]], None]] = []  # told every record as it is journalled
        self.kernel_restarts: Callable[[str | None], int | None] = lambda kernel_id: None

    # -- lifecycle -----------------------------------------------------------------------------

    async def ensure_open(self) -> None:
        """Open the journal once (marking what a previous process left unfinished as aborted)."""
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._open())
        await asyncio.shield(self._opened)

    async def _open(self) -> None:
        for record in await self.journal.open():
            log.warning(
                "execution %s of %s was unfinished when the server stopped: aborted", record["id"], record["path"]
            )
        if self.output_log is not None:
            await self.output_log.replay(self.documents.contents_manager, self.journal)
        await self.journal.prune()

    async def stop(self) -> None:
        for executor in self.executors.values():
            executor.close()
        for execution in list(self.active.values()):
            if not execution.finished_:
                execution.status = "aborted"
                execution.abort_rest("the server stopped")
                await self.record(execution)
        self._stopped = True
        if self.output_log is not None:
            await self.output_log.close()
        if self._opened is not None:
            await self.journal.close()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of the extension's supervisor."""
        return self.tasks.spawn(coro, name)

    async def record(self, execution: Execution) -> None:
        """Journal the execution's record as it is now, and tell the watchers."""
        record = execution.to_json()
        for watcher in self.watchers:
            try:
                watcher(record)
            except Exception:
                log.exception("an execution watcher failed on record %s", execution.id)
        if self._stopped:
            return  # stop() journalled every unfinished record as aborted and closed the journal
        await self.journal.write(record)
        if execution.finished_ and self.active.get(execution.id) is execution:
            del self.active[execution.id]

    # -- requests -----------------------------------------------------------------------------

    async def submit(
        self,
        path: str,
        cell_ids: list[str] | None,
        source_hashes: dict[str, str] | None = None,
        kernel_id: str | None = None,
    ) -> Execution:
        """Queue cells of notebook ``path`` (all its code cells when ``cell_ids`` is None).

        ``kernel_id``: run on that kernel if it exists (the frontend's own session kernel).
        """
        await self.ensure_open()
        live = await self.documents.document_for_path(path)
        if live is None:
            raise ApiError("not_found", f"no notebook {path}")
        document = live.document
        if cell_ids is None:
            cell_ids = [c.get("id") for c in document.ycells if c.get("cell_type") == "code"]
        if not cell_ids:
            raise ApiError("bad_request", "no cell to run")
        for cell_id in cell_ids:
            ycell = find_cell(document, cell_id)
            if ycell is None:
                raise ApiError("not_found", f"{path} has no cell {cell_id}")
            if ycell.get("cell_type") != "code":
                raise ApiError("bad_request", f"cell {cell_id} is a {ycell.get('cell_type')} cell")
            expected = (source_hashes or {}).get(cell_id)
            if expected is not None and expected != source_hash(str(ycell["source"])):
                raise ApiError("source_changed", f"cell {cell_id} changed since the hash {expected[:12]}…")
        execution = Execution(path=path, cells=[CellRun(cell_id) for cell_id in cell_ids], kernel_hint=kernel_id)
        self.active[execution.id] = execution
        await self.record(execution)
        executor = self.executors.get(path)
        if executor is None:
            executor = self.executors[path] = NotebookExecutor(self, path)
        executor.submit(execution)
        return execution

    async def get(self, execution_id: str) -> dict[str, Any]:
        execution = self.active.get(execution_id)
        if execution is not None:
            return execution.to_json()
        await self.ensure_open()
        record = await self.journal.get(execution_id)
        if record is None:
            raise ApiError("not_found", f"no execution {execution_id}")
        return record

    async def list(self, path: str | None) -> list[dict[str, Any]]:
        await self.ensure_open()
        records = {r["id"]: r for r in await self.journal.list(path)}
        for execution in self.active.values():
            if path is None or execution.path == path:
                records[execution.id] = execution.to_json()
        return sorted(records.values(), key=lambda r: r["created"], reverse=True)

    def _active(self, execution_id: str) -> Execution:
        execution = self.active.get(execution_id)
        if execution is None:
            raise ApiError("not_found", f"no unfinished execution {execution_id}")
        return execution

    async def cancel(self, execution_id: str) -> dict[str, Any]:
        execution = self._active(execution_id)
        self.executors[execution.path].cancel(execution)
        await self.record(execution)
        return execution.to_json()

    async def interrupt(self, execution_id: str) -> dict[str, Any]:
        execution = self._active(execution_id)
        await self.executors[execution.path].interrupt(execution)
        return execution.to_json()

    async def answer(self, execution_id: str, value: str) -> dict[str, Any]:
        execution = self._active(execution_id)
        for cell in execution.cells:
            if cell.input_request is not None and cell.answer is not None and not cell.answer.done():
                cell.answer.set_result(value)
                return execution.to_json()
        raise ApiError("no_input_pending", f"execution {execution_id} is not waiting for input")

    async def restart(self, path: str, run_all: bool) -> Execution | None:
        """Restart the kernel of notebook ``path``; then run all its code cells if ``run_all``."""
        await self.ensure_open()
        executor = self.executors.get(path)
        if executor is None:
            executor = self.executors[path] = NotebookExecutor(self, path)
        for execution in list(executor.queue):
            executor.cancel(execution)
            await self.record(execution)
        await executor.restart()
        return await self.submit(path, None) if run_all else None
