"""Helpers for execution tests against a real Jupyter server: the REST API, records, outputs, a gate a cell
waits on, and a small filesystem that can really be filled."""

from __future__ import annotations

import asyncio
import errno
import json
import subprocess
from pathlib import Path

from jsonschema import Draft202012Validator

from jupyter_helpers import read_notebook

from rtc_common.schema import schema_path

FINISHED = ("ok", "error", "aborted")


def _record_validator() -> Draft202012Validator:
    with open(schema_path("execution-record.json"), encoding="utf-8") as f:
        return Draft202012Validator(json.load(f))


RECORD = _record_validator()


def assert_valid_record(record: dict) -> None:
    errors = [e.message for e in RECORD.iter_errors(record)]
    assert not errors, f"record {record.get('id')}: {errors}"


class Api:
    """The executions REST API of the test's server (``jp_fetch``)."""

    def __init__(self, fetch) -> None:
        self.fetch = fetch

    async def call(self, method: str, *parts: str, body: dict | None = None, **params: str):
        from tornado.httpclient import HTTPClientError

        try:
            r = await self.fetch(
                *parts,
                method=method,
                body=json.dumps(body) if body is not None else ("{}" if method == "POST" else None),
                params=params or None,
            )
        except HTTPClientError as err:
            return err.code, json.loads(err.response.body) if err.response is not None else None, None
        return r.code, json.loads(r.body), r.headers.get("Location")

    async def run(self, path: str, cell_ids: list[str] | None = None, **extra):
        body = {"path": path, **extra}
        if cell_ids is not None:
            body["cell_ids"] = cell_ids
        return await self.call("POST", "api", "rtc", "executions", body=body)

    async def record(self, execution_id: str) -> dict:
        code, body, _ = await self.call("GET", "api", "rtc", "executions", execution_id)
        assert code == 200, body
        return body

    async def wait(self, execution_id: str, check, timeout: float = 30.0, what: str = "a state") -> dict:
        """The record once ``check(record)`` holds (polled every 50 ms); fails after ``timeout`` s."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            latest = await self.record(execution_id)
            if check(latest):
                return latest
            assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}: {latest}"
            await asyncio.sleep(0.05)

    async def finished(self, execution_id: str, timeout: float = 30.0) -> dict:
        return await self.wait(execution_id, lambda r: r["status"] in FINISHED, timeout, "the end")

    async def printed(self, execution_id: str, text: str, timeout: float = 30.0) -> dict:
        """The record once its first cell's stream output holds ``text``: the kernel is inside that cell."""
        return await self.wait(
            execution_id, lambda r: text in stream_text(r["cells"][0]["outputs"]), timeout, f"{text!r} printed"
        )


def cell_ids(root, path: str) -> list[str]:
    return [c.id for c in read_notebook(root, path).cells]


def disk_outputs(root, path: str) -> list[list[dict]] | None:
    try:
        return [c.get("outputs", []) for c in read_notebook(root, path).cells]
    except (OSError, ValueError):
        return None


def stream_text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


def gated_cell(gate: Path, before: str = "waiting") -> str:
    """Source of a cell that prints ``before``, then waits (60 s at most) until the file ``gate`` exists."""
    return (
        "import os, time\n"
        f"print({before!r}, flush=True)\n"
        "_t = time.monotonic()\n"
        f"while not os.path.exists({str(gate)!r}) and time.monotonic() - _t < 60:\n"
        "    time.sleep(0.02)\n"
        "print('released')"
    )


class SmallDisk:
    """A tmpfs of ``size`` mounted at ``path`` (needs the right to mount: root, or CAP_SYS_ADMIN).

    :meth:`fill` writes a file until the filesystem answers ENOSPC — a disk really full for every
    writer on it; :meth:`free` removes that file.
    """

    def __init__(self, path: Path, size: str = "4m") -> None:
        self.path = path
        self.size = size
        self._filler = path / "filler"

    def mount(self) -> bool:
        self.path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size}", "tmpfs", str(self.path)], capture_output=True
        )
        return done.returncode == 0

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)

    def fill(self) -> None:
        chunk = b"\0" * 65536
        with open(self._filler, "ab", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        with open(self._filler, "ab", buffering=0) as f:  # the last pages, smaller than a chunk
            try:
                while True:
                    f.write(b"\0" * 512)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc

    def free(self) -> None:
        self._filler.unlink()
