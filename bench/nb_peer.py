"""A :class:`~nb_client.NotebookClient` in a process of its own: the bench's late joiner.

A person who joins a notebook others have open is on another machine: what they wait for is the
server, not the other clients. In one process, the late joiner and client A would share one event loop
and one core, and a server that sends A and B the same updates at once (the outputs of a load in
stages) would be timed by how fast one Python process takes both. So B runs here, in a child process.

Contracts:
- ``python nb_peer.py BASE_URL TOKEN PATH OUTPUTS``: says ``{"ready": true}`` once started, then reads
  one command per line on stdin and answers
  each with one JSON line on stdout: ``open DEADLINE_S`` → ``{"opened": <NotebookClient.open's dict>,
  "cells": n, "ids": [first, last]}``; ``whole DEADLINE_S`` → ``{"whole_ms": ms}``; ``watch MARK
  SECONDS`` → ``{"seen": bool}`` (whether the first cell's source starts with MARK within SECONDS);
  ``close`` → ``{"log": client.log}``, then it exits. A failure is answered ``{"error": "..."}``.
  The client's clock starts in this process, when ``open`` is read.
- :class:`PeerProcess` is the parent's side: started before the server it joins, then the same calls,
  async, each bounded by its deadline.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from nb_client import NotebookClient

HERE = Path(__file__).resolve().parent


async def _serve(base_url: str, token: str, path: str, outputs: int) -> None:
    client = NotebookClient(base_url, token, path, outputs=outputs)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def answer(value: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    answer({"ready": True})  # its imports are done: the parent times nothing while they run
    try:
        while line := (await reader.readline()).decode().split():
            command, args = line[0], line[1:]
            try:
                if command == "open":
                    opened = await client.open(time.monotonic() + float(args[0]))
                    answer({"opened": opened, "cells": client.cell_count(), "ids": [client.cell_id(0), client.cell_id(-1)]})
                elif command == "whole":
                    answer({"whole_ms": await client.whole(time.monotonic() + float(args[0]))})
                elif command == "watch":
                    deadline = time.monotonic() + float(args[1])
                    while not client.first_source().startswith(args[0]) and time.monotonic() < deadline:
                        await asyncio.sleep(0.01)
                    answer({"seen": client.first_source().startswith(args[0])})
                elif command == "close":
                    await client.close()
                    answer({"log": client.log})
                    return
                else:
                    answer({"error": f"unknown command {command!r}"})
            except Exception as exc:
                answer({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        await client.close()


class PeerProcess:
    """The late joiner in a child process: :meth:`start` it before the server (it then waits, idle, for
    its commands: its start-up is timed in nothing), call it from any event loop, :meth:`close` it."""

    def __init__(self, python: str, base_url: str, token: str, path: str, outputs: int) -> None:
        self._argv = [python, str(HERE / "nb_peer.py"), base_url, token, path, str(outputs)]
        self._proc: subprocess.Popen | None = None
        self.log: list = []

    def start(self, timeout: float = 60.0) -> None:
        self._proc = subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=HERE)
        with ThreadPoolExecutor(1) as reader:
            ready = reader.submit(self._proc.stdout.readline).result(timeout)  # type: ignore[union-attr]
        if json.loads(ready or b"{}").get("ready") is not True:
            self.kill()
            raise ConnectionError("the peer process did not start")

    async def _call(self, line: str, timeout: float) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()
        reply = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), timeout)
        if not reply:
            raise ConnectionError(f"the peer process ended (exit {proc.wait()}) before answering {line!r}")
        answer = json.loads(reply)
        if "error" in answer:
            raise RuntimeError(f"peer: {line.split()[0]}: {answer['error']}")
        return answer

    async def open(self, timeout: float) -> dict[str, Any]:
        return await self._call(f"open {timeout}", timeout + 5)

    async def whole(self, timeout: float) -> float:
        return (await self._call(f"whole {timeout}", timeout + 5))["whole_ms"]

    async def sees(self, mark: str, seconds: float) -> bool:
        return (await self._call(f"watch {mark} {seconds}", seconds + 5))["seen"]

    async def close(self) -> None:
        """Ask it to close (its message log comes back), then make sure it is gone."""
        if self._proc is None:
            return
        try:
            if self._proc.poll() is None:
                self.log = (await self._call("close", 10))["log"]
        except Exception:
            pass
        self.kill()

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    base, tok, nb_path, count = sys.argv[1:5]
    asyncio.run(_serve(base, tok, nb_path, int(count)))
