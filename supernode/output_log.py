"""The output log: every output message of a running execution, on disk before it is in the notebook.

A notebook file is saved at most every ``save_max_wait`` seconds while a cell runs, so a server
killed with SIGKILL would lose the outputs printed since the last save. This log keeps them: one
append-only file per cell run, ``<directory>/<execution id>.<run>.jsonl``, holding JSON lines

- ``{"execution": id, "path": notebook path, "cell": cell_id, "run": n}`` — the first line: the
  execution's ``n``-th cell run starts (the cell's outputs are cleared);
- ``[msg_type, content]`` — one iopub output message of that run, in the order received;
- ``{"snapshot": state}`` — the writer's model (:meth:`OutputWriter.model_state`) standing for
  every message before it.

Ordering contract (what makes a replay exact): an :class:`~supernode.output_writer.OutputWriter`
given a :class:`CellLog` adds each message to it as it handles it and commits the log (one
``os.write``, on the calling thread) before it writes anything into the document. So the log always
holds every message whose effect a save can have put into the file: the file's outputs of a cell
are those of a prefix of the cell's logged messages, and replaying *all* of them gives the newest
state, with no output twice. ``os.write`` puts the bytes in the OS page cache, which survives the
death of the process (SIGKILL, an OOM kill, a crash); ``fsync`` at most every ``sync_interval``
seconds (0.5) in a helper thread bounds what a power cut can lose. The cost per message is one
``json.dumps`` of it; one write per flush of the writer (per batch of messages).

Size: a run whose messages outgrow ``snapshot_bytes`` (1 MiB) and twice its last snapshot is
rewritten as one snapshot of its outputs (written beside, then renamed over the file), so a cell
updating a display for hours keeps a log of the size of its outputs, not of its messages; the cost
stays proportional to the bytes logged.

Lifecycle: :meth:`OutputLog.cell` starts the file of a cell run (closing the execution's previous
one, kept on disk); :meth:`OutputLog.ended` deletes an execution's files once it ended and its
final save was attempted. What is left in the directory at start is the outputs of executions a
previous process did not finish: :meth:`OutputLog.replay` rebuilds each cell's outputs from its
messages (:mod:`supernode.output_replay`: streams merged by name, ``\\r``/``\\b``, ``clear_output``
and display updates applied, exactly as the writer does), writes them over that cell's outputs in
the notebook file (through the contents manager; also into the journalled record), then deletes
the files. A replay replaces outputs, never appends: one cut short by another crash is simply done
again at the next start. A running cell's outputs that a collaborator changed come back as the kernel sent them.

Error handling: a write that fails (disk full) deletes that run's file at once with a warning (the
outputs still go to the notebook, and a replay never shrinks them to a partial log; only the crash
guarantee is lost for that run). A notebook that cannot be read at replay (deleted, renamed) is
skipped with a warning and its log dropped; one that cannot be saved keeps its log for the next start.

Resource handling: one open file per running execution; ``fsync`` and close run on one helper
thread, in order.
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

from .output_replay import parse

__all__ = ["CellLog", "OutputLog", "parse"]

log = logging.getLogger("supernode.executions")


class _RunFile:
    """The file of one cell run."""

    __slots__ = ("execution_id", "run", "path", "fd", "header", "synced", "since_snapshot", "snapshot_at")

    def __init__(self, execution_id: str, run: int, path: Path, fd: int, header: str, snapshot_at: int) -> None:
        self.execution_id = execution_id
        self.run = run
        self.path = path
        self.fd = fd
        self.header = header  # the first line
        self.synced = True  # nothing written since the last fsync
        self.since_snapshot = 0  # bytes of messages written since the last snapshot
        self.snapshot_at = snapshot_at  # ... beyond which the writer is asked for a snapshot


class CellLog:
    """The log of one cell run, as an :class:`~supernode.output_writer.OutputWriter` feeds it.

    :meth:`add` buffers a message (cheap); :meth:`commit` writes what is buffered with one
    ``os.write``; :meth:`snapshot` replaces the whole file by the writer's model when
    :meth:`wants_snapshot`. The writer calls one of the two before each write into the document.
    """

    __slots__ = ("_owner", "_file", "_lines", "_pending")

    def __init__(self, owner: OutputLog, file: _RunFile) -> None:
        self._owner = owner
        self._file = file
        self._lines: list[str] = []
        self._pending = 0  # bytes (about) in _lines

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        line = json.dumps([msg_type, content], default=str)
        self._lines.append(line)
        self._pending += len(line) + 1

    def commit(self) -> None:
        if self._lines:
            lines, self._lines, self._pending = self._lines, [], 0
            self._owner._append(self._file, lines)

    def wants_snapshot(self) -> bool:
        return self._file.since_snapshot + self._pending > self._file.snapshot_at

    def snapshot(self, state: dict[str, Any]) -> None:
        """The writer's model stands for every message so far (those buffered included)."""
        self._lines, self._pending = [], 0
        self._owner._rewrite(self._file, json.dumps({"snapshot": state}, default=str))


