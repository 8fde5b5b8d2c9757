"""Executions by notebook path and cell id (and of code outside any notebook, on a kernel): the API
behind the REST handlers.

:class:`ExecutionManager` validates requests against the shared document (cell ids,
source hashes), queues them on the notebook's :class:`NotebookExecutor`, keeps the
records of running work in memory and every record in the journal. Reading a
record never consumes it.

Error handling: while the journal cannot be written (disk full), a new request is
refused (``journal_unavailable``), a queued execution is aborted when its turn
comes, and a running one runs on; records that could not be written stay in
memory (served as usual) and are written as soon as a write succeeds again, or
at stop. A kernel shut down or restarted through Jupyter (its ``kernel_actions``
event) aborts the cell running on it and closes the kernel clients connected to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from .errors import ApiError
from .heap import HeapTrimmer
from .executor import NotebookExecutor, find_cell
from .journal import ExecutionJournal, JournalError
from .output_log import OutputLog
from .records import CellRun, Execution, source_hash
from rtc_common.tasks import TaskSet

__all__ = ["ExecutionManager"]

log = logging.getLogger("supernode.executions")

KERNEL_EVENTS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
_KERNEL_ENDS = {"shutdown": "the kernel was shut down", "restart": "the kernel was restarted"}
_RETRY_FIRST, _RETRY_MAX = 0.25, 2.0  # seconds between tries to write what the journal refused


class ExecutionManager:
    """All executions of the server. ``record_interval`` (s): how often running records are journalled;
    ``output_interval`` (s): how often a running cell's outputs are written into its document;
    ``event_logger``: the server's (kernel actions are heard there), or None."""

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
        event_logger: Any = None,
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
        # Told every kernel message a running execution sees: (path, channel, message, execution id, cell id).
        self.message_watchers: list[Callable[[str, str, dict[str, Any], str | None, str | None], None]] = []
        self.kernel_restarts: Callable[[str | None], int | None] = lambda kernel_id: None
        self.journal_error: str | None = None  # why the last journal write failed; None once one succeeds
        self._unjournalled: set[str] = set()  # ids (in self.active) whose latest record is not in the journal
        self._retrying: asyncio.Task[None] | None = None
        self.event_logger = event_logger
        if event_logger is not None:
            event_logger.add_listener(schema_id=KERNEL_EVENTS, listener=self._on_kernel_event)

    # -- lifecycle -----------------------------------------------------------------------------

    async def ensure_open(self) -> None:
        """Open the journal once (marking what a previous process left unfinished as aborted).

        Raises ``ApiError("journal_unavailable")`` if it cannot be opened (tried again on the next call).
        """
        if self._opened is None:
            self._opened = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._opened)
        except JournalError as exc:
            self._opened = None
            raise ApiError("journal_unavailable", f"the execution journal cannot be opened: {exc}") from None

    async def _open(self) -> None:
        try:
            unfinished = await self.journal.open()
        except Exception as exc:
            log.error("the execution journal %s cannot be opened: %s", self.journal.path, exc)
            raise JournalError(str(exc)) from exc
        for record in unfinished:
            log.warning(
                "execution %s of %s was unfinished when the server stopped: aborted", record["id"], record["path"]
            )
        if self.output_log is not None:
            await self.output_log.replay(self.documents.contents_manager, self.journal)
        await self.journal.prune()

    async def stop(self) -> None:
        if self.event_logger is not None:
            self.event_logger.remove_listener(schema_id=KERNEL_EVENTS, listener=self._on_kernel_event)
        for executor in self.executors.values():
            executor.close()
        for execution in list(self.active.values()):
            if not execution.finished_:
                execution.status = "aborted"
                execution.abort_rest("the server stopped")
                await self.record(execution)
        await self._write_unjournalled()
        if self._unjournalled:
            log.error(
                "%d execution record(s) could not be journalled before the server stopped (%s)",
                len(self._unjournalled),
                self.journal_error,
            )
        self._stopped = True
        if self.output_log is not None:
            await self.output_log.close()
        if self._opened is not None and self._opened.done() and not self._opened.exception():
            await self.journal.close()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task of the extension's supervisor."""
        return self.tasks.spawn(coro, name)

    async def record(self, execution: Execution) -> bool:
        """Journal the execution's record as it is now, and tell the watchers.

        Returns False if the journal could not be written: the record stays in memory (readable
        as usual) and is written once a write succeeds again. Never raises for the journal.

        A running cell's outputs are deferred (see :meth:`~supernode.records.CellRun.to_json`): the
        journal builds and encodes them on its thread, so a record costs the event loop the same
        however much a cell has printed. The watchers get the same record.
        """
        record = execution.to_json(deferred=True)
        written = await self._journal(execution, record)
        self._tell(record)
        return written

    def _tell(self, record: dict[str, Any]) -> None:
        for watcher in self.watchers:
            try:
                watcher(record)
            except Exception:
                log.exception("an execution watcher failed on record %s", record["id"])

    async def _journal(self, execution: Execution, record: dict[str, Any]) -> bool:
        if self._stopped:
            return True  # stop() journalled every unfinished record as aborted and closed the journal
        try:
            await self.journal.write(record)
        except JournalError as exc:
            if self.journal_error is None:
                log.error(
                    "the execution journal %s cannot be written (%s): records are kept in memory until it can; "
                    "new executions are refused and queued ones aborted meanwhile",
                    self.journal.path,
                    exc,
                )
            self.journal_error = str(exc)
            self._unjournalled.add(execution.id)
            if self._retrying is None or self._retrying.done():
                self._retrying = self.spawn(self._retry(), "execution journal retry")
            return False
        self._unjournalled.discard(execution.id)
        self._forget_if_finished(execution)
        if self.journal_error is not None:
            self._journal_works()
            await self._write_unjournalled()
        return True

    def _journal_works(self) -> None:
        if self.journal_error is not None:
            self.journal_error = None
            log.info("the execution journal %s is written again", self.journal.path)

    async def _retry(self) -> None:
        """Write what the journal refused as soon as it can be written: tried after 0.25 s, then
        twice as long each time, never more than 2 s apart."""
        delay = _RETRY_FIRST
        while self._unjournalled and not self._stopped:
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)
            await self._write_unjournalled()

    async def _write_unjournalled(self) -> None:
        for execution_id in list(self._unjournalled):
            execution = self.active.get(execution_id)
            if execution is None:
                self._unjournalled.discard(execution_id)
                continue
            if self._stopped:
                return
            try:
                await self.journal.write(execution.to_json(deferred=True))
            except JournalError as exc:
                self.journal_error = str(exc)
                return
            self._journal_works()
            self._unjournalled.discard(execution_id)
            self._forget_if_finished(execution)

    def _forget_if_finished(self, execution: Execution) -> None:
        if (
            execution.finished_
            and execution.id not in self._unjournalled
            and self.active.get(execution.id) is execution
        ):
            del self.active[execution.id]

    def idle(self, executor: NotebookExecutor) -> None:
        """``executor``'s worker ended; drop it if its kernel is gone (nothing of it is left to keep)."""
        if not executor.busy and executor.closed and self.executors.get(executor.key) is executor:
            del self.executors[executor.key]

    async def _on_kernel_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        reason = _KERNEL_ENDS.get(data.get("action", ""))
        kernel_id = data.get("kernel_id")
        if reason is None or not kernel_id or data.get("status") == "error":
            return
        for executor in list(self.executors.values()):
            executor.kernel_gone(kernel_id, reason, restarted=data["action"] == "restart")
            if data["action"] == "shutdown":
                self.idle(executor)

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
        await self.enqueue(execution)
        return execution

    async def enqueue(self, execution: Execution) -> None:
        """Journal ``execution`` (queued) and queue it: after its notebook's executions, or, without a
        path, after those of its kernel (``kernel_hint``) outside any notebook.

        Raises ``ApiError("journal_unavailable")`` (nothing queued) if the journal cannot be written.
        """
        await self.ensure_open()
        record = execution.to_json()
        self.active[execution.id] = execution
        if not await self._journal(execution, record):
            del self.active[execution.id]
            self._unjournalled.discard(execution.id)
            raise ApiError(
                "journal_unavailable",
                f"the execution journal cannot be written ({self.journal_error}); nothing was queued",
            )
        self._tell(record)
        key = execution.queue_key
        executor = self.executors.get(key)
        if executor is None:
            executor = self.executors[key] = NotebookExecutor(self, execution.path, execution.kernel_hint)
        executor.submit(execution)

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
        executor = self.executors.get(execution.queue_key)
        if executor is None:  # finished, its record not journalled yet
            raise ApiError("not_cancellable", f"execution {execution.id} is {execution.status}, not queued")
        executor.cancel(execution)
        await self.record(execution)
        return execution.to_json()

    def cancel_queued(self, execution: Execution, reason: str) -> bool:
        """Cancel ``execution`` with ``reason`` if it still waits in its queue; False if it does not.

        Synchronous, so a caller told of a record (a watcher) cancels before the worker takes the next
        execution; the record is journalled (and the watchers told) by a task of its own.
        """
        executor = self.executors.get(execution.queue_key)
        if executor is None or execution not in executor.queue:
            return False
        executor.cancel(execution, reason)
        try:
            self.spawn(self.record(execution), f"record of cancelled execution {execution.id}")
        except RuntimeError:  # stopping: stop() writes it
            self._unjournalled.add(execution.id)
        return True

    async def interrupt(self, execution_id: str) -> dict[str, Any]:
        execution = self._active(execution_id)
        executor = self.executors.get(execution.queue_key)
        if executor is None:
            raise ApiError("not_running", f"execution {execution.id} is {execution.status}, not running")
        await executor.interrupt(execution)
        return execution.to_json()

    async def answer(self, execution_id: str, value: str) -> dict[str, Any]:
        execution = self._active(execution_id)
        if not _answer(execution, value):
            raise ApiError("no_input_pending", f"execution {execution_id} is not waiting for input")
        return execution.to_json()

    def answer_kernel(self, kernel_id: str, value: str) -> Execution:
        """Answer the input() a cell running on kernel ``kernel_id`` waits for (whichever asked it to run);
        return its execution. Raises ``ApiError("no_input_pending")`` if none waits on that kernel."""
        for execution in self.active.values():
            if any(cell.kernel_id == kernel_id for cell in execution.cells) and _answer(execution, value):
                return execution
        raise ApiError("no_input_pending", f"no cell running on kernel {kernel_id} is waiting for input")

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


def _answer(execution: Execution, value: str) -> bool:
    """Answer the input() a cell of ``execution`` waits for; False if none does."""
    for cell in execution.cells:
        if cell.input_request is not None and cell.answer is not None and not cell.answer.done():
            cell.answer.set_result(value)
            return True
    return False
