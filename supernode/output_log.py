"""The output log: every output message of a running execution, on disk before it is in the notebook.

A notebook file is saved at most every ``save_max_wait`` seconds while a cell runs, so a server
killed with SIGKILL would lose the outputs printed since the last save. This log keeps them: one
append-only file per running execution, ``<directory>/<execution id>.jsonl``, holding JSON lines

- ``{"execution": id, "path": notebook path}`` — the first line;
- ``{"cell": cell_id, "run": n}`` — a cell starts (its outputs are cleared), as the execution's
  ``n``-th cell run;
- ``[msg_type, content]`` — one iopub output message of the run started or named last, in the
  order received;
- ``{"run": n}`` — the messages that follow belong to run ``n`` again (a writer that commits
  after the next cell started).

Ordering contract (what makes a replay exact): an :class:`~supernode.output_writer.OutputWriter`
given a :class:`CellLog` adds each message to it as it handles it and commits the log (one
``os.write``, on the calling thread) before it writes anything into the document. So the log always
holds every message whose effect a save can have put into the file: the file's outputs of a cell
are those of a prefix of the cell's logged messages, and replaying *all* of them gives the newest
state, with no output twice. ``os.write`` puts the bytes in the OS page cache, which survives the
death of the process (SIGKILL, an OOM kill, a crash); ``fsync`` at most every ``sync_interval``
seconds (0.5) in a helper thread bounds what a power cut can lose. The cost per message is one
``json.dumps`` of it; one write per flush of the writer (per batch of messages).

Lifecycle: :meth:`OutputLog.cell` opens (on a cell's first use) the file of an execution;
:meth:`OutputLog.ended` closes and deletes it once the execution ended and its final save was
attempted. What is left in the directory at start is the outputs of executions a previous process
did not finish: :meth:`OutputLog.replay` rebuilds each cell's outputs from its messages (streams
merged by name, ``\\r``/``\\b`` and ``clear_output`` applied, exactly as the writer does), writes
them over that cell's outputs in the notebook file (through the contents manager; also into the
journalled record), then deletes the log.

Error handling: a write that fails (disk full) drops that execution's log with a warning (the
outputs still go to the notebook; only the crash guarantee is lost for that run). A notebook that
cannot be read at replay (deleted, renamed) is skipped with a warning and its log dropped; one that
cannot be saved keeps its log for the next start.

Resource handling: one file descriptor per running execution; ``fsync``, close and delete run on one
helper thread, in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async
from jupyter_ydoc import YNotebook

__all__ = ["CellLog", "OutputLog"]

log = logging.getLogger("supernode.executions")


class _ExecutionFile:
    __slots__ = ("execution_id", "path", "fd", "synced", "runs", "current_run")

    def __init__(self, execution_id: str, path: Path, fd: int) -> None:
        self.execution_id = execution_id
        self.path = path
        self.fd = fd
        self.synced = True  # nothing written since the last fsync
        self.runs = 0  # cell runs started
        self.current_run = 0  # the run the file's next message line belongs to


class CellLog:
    """The log of one cell run, as an :class:`~supernode.output_writer.OutputWriter` feeds it.

    :meth:`add` buffers a message (cheap); :meth:`commit` writes what is buffered with one
    ``os.write``. The writer commits before each write into the document.
    """

    __slots__ = ("_owner", "_file", "_run", "_lines")

    def __init__(self, owner: OutputLog, file: _ExecutionFile, run: int) -> None:
        self._owner = owner
        self._file = file
        self._run = run
        self._lines: list[str] = []

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        self._lines.append(json.dumps([msg_type, content], default=str))

    def commit(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            if self._file.current_run != self._run:
                lines.insert(0, json.dumps({"run": self._run}))
                self._file.current_run = self._run
            self._owner._append(self._file, lines)


class OutputLog:
    """The output logs of the running executions, in ``directory`` (created on first use).

    ``sync_interval`` (seconds): the longest time a written message waits for its ``fsync``.
    """

    def __init__(self, directory: str | Path, *, sync_interval: float = 0.5) -> None:
        self.directory = Path(directory)
        self.sync_interval = sync_interval
        self._files: dict[str, _ExecutionFile] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="supernode-output-log")
        self._sync_timer: asyncio.TimerHandle | None = None
        self._closed = False

    # -- while executions run ------------------------------------------------------------------

    def cell(self, execution_id: str, path: str, cell_id: str) -> CellLog | None:
        """The log of a cell that starts now in execution ``execution_id`` of notebook ``path``.

        Returns None when the log cannot be written (logged; the cell runs without it).
        """
        if self._closed:
            return None
        file = self._files.get(execution_id)
        if file is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                name = self.directory / f"{execution_id}.jsonl"
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            except OSError as exc:
                log.warning("no output log for execution %s: %s", execution_id, exc)
                return None
            file = self._files[execution_id] = _ExecutionFile(execution_id, name, fd)
            self._append(file, [json.dumps({"execution": execution_id, "path": path})])
        file.runs += 1
        file.current_run = file.runs
        self._append(file, [json.dumps({"cell": cell_id, "run": file.runs})])
        if self._files.get(execution_id) is not file:
            return None  # the write failed: the log was dropped
        return CellLog(self, file, file.runs)

    def _append(self, file: _ExecutionFile, lines: list[str]) -> None:
        if self._files.get(file.execution_id) is not file:
            return  # dropped after a failed write, or ended
        data = ("\n".join(lines) + "\n").encode()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(file.fd, view) :]
        except OSError as exc:
            log.warning(
                "writing the output log of execution %s failed (%s): dropped; a crash now loses its unsaved outputs",
                file.execution_id,
                exc,
            )
            self._release(file, delete=True)
            return
        file.synced = False
        if self._sync_timer is None:
            self._sync_timer = asyncio.get_running_loop().call_later(self.sync_interval, self._sync_due)

    def _sync_due(self) -> None:
        self._sync_timer = None
        for file in self._files.values():
            if not file.synced:
                file.synced = True
                self._submit(os.fsync, file.fd)

    def ended(self, execution_id: str) -> None:
        """The execution ended and its final save was attempted: its log is no longer needed."""
        file = self._files.get(execution_id)
        if file is not None:
            self._release(file, delete=True)

    def _release(self, file: _ExecutionFile, *, delete: bool) -> None:
        del self._files[file.execution_id]
        self._submit(os.close, file.fd)
        if delete:
            self._submit(_unlink, file.path)

    def _submit(self, fn: Any, *args: Any) -> None:
        future = self._thread.submit(fn, *args)
        future.add_done_callback(_log_failure)

    async def close(self) -> None:
        """Close every file, keeping them (their executions did not end: a later start replays them)."""
        self._closed = True
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        for file in list(self._files.values()):
            if not file.synced:
                self._submit(os.fsync, file.fd)
            self._release(file, delete=False)
        await asyncio.get_running_loop().run_in_executor(None, self._thread.shutdown, True)

    # -- at start ------------------------------------------------------------------------------

    async def replay(self, contents_manager: Any, journal: Any = None) -> list[str]:
        """Write the outputs logged by executions a previous process left running into their notebooks.

        ``journal`` (an open :class:`~supernode.journal.ExecutionJournal`, optional): the records of
        those executions get the same outputs. Returns the ids of the executions replayed.
        """
        loop = asyncio.get_running_loop()
        names = await loop.run_in_executor(self._thread, _leftovers, self.directory)
        replayed = []
        for name in names:
            try:
                text = await loop.run_in_executor(self._thread, _read, name)
                header, cells = parse(text)
                if header is not None:
                    execution_id, path = header["execution"], header["path"]
                    outcome = await self._write_notebook(contents_manager, path, cells)
                    if outcome == "failed":
                        continue  # kept for the next start
                    if outcome == "saved":
                        replayed.append(execution_id)
                        if journal is not None:
                            await _update_record(journal, execution_id, cells)
            except asyncio.CancelledError:
                raise
            except Exception:  # one bad log never keeps the executions from opening
                log.exception("the output log %s cannot be replayed; it is dropped", name)
            await loop.run_in_executor(self._thread, _unlink, name)
        return replayed

    async def _write_notebook(self, cm: Any, path: str, cells: dict[str, list[dict[str, Any]]]) -> str:
        try:
            model = await ensure_async(cm.get(path, content=True, type="notebook"))
        except Exception as exc:
            log.warning("the outputs logged for %s are dropped: it cannot be read (%s)", path, exc)
            return "dropped"
        notebook = model["content"]
        changed = 0
        for cell in notebook.cells:
            outputs = cells.get(cell.get("id"))
            if outputs is not None and cell.get("cell_type") == "code":
                new = [nbformat.from_dict(output) for output in outputs]
                if cell.get("outputs") != new:
                    cell["outputs"] = new
                    changed += 1
        if not changed:
            return "unchanged"
        try:
            await ensure_async(cm.save({"type": "notebook", "format": "json", "content": notebook}, path))
        except Exception as exc:
            log.error("the outputs logged for %s could not be saved (%s); trying again at the next start", path, exc)
            return "failed"
        log.warning("%s: the outputs of %d cell(s) printed before the server died were restored", path, changed)
        return "saved"


def parse(text: str) -> tuple[dict[str, Any] | None, dict[str, list[dict[str, Any]]]]:
    """The header and each cell's outputs (nbformat dicts) of one execution's log ``text``.

    A torn last line (a write cut by a power loss) is ignored. A cell logged twice keeps its last run.
    A display id shown again or updated changes the earlier outputs of this execution that show it,
    as the writers do in the document; outputs of earlier executions are not changed.
    """
    from .output_writer import OutputWriter

    header: dict[str, Any] | None = None
    scratch = YNotebook()  # the writers' models alone are used: nothing is ever flushed into it
    runs: dict[int, OutputWriter] = {}
    latest: dict[str, int] = {}  # cell id -> its last run
    writer: OutputWriter | None = None
    for line in text.split("\n"):
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line
        if isinstance(entry, list) and len(entry) == 2 and writer is not None:
            msg_type, content = entry
            writer.handle(msg_type, content)
            display_id = (content.get("transient") or {}).get("display_id")
            if display_id and msg_type in ("display_data", "execute_result", "update_display_data"):
                # As in the document (DisplayIndex): the outputs of the earlier cells showing it change too.
                for other in runs.values():
                    if other is not writer:
                        other._update_display(display_id, content.get("data", {}), content.get("metadata", {}))
        elif isinstance(entry, dict) and "cell" in entry:
            writer = runs[entry["run"]] = OutputWriter(
                scratch, entry["cell"], autoflush=False, max_pending_chars=1 << 62
            )
            latest[entry["cell"]] = entry["run"]
        elif isinstance(entry, dict) and "run" in entry:
            writer = runs.get(entry["run"])
        elif isinstance(entry, dict) and "execution" in entry:
            header = entry
    return header, {cell_id: runs[run].outputs for cell_id, run in latest.items()}


async def _update_record(journal: Any, execution_id: str, cells: dict[str, list[dict[str, Any]]]) -> None:
    try:
        record = await journal.get(execution_id)
        if record is None:
            return
        for cell in record.get("cells", []):
            if cell.get("cell_id") in cells:
                cell["outputs"] = cells[cell["cell_id"]]
        await journal.write(record)
    except Exception:
        log.exception("the record of execution %s could not be given its restored outputs", execution_id)


def _leftovers(directory: Path) -> list[Path]:
    try:
        return sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return []


def _read(path: Path) -> str:
    return path.read_bytes().decode(errors="replace")


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("output log: %s", exc)
