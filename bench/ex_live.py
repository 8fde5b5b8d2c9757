"""Watching one execution on our server: REST calls, the kernel's iopub, the shared doc, the file.

Contracts (every wait takes a ``deadline``, a ``time.monotonic()`` value; past it, ``TimeoutError``;
every time stamp is epoch seconds, ``time.time()``, the clock the kernel's message dates use):
- ``ExecServer(python, workdir, port, token, extra_args)``: ``nb_server.JupyterServer`` with more
  command-line options (here ``--SupernodeExtension.save_max_wait=1``). Stopping it also kills, by
  pid, any kernel it started that outlived it (kernels run in their own session, so the server's
  process group does not reach them). ``kernel_pid()``: the pid of its ipykernel child, or None.
- ``Api(base_url, token)``: ``await submit(path, cell_ids)`` -> the 202 record (raises on another
  status or a missing ``Location``); ``await record(id)``; ``await wait_finished(id, deadline,
  interval)`` polls the record until ``ok`` and returns it (``RuntimeError`` on ``error``/``aborted``);
  ``await kernel_id(path)`` from ``GET /api/sessions``.
- ``IopubWatcher(connection_file)``: a raw zmq SUB socket on the kernel's iopub (no receive limit),
  reading headers only. ``expect(code)`` arms it for the next execution whose ``execute_input`` has
  that code; ``await finished(deadline)`` returns that execution's ``{"busy", "execute_input",
  "first_output", "last_output", "idle", "output_msgs"}`` (header dates) once its idle status came.
  ``await close()``.
- ``watch_doc(client, cell_id, probe, deadline)``: for an open ``nb_client.NotebookClient``, waits
  until the cell holds its final output (``probe``) and an ``execution_count``; returns
  ``{"first_change", "final_output", "complete"}`` (when this client saw them).
- ``watch_file(path, cell_id, probe_outputs, deadline, interval)``: polls the file (stat every
  ``interval``, parse when it changed) until the cell's outputs pass ``probe_outputs`` and it has an
  ``execution_count``; returns ``{"complete": when seen, "mtime": the file's mtime then, "versions":
  file versions seen, "json": the parsed notebook, "bytes": its size}``.
- ``wait_doc(client, check, deadline, what)``: waits until ``check()`` holds (checked at once and
  after every change of ``client.doc``); returns when. ``doc_cell(client, cell_id)``: the cell's Map.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from pycrdt import Array

import ex_proc
from ex_reference import header_time
from nb_server import JupyterServer

FINISHED = ("ok", "error", "aborted")
OUTPUT_MSG_TYPES = frozenset(("stream", "display_data", "execute_result", "error", "clear_output",
                              "update_display_data"))


def left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


class ExecServer(JupyterServer):
    def __init__(self, python: str, workdir: Path, port: int, token: str, extra_args: list[str],
                 ready_timeout: float = 60.0) -> None:
        super().__init__(python, workdir, port, token, ready_timeout=ready_timeout, stop_timeout=15.0)
        self.argv.extend(extra_args)
        self._kernels: set[int] = set()

    def kernel_pid(self) -> int | None:
        for pid in ex_proc.children(self.pid):
            if "ipykernel" in ex_proc.cmdline(pid):
                self._kernels.add(pid)
                return pid
        return None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kernel_pid()
        super().stop()
        for pid in self._kernels:
            if ex_proc.alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._kernels.clear()


class Api:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}

    def _call(self, method: str, path: str, body: dict | None, timeout: float) -> tuple[int, Any, dict]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=max(timeout, 0.1)) as response:
                return response.status, json.loads(response.read() or b"null"), dict(response.headers)
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                payload = json.loads(text)
            except ValueError:
                payload = text[:500]
            return err.code, payload, dict(err.headers)

    async def call(self, method: str, path: str, body: dict | None = None, timeout: float = 60.0):
        return await asyncio.wait_for(asyncio.to_thread(self._call, method, path, body, timeout), timeout + 1)

    async def submit(self, path: str, cell_ids: list[str]) -> dict:
        status, record, headers = await self.call("POST", "/api/rtc/executions", {"path": path, "cell_ids": cell_ids})
        if status != 202 or not isinstance(record, dict) or "id" not in record:
            raise RuntimeError(f"POST /api/rtc/executions answered {status}: {record}")
        if not headers.get("Location"):
            raise RuntimeError("POST /api/rtc/executions: 202 without a Location header")
        return record

    async def record(self, execution_id: str) -> dict:
        status, record, _ = await self.call("GET", f"/api/rtc/executions/{execution_id}")
        if status != 200:
            raise RuntimeError(f"GET /api/rtc/executions/{execution_id} answered {status}: {record}")
        return record

    async def wait_finished(self, execution_id: str, deadline: float, interval: float) -> dict:
        while True:
            record = await self.record(execution_id)
            if record.get("status") in FINISHED:
                if record["status"] != "ok":
                    cells = [(c.get("status"), c.get("error")) for c in record.get("cells", [])]
                    raise RuntimeError(f"execution {execution_id} ended {record['status']}: "
                                       f"{record.get('abort_reason')} {cells}")
                return record
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_id} still {record.get('status')} at the deadline")
            await asyncio.sleep(min(interval, left(deadline)))

    async def kernel_id(self, path: str) -> str:
        status, sessions, _ = await self.call("GET", "/api/sessions")
        if status != 200:
            raise RuntimeError(f"GET /api/sessions answered {status}: {sessions}")
        for session in sessions:
            if session.get("path") == path and session.get("kernel"):
                return session["kernel"]["id"]
        raise RuntimeError(f"no session with a kernel for {path}: {sessions}")


class IopubWatcher:
    DELIM = b"<IDS|MSG>"

    def __init__(self, connection_file: Path) -> None:
        info = json.loads(Path(connection_file).read_text())
        self.url = f"{info.get('transport', 'tcp')}://{info['ip']}:{info['iopub_port']}"
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.RCVHWM, 0)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.connect(self.url)
        self._code: str | None = None
        self._msg_id: str | None = None
        self._marks: dict[str, Any] = {}
        self._done = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    def expect(self, code: str) -> None:
        self._code, self._msg_id, self._marks = code, None, {"output_msgs": 0}
        self._done.clear()

    async def _read(self) -> None:
        while True:
            frames = await self.sock.recv_multipart(copy=True)
            try:
                at = frames.index(self.DELIM)
            except ValueError:
                continue
            header = json.loads(frames[at + 2])
            parent = json.loads(frames[at + 3])
            kind = header.get("msg_type")
            if self._code is None:
                continue
            if self._msg_id is None:
                if kind == "execute_input" and json.loads(frames[at + 5]).get("code") == self._code:
                    self._msg_id = parent.get("msg_id")
                    self._marks["execute_input"] = header_time({"header": header})
                continue
            if parent.get("msg_id") != self._msg_id:
                continue
            t = header_time({"header": header})
            if kind in OUTPUT_MSG_TYPES:
                self._marks["output_msgs"] += 1
                self._marks.setdefault("first_output", t)
                self._marks["last_output"] = t
            elif kind == "status":
                state = json.loads(frames[at + 5]).get("execution_state")
                if state == "idle":
                    self._marks["idle"] = t
                    self._code = None
                    self._done.set()

    async def finished(self, deadline: float) -> dict[str, Any]:
        task = asyncio.ensure_future(self._done.wait())
        try:
            done, _ = await asyncio.wait({task, self._reader}, timeout=left(deadline),
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            task.cancel()
        if self._reader in done:
            raise RuntimeError(f"iopub reader stopped: {self._reader.exception()!r}")
        if not self._done.is_set():
            raise TimeoutError(f"no idle status on iopub for the expected execution (seen: {self._marks})")
        # The busy status precedes execute_input; its date is the kernel's start of the cell.
        return dict(self._marks)

    async def close(self) -> None:
        self._reader.cancel()
        try:
            await self._reader
        except BaseException:
            pass
        self.sock.close(0)
        self.ctx.term()


def _doc_cell(client: Any, cell_id: str) -> Any:
    for ycell in client.doc.get("cells", type=Array):
        if ycell.get("id") == cell_id:
            return ycell
    return None


async def watch_doc(client: Any, cell_id: str, probe: Callable[[Any], bool], deadline: float) -> dict[str, float]:
    changed = asyncio.Event()
    subscription = client.doc.observe(lambda _event: changed.set())
    marks: dict[str, float] = {}
    try:
        while True:
            ycell = _doc_cell(client, cell_id)
            if ycell is not None:
                now = time.time()
                outputs = ycell.get("outputs")
                if "first_change" not in marks and (outputs is not None and len(outputs)
                                                    or ycell.get("execution_state") == "running"):
                    marks["first_change"] = now
                if "final_output" not in marks and probe(ycell):
                    marks["final_output"] = now
                if "final_output" in marks and ycell.get("execution_count") is not None:
                    marks["complete"] = now
                    return marks
            changed.clear()
            try:
                await client._wait(changed.wait(), deadline, "the final output in the shared document")
            except TimeoutError as exc:
                raise TimeoutError(f"{exc} (seen so far: {sorted(marks)})") from None
    finally:
        client.doc.unobserve(subscription)


async def wait_doc(client: Any, check: Callable[[], bool], deadline: float, what: str) -> float:
    """Wait until ``check()`` is true of ``client``'s doc (re-checked after every change); returns when."""
    changed = asyncio.Event()
    subscription = client.doc.observe(lambda _event: changed.set())
    try:
        while not check():
            changed.clear()
            await client._wait(changed.wait(), deadline, what)
        return time.time()
    finally:
        client.doc.unobserve(subscription)


def doc_cell(client: Any, cell_id: str) -> Any:
    return _doc_cell(client, cell_id)


async def watch_file(path: Path, cell_id: str, probe_outputs: Callable[[list], bool], deadline: float,
                     interval: float = 0.01) -> dict[str, Any]:
    last_sig = None
    versions = 0
    while True:
        try:
            st = os.stat(path)
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            sig = None
        if sig is not None and sig != last_sig:
            seen = time.time()
            try:
                nb_json = json.loads(Path(path).read_bytes())
            except ValueError:
                nb_json = None  # caught mid-write: read it again at the next poll
            if nb_json is not None:
                last_sig = sig
                versions += 1
                for cell in nb_json.get("cells", []):
                    if cell.get("id") == cell_id:
                        if cell.get("execution_count") is not None and probe_outputs(cell.get("outputs", [])):
                            return {"complete": seen, "mtime": st.st_mtime_ns / 1e9, "versions": versions,
                                    "json": nb_json, "bytes": st.st_size}
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path.name} did not hold the final outputs before the deadline "
                               f"({versions} versions seen)")
        await asyncio.sleep(interval)
