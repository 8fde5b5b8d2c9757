"""Benchmark server subprocesses: build the command, start, wait for the ready line, stop for sure.

Contracts:
- ``free_port()``: a TCP port on 127.0.0.1 that was free a moment ago.
- ``server_command(spec, port)``: argv for a command string; ``{port}`` in it is replaced, otherwise
  ``--port PORT`` is appended; a ``python``/``python3`` word (the command, or after ``env VAR=...``)
  becomes this interpreter, so the server runs in the same venv whether or not it is activated.
- ``ServerProcess(argv, port)``: ``with`` starts it (own session, stdout/stderr to temp files,
  PYTHONUNBUFFERED=1) and returns once a stdout line contains ``ws://127.0.0.1:PORT``; raises
  ``ServerError`` (with the output's tail) if it exits or stays silent past ``ready_timeout`` seconds.
  Leaving the block, or interpreter exit, sends SIGTERM to its process group, then SIGKILL after
  ``stop_timeout`` seconds.
"""

from __future__ import annotations

import atexit
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time

_live: set[ServerProcess] = set()


class ServerError(Exception):
    """A server failed to start or died; the message carries the tail of its output."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(spec: str, port: int) -> list[str]:
    argv = [sys.executable if a in ("python", "python3") else a for a in shlex.split(spec)]
    if any("{port}" in a for a in argv):
        return [a.replace("{port}", str(port)) for a in argv]
    return [*argv, "--port", str(port)]


class ServerProcess:
    def __init__(self, argv: list[str], port: int, cwd: str | None = None,
                 ready_timeout: float = 30.0, stop_timeout: float = 5.0) -> None:
        self.argv = argv
        self.port = port
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen | None = None
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> ServerProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # Own session: stopping the group also reaches any workers the server forks.
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, start_new_session=True)
        _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _wait_ready(self) -> None:
        marker = f"ws://127.0.0.1:{self.port}".encode()
        deadline = time.monotonic() + self.ready_timeout
        while True:
            if marker in self._read(self._out):
                return
            if self.proc.poll() is not None:
                raise ServerError(f"server exited with {self.proc.returncode} before ready\n{self.output_tail()}")
            if time.monotonic() > deadline:
                raise ServerError(f"no line with {marker.decode()} on stdout within {self.ready_timeout:.0f} s\n"
                                  f"{self.output_tail()}")
            time.sleep(0.02)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output_tail(self, chars: int = 2000) -> str:
        out = self._read(self._out, tail=chars).decode(errors="replace")
        err = self._read(self._err, tail=chars).decode(errors="replace")
        return f"argv: {shlex.join(self.argv)}\n--- stdout tail ---\n{out}\n--- stderr tail ---\n{err}"

    @staticmethod
    def _read(f, tail: int | None = None) -> bytes:
        """The file's first MiB, or its last ``tail`` bytes."""
        if tail is None:
            return os.pread(f.fileno(), 1 << 20, 0)
        return os.pread(f.fileno(), tail, max(0, os.fstat(f.fileno()).st_size - tail))

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(self.stop_timeout)
        else:
            self._signal(signal.SIGKILL)  # the leader is gone; make sure its group is too
        _live.discard(self)

    def _signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)  # pgid == pid: start_new_session made it a group leader
        except ProcessLookupError:
            pass


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.stop()