class OutputLog:
    """The output logs of the running executions, in ``directory`` (created on first use).

    ``sync_interval`` (seconds): the longest time a written message waits for its ``fsync``.
    ``snapshot_bytes``: the least a run logs before its file is rewritten as a snapshot.
    """

    def __init__(self, directory: str | Path, *, sync_interval: float = 0.5, snapshot_bytes: int = 1 << 20) -> None:
        self.directory = Path(directory)
        self.sync_interval = sync_interval
        self.snapshot_bytes = snapshot_bytes
        self._open: dict[str, _RunFile] = {}  # by execution id: the file of its current run
        self._earlier: dict[str, list[Path]] = {}  # by execution id: the files of its earlier runs
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
        previous = self._open.pop(execution_id, None)
        earlier = self._earlier.setdefault(execution_id, [])
        if previous is not None:
            self._close(previous)
            earlier.append(previous.path)
        run = len(earlier) + 1
        name = self.directory / f"{execution_id}.{run:06d}.jsonl"
        header = json.dumps({"execution": execution_id, "path": path, "cell": cell_id, "run": run})
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        except OSError as exc:
            log.warning("no output log for execution %s: %s", execution_id, exc)
            return None
        file = self._open[execution_id] = _RunFile(execution_id, run, name, fd, header, self.snapshot_bytes)
        self._append(file, [header], count=False)
        if self._open.get(execution_id) is not file:
            return None  # the write failed: the file was dropped
        return CellLog(self, file)

    def _append(self, file: _RunFile, lines: list[str], *, count: bool = True) -> None:
        if self._open.get(file.execution_id) is not file:
            return  # dropped after a failed write, or ended, or a later run started
        data = ("\n".join(lines) + "\n").encode()
        try:
            _write_all(file.fd, data)
        except OSError as exc:
            self._drop(file, exc)
            return
        if count:
            file.since_snapshot += len(data)
        self._written(file)

    def _rewrite(self, file: _RunFile, snapshot: str) -> None:
        """Replace the run's file by its header and ``snapshot`` (beside, then renamed over it)."""
        if self._open.get(file.execution_id) is not file:
            return
        data = f"{file.header}\n{snapshot}\n".encode()
        beside = file.path.with_suffix(".tmp")
        try:
            fd = os.open(beside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            try:
                _write_all(fd, data)
                os.rename(beside, file.path)
            except OSError:
                os.close(fd)
                raise
        except OSError as exc:
            self._drop(file, exc)
            return
        self._submit(os.close, file.fd)  # after any fsync of it already asked for
        file.fd = fd
        file.since_snapshot = 0
        file.snapshot_at = max(self.snapshot_bytes, 2 * len(data))
        self._written(file)

    def _written(self, file: _RunFile) -> None:
        file.synced = False
        if self._sync_timer is None:
            self._sync_timer = asyncio.get_running_loop().call_later(self.sync_interval, self._sync_due)

    def _drop(self, file: _RunFile, exc: OSError) -> None:
        log.warning(
            "writing the output log of execution %s failed (%s): dropped; a crash now loses its unsaved outputs",
            file.execution_id,
            exc,
        )
        del self._open[file.execution_id]
        # At once, not on the helper thread: a partial log left behind would replay fewer outputs than saved.
        for name in (file.path, file.path.with_suffix(".tmp")):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass
            except OSError as unlink_exc:
                log.error("the partial output log %s could not be deleted: %s", name, unlink_exc)
        self._submit(os.close, file.fd)

    def _sync_due(self) -> None:
        self._sync_timer = None
        for file in self._open.values():
            if not file.synced:
                file.synced = True
                self._submit(os.fsync, file.fd)

    def _close(self, file: _RunFile) -> None:
        if not file.synced:
            self._submit(os.fsync, file.fd)
        self._submit(os.close, file.fd)

    def ended(self, execution_id: str) -> None:
        """The execution ended and its final save was attempted: its files are no longer needed."""
        file = self._open.pop(execution_id, None)
        names = self._earlier.pop(execution_id, [])
        if file is not None:
            self._submit(os.close, file.fd)
            names.append(file.path)
        for name in names:
            self._submit(_unlink, name)

    def _submit(self, fn: Any, *args: Any) -> None:
        future = self._thread.submit(fn, *args)
        future.add_done_callback(_log_failure)

    async def close(self) -> None:
        """Close every file, keeping them (their executions did not end: a later start replays them)."""
        self._closed = True
        if self._sync_timer is not None:
            self._sync_timer.cancel()
            self._sync_timer = None
        for file in self._open.values():
            self._close(file)
        self._open.clear()
        self._earlier.clear()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.shutdown, True)

    # -- at start ------------------------------------------------------------------------------

    async def replay(self, contents_manager: Any, journal: Any = None) -> list[str]:
        """Write the outputs logged by executions a previous process left running into their notebooks.

        ``journal`` (an open :class:`~supernode.journal.ExecutionJournal`, optional): the records of
        those executions get the same outputs. Returns the ids of the executions whose file changed.
        """
        loop = asyncio.get_running_loop()
        executions = await loop.run_in_executor(self._thread, _leftovers, self.directory)
        replayed = []
        for execution_id, names in executions.items():
            try:
                texts = [await loop.run_in_executor(self._thread, _read, name) for name in names]
                path, cells = parse(texts)
                if path is not None:
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
                log.exception("the output log of execution %s cannot be replayed; it is dropped", execution_id)
            for name in names:
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


def _leftovers(directory: Path) -> dict[str, list[Path]]:
    """The run files in ``directory`` by execution id, each list in run order; stray ``.tmp`` files deleted."""
    executions: dict[str, list[Path]] = {}
    try:
        for name in sorted(directory.iterdir()):
            if name.suffix == ".tmp":
                _unlink(name)  # a snapshot cut short: the file it was to replace is still whole
            elif name.suffix == ".jsonl":
                executions.setdefault(name.name.split(".", 1)[0], []).append(name)
    except FileNotFoundError:
        pass

    def started(item: tuple[str, list[Path]]) -> float:
        try:
            return item[1][0].stat().st_mtime
        except OSError:
            return 0.0

    return dict(sorted(executions.items(), key=started))  # oldest first: a later run of a cell wins


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read(path: Path) -> str:
    return path.read_bytes().decode(errors="replace")


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None:
        log.warning("output log: %s", exc)
