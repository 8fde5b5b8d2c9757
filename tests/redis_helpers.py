"""A real ``redis-server`` for the scale-out tests: started on a free port, stopped, killed and restarted.

Tests fail, never skip, when ``redis-server`` is missing (``.ci/run`` installs it).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from helpers import eventually


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on 127.0.0.1, no persistence (a restart loses everything, like a crash would)."""

    def __init__(self, tmp: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed (bash .ci/run installs it with apt)")
        self.exe = exe
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, deadline: float = 10.0) -> RedisServer:
        """Start it (on the same port as before, after a stop) and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        await eventually(lambda: self.proc.poll() is not None or _pong(self.port), deadline, "redis-server to start")
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with status {self.proc.returncode} on port {self.port}")
        return self

    async def kill(self, deadline: float = 10.0) -> None:
        """SIGKILL: its clients see their connections drop, and its data is gone."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            await asyncio.wait_for(asyncio.to_thread(self.proc.wait), deadline)
