"""Runs the executions of one notebook: one at a time, in the order received, with its kernel.

The code run is each cell's current source in the shared document. While a cell
runs the document shows ``execution_state`` ``running`` and the outputs as they
arrive (:mod:`supernode.output_writer`); at the end ``execution_count`` and
``execution_state`` ``idle`` are written in one transaction, the record is
journalled and the file saved at once. The notebook's room is held open while
executions are queued or running, so no output ever goes to a document nobody
saves. A cell that fails stops its execution; the cells after it are not run.

Every execution ends, and the worker goes on with the next one:

- its notebook deleted or renamed before it starts: ``aborted`` (not run);
- the journal cannot be written when it would start: ``aborted`` (not run: its
  record could not outlive the server);
- its kernel dies, is restarted or shut down while a cell runs: ``aborted``, the
  cells after it not run (the next execution gets a fresh kernel client);
- a cell deleted before its turn: ``error`` (``CellNotFound``), the rest not run.

Code outside any notebook (an execution without ``path``, queued per kernel) runs in a scratch notebook
of one cell that lives as long as the run: its outputs are shaped exactly like a cell's and kept in the
record only. A cell run with ``code`` runs that code instead of the cell's source.

Resource handling: the executor owns one kernel client (its zmq sockets and its
heartbeat thread) while its kernel lives; :meth:`NotebookExecutor.kernel_gone`
closes it when the kernel is shut down or restarted, and :meth:`close` at stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from pycrdt import Map

from .errors import ApiError
from .execution_timing import ExecutionTiming, json_header
from .kernel_link import CellAborted, KernelLink
from .scratch import SCRATCH_CELL, scratch_notebook
from .records import CellRun, Execution, now

if TYPE_CHECKING:
    from .document import LiveDocument
    from .executions import ExecutionManager

__all__ = ["NotebookExecutor", "find_cell"]

log = logging.getLogger("supernode.executions")

_OUTPUT_TYPES = frozenset(("stream", "display_data", "execute_result", "error", "clear_output", "update_display_data"))
_POLL = 1.0  # seconds between checks that the kernel is alive while a cell is silent
_KERNEL_WAIT = 60.0  # seconds a kernel (re)starting may take before an execution gives up on it


def find_cell(document: Any, cell_id: str) -> Map | None:
    """The cell map with id ``cell_id`` in a YNotebook, wherever collaborators moved it."""
    for ycell in document.ycells:
        if ycell.get("id") == cell_id:
            return ycell
    return None


class NotebookExecutor:
    """The queue and the worker of one notebook (by path), or of code run outside any notebook on kernel
    ``kernel_id`` (``path`` empty). ``key``: its key in the manager's executors (:attr:`Execution.queue_key`)."""

    def __init__(self, manager: ExecutionManager, path: str, kernel_id: str | None = None) -> None:
        self.manager = manager
        self.path = path
        self.key = path or f"/kernels/{kernel_id}"
        self.queue: deque[Execution] = deque()
        self.current: Execution | None = None
        self._worker: asyncio.Task[None] | None = None
        self._cell_task: asyncio.Task[bool] | None = None
        self._abort_reason = ""
        self._interrupt_pending = False
        self._timing: ExecutionTiming | None = None  # the running cell's, when its execution records timings
        self.kernel = KernelLink(
            path=path,
            kernel_manager=manager.kernel_manager,
            session_manager=manager.session_manager,
            on_death=lambda kernel_id: self.kernel_gone(kernel_id, "the kernel died"),
            wait=_KERNEL_WAIT,
        )
        from .display_index import DisplayIndex

        self.displays = DisplayIndex()

    @property
    def busy(self) -> bool:
        return self.current is not None or bool(self.queue)

    @property
    def closed(self) -> bool:
        """No kernel client is open (none yet, or its kernel is gone)."""
        return self.kernel.closed

    def submit(self, execution: Execution) -> None:
        self.queue.append(execution)
        if self._worker is None or self._worker.done():
            self._worker = self.manager.spawn(self._work(), f"executions of {self.path}")

    def cancel(self, execution: Execution, reason: str = "cancelled before it ran") -> None:
        if execution not in self.queue:
            raise ApiError("not_cancellable", f"execution {execution.id} is {execution.status}, not queued")
        self.queue.remove(execution)
        execution.status = "aborted"
        execution.finished = now()
        execution.abort_rest(reason)
        execution.done.set()

    async def interrupt(self, execution: Execution) -> None:
        if self.current is not execution:
            raise ApiError("not_running", f"execution {execution.id} is {execution.status}, not running")
        if self._cell_task is None or self.kernel.kernel_id is None:
            self._interrupt_pending = True  # its kernel is still starting: stop before the first cell
            return
        await self.manager.kernel_manager.interrupt_kernel(self.kernel.kernel_id)

    async def restart(self) -> None:
        """Restart the notebook's kernel; the running cell and the rest of its execution are aborted."""
        kernel_id = self.kernel.kernel_id or await self.kernel.find()
        if kernel_id is None:
            raise ApiError("not_found", f"{self.path} has no kernel")
        self._abort_cell("the kernel was restarted")
        await self.manager.kernel_manager.restart_kernel(kernel_id)
        self.close()  # a fresh client waits for the restarted kernel to be ready

    def kernel_gone(self, kernel_id: str, reason: str, *, restarted: bool = False) -> None:
        """Kernel ``kernel_id`` died, was restarted or shut down (``reason`` says which, for the record).

        Its running cell (if it runs there) is aborted with ``reason``; the client is closed, so
        the next execution connects afresh (a kernel restarted after dying listens on new ports).
        ``restarted``: told after a restart ended, so a client that connected to the new process
        since (the next execution, quicker than the news) is left alone.
        """
        if kernel_id != self.kernel.kernel_id or (restarted and self.kernel.talks_to_current_process()):
            return
        self._abort_cell(reason)
        self.close()

    def _abort_cell(self, reason: str) -> None:
        if self._cell_task is not None and not self._cell_task.done():
            self._abort_reason = self._abort_reason or reason
            self._cell_task.cancel()

    # -- the worker ---------------------------------------------------------------------------

    async def _work(self) -> None:
        held: LiveDocument | None = None  # the room kept open for the work: the current execution's
        try:
            while self.queue:
                execution = self.queue.popleft()
                self.current = execution
                self._interrupt_pending = False
                live = None
                crashed = False
                try:
                    if execution.path:  # (code outside any notebook has no room to hold)
                        live = await self.manager.documents.document_for_path(execution.path)
                        if live is None:
                            execution.status = "aborted"
                            execution.abort_rest(f"the notebook {execution.path} was deleted or renamed before it ran")
                            continue
                        if live is not held:
                            live.hold(True)  # the room outlives every browser while there is work
                            if held is not None:
                                held.hold(False)
                            held = live
                    status = await self._run(execution, live)
                    if execution.kernel_hint is None and live is not None:
                        # The file holds the outputs before the record says the execution ended: a program
                        # that reads the notebook once its execution is finished finds them there.
                        await self._save(live)
                    # A run the frontend asked for is saved like typing, by the autosave: its users see the
                    # outputs live, and a save of the server's own just as one of them presses Ctrl+S shows
                    # them the stock frontend's "File Changed" dialog (it checks the file's hash first).
                    execution.status = status
                except Exception:
                    crashed = True
                    log.exception("execution %s of %s failed", execution.id, self.path)
                    execution.status = "error"
                    execution.abort_rest("internal error (see the server log)")
                finally:
                    execution.finished = execution.finished or now()
                    await self.manager.record(execution)
                    execution.done.set()
                    self.current = None
                    self._cell_task = None
                    if crashed and live is not None and live.dirty:
                        await self._save(live)  # an execution that failed in our code: save what it wrote
                    if self.manager.output_log is not None:
                        self.manager.output_log.ended(execution.id)  # its outputs are in the file now
            self.manager.heap.trim()  # the burst is over: give its freed memory back
        finally:
            if held is not None:
                held.hold(False)
            self.manager.idle(self)

    async def _save(self, live: LiveDocument) -> None:
        from .document import SaveFailed

        try:
            await live.save("execution finished")
        except SaveFailed:
            pass  # logged; the room keeps the outputs and stays dirty

    async def _run(self, execution: Execution, live: LiveDocument | None) -> str:
        """Run ``execution``'s cells; return its terminal status (the caller sets it once the file is saved)."""
        execution.status = "running"
        execution.started = now()
        if not await self.manager.record(execution):
            execution.started = None
            execution.abort_rest(f"not started: the execution journal cannot be written ({self.manager.journal_error})")
            return "aborted"
        try:
            meta = live.document._ymeta.get("metadata") if live is not None else None
            kernelspec = (meta.to_py() if meta is not None else {}).get("kernelspec") or {}
            client = await self.kernel.client(kernelspec, execution.kernel_hint)
        except Exception as exc:
            log.error("no kernel for %s: %s", self.path, exc)
            execution.abort_rest(f"no kernel could be started: {exc}")
            return "aborted"
        for step in execution.cells:
            self._abort_reason = ""
            self._timing = None
            if live is not None:
                document, cell_id = live.document, step.cell_id
            else:
                document, cell_id = scratch_notebook(step.code or ""), SCRATCH_CELL
            self._cell_task = asyncio.ensure_future(self._run_cell(execution, step, document, cell_id, client))
            try:
                ok = await self._cell_task
            except asyncio.CancelledError:
                if not self._abort_reason:
                    raise
                ok = False
                self._finish_cell(document, cell_id, execution, step, None, "aborted")
            except CellAborted as exc:
                self._abort_reason = self._abort_reason or str(exc)
                ok = False
                self._finish_cell(document, cell_id, execution, step, None, "aborted")
                self.close()  # a dead kernel comes back on new ports: the next execution connects afresh
            if not ok:
                execution.abort_rest(self._abort_reason or f"cell {step.cell_id} failed")
                return "aborted" if step.status == "aborted" else "error"
        return "ok"

    async def _run_cell(self, execution: Execution, step: CellRun, document: Any, cell_id: str, client: Any) -> bool:
        """Run ``step`` as cell ``cell_id`` of ``document`` (the notebook's, or a scratch one)."""
        from .display_index import DisplayIndex
        from .output_writer import OutputWriter

        scratch = cell_id == SCRATCH_CELL and not step.cell_id
        ycell = find_cell(document, cell_id)
        if ycell is None or ycell.get("cell_type") != "code":
            step.status = "error"
            step.error = {"ename": "CellNotFound", "evalue": f"no code cell {step.cell_id}", "traceback": []}
            step.finished = now()
            self._abort_reason = f"cell {step.cell_id} was deleted (or is no longer code) before it ran"
            return False
        if self._interrupt_pending:
            self._interrupt_pending = False
            raise CellAborted("interrupted before it ran")
        code = step.code if step.code is not None else str(ycell["source"])
        outputs_log = None if scratch else self.manager.output_log  # (scratch outputs go to no file)
        cell_log = outputs_log.cell(execution.id, self.path, cell_id) if outputs_log is not None else None
        displays = DisplayIndex() if scratch else self.displays
        writer = OutputWriter(document, cell_id, displays, min_interval=self.manager.output_interval, log=cell_log)
        timing = self._timing = ExecutionTiming() if execution.record_timing else None
        with document.ydoc.transaction():
            ycell["execution_state"] = "running"
            if execution.record_timing is not None or execution.running_metadata:
                metadata = ycell["metadata"]
                if execution.record_timing is not None and "execution" in metadata:
                    del metadata["execution"]  # (as JupyterLab and jupyter-server-nbmodel do at a run's start)
                for key, value in execution.running_metadata.items():
                    metadata[key] = value
            writer.start()
        step.status = "running"
        step.live = writer  # the record reads the outputs so far from the writer (never copied per message)
        step.started = now()
        step.kernel_id = self.kernel.kernel_id
        step.kernel_restarts = self.manager.kernel_restarts(self.kernel.kernel_id)
        await self.manager.record(execution)

        msg_id = client.execute(code, store_history=True, allow_stdin=True, stop_on_error=False)
        stdin = asyncio.ensure_future(self._answer_input(client, execution, step))
        loop = asyncio.get_running_loop()
        recorded = loop.time()
        try:
            count = None
            while True:
                batch = await self.kernel.next_messages(client, _POLL)
                if self.manager.message_watchers:
                    self._tell_messages("iopub", batch, execution, step, msg_id)
                idle = timed = False
                for msg in batch:
                    if msg["parent_header"].get("msg_id") != msg_id:
                        continue
                    kind, content = msg["msg_type"], msg["content"]
                    if timing is not None:
                        timed = timing.see(msg) or timed
                    if kind == "status":
                        idle = content.get("execution_state") == "idle"
                    elif kind == "execute_input":
                        count = content.get("execution_count")
                    elif kind in _OUTPUT_TYPES:
                        writer.handle(kind, content)
                        if kind == "error":
                            step.error = {k: content.get(k) for k in ("ename", "evalue", "traceback")}
                if idle:
                    writer.flush()  # the last outputs at once, before the count
                else:
                    writer.flush_paced()
                if timed and not idle and (ycell := find_cell(document, cell_id)) is not None:
                    with document.ydoc.transaction():  # (the idle one is written with the count)
                        timing.write(ycell)
                if idle:
                    break
                if loop.time() - recorded >= self.manager.record_interval:
                    recorded = loop.time()
                    await self.manager.record(execution)
            reply = await self.kernel.reply(client, msg_id, _POLL)
            if self.manager.message_watchers:
                self._tell_messages("shell", [reply], execution, step, msg_id)
        finally:
            stdin.cancel()
            writer.flush()  # a paced write still waiting (the cell was aborted): into the document now
            step.outputs, step.live = writer.outputs, None
        content = reply["content"]
        if timing is not None:
            timing.replied(reply)
        status = "ok" if content.get("status") == "ok" else "error"
        if status == "error" and step.error is None:
            step.error = {k: content.get(k) for k in ("ename", "evalue", "traceback")}
        self._finish_cell(document, cell_id, execution, step, content.get("execution_count", count), status)
        return status == "ok"

    def _finish_cell(
        self, document: Any, cell_id: str, execution: Execution, step: CellRun, count: int | None, status: str
    ) -> None:
        timing = self._timing
        if timing is not None and status == "aborted":
            timing.failed()
        ycell = find_cell(document, cell_id)
        if ycell is not None:
            with document.ydoc.transaction():  # count and idle together: the frontend's contract
                if count is not None:
                    ycell["execution_count"] = float(count)
                ycell["execution_state"] = "idle"
                for key in execution.running_metadata:
                    if key in ycell["metadata"]:
                        del ycell["metadata"][key]
                if timing is not None:
                    timing.write(ycell)
        step.execution_count = count
        step.status = status
        step.input_request = None
        step.finished = now()

    async def _answer_input(self, client: Any, execution: Execution, step: CellRun) -> None:
        while True:
            msg = await client.get_stdin_msg()
            if self.manager.message_watchers:
                self._tell_messages("stdin", [msg], execution, step, None)
            if msg["msg_type"] != "input_request":
                continue
            step.input_request = {
                "prompt": msg["content"].get("prompt", ""),
                "password": bool(msg["content"].get("password", False)),
            }
            step.input_header = json_header(msg["header"])
            step.answer = asyncio.get_running_loop().create_future()
            await self.manager.record(execution)
            value = await step.answer
            step.input_request = step.input_header = None
            step.answer = None
            client.input(value)
            await self.manager.record(execution)

    def _tell_messages(
        self, channel: str, messages: list[dict[str, Any]], execution: Execution, step: CellRun, msg_id: str | None
    ) -> None:
        """Show the kernel's messages to the manager's message watchers, each with the cell it belongs to
        (None for a message that answers no request of ours, e.g. another client's of the same kernel)."""
        for msg in messages:
            parent = msg.get("parent_header", {}).get("msg_id")
            ours = msg_id is None or parent == msg_id
            for watcher in list(self.manager.message_watchers):
                try:
                    watcher(self.path, channel, msg, execution.id if ours else None, step.cell_id if ours else None)
                except Exception:
                    log.exception("a kernel message watcher failed")

    def close(self) -> None:
        """Close the kernel client (see :class:`KernelLink`)."""
        self.kernel.close()
