"""What the documentation's examples run against, and how one example runs (see ``rtc_examples.py``).

:class:`Servers` starts, on first use, the servers examples talk to: ``relay`` (a ``python -m rtc_relay``
with an in-memory store) and ``jupyter`` (a Jupyter server with our extensions, its root holding
``analysis.ipynb``). They stop when the build ends.

Every example runs in the scratch folder of its page (a file one example writes is there for the
page's next) with a scratch data home (``XDG_DATA_HOME``, ``JUPYTER_DATA_DIR``: nothing lands in the real ones;
``JUPYTER_CONFIG_PATH`` adds ``allow_root``, for a build that runs as root),
in a process group of its own: whatever it started in the background (a server, ``&``) is stopped with
it, so an example may start servers the way a reader would.

Resource handling: every process is started here and ended by :meth:`Servers.stop` (servers) or at
the end of its example (examples' process groups: SIGTERM, then SIGKILL after 5 s).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("none", "relay", "jupyter")


class Servers:
    """The servers examples talk to, started on first use; :meth:`stop` ends them."""

    def __init__(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="rtc-docs-"))
        self.work = self.scratch / "work"
        self.work.mkdir()
        self.env: dict[str, str] = {
            **os.environ,
            "PYTHON": sys.executable,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "XDG_DATA_HOME": str(self.scratch / "data-home"),
            "PYTHONUNBUFFERED": "1",
            "JUPYTER_DATA_DIR": str(self.scratch / "examples-jupyter-data"),
            "JUPYTER_RUNTIME_DIR": str(self.scratch / "examples-jupyter-data" / "runtime"),
        }
        # Jupyter servers an example starts may run as root (a container's CI): as the build's own may
        config = self.scratch / "examples-jupyter-config"
        config.mkdir()
        for name in ("jupyter_config.json", "jupyter_server_config.json"):  # the first even with --config=FILE
            (config / name).write_text('{"ServerApp": {"allow_root": true}}')
        self.env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            filter(None, [str(config), os.environ.get("JUPYTER_CONFIG_PATH")])
        )
        self.procs: list[subprocess.Popen] = []
        self.started: dict[str, Exception | None] = {}  # kind -> why it did not start (None: it runs)
        self._lock = threading.Lock()  # pages run their examples in threads of their own

    def need(self, kind: str) -> None:
        """Start the server ``kind`` unless it runs; raise why it could not start (every time it is needed)."""
        if kind == "none":
            return
        with self._lock:
            if kind not in self.started:
                try:
                    {"relay": self._relay, "jupyter": self._jupyter}[kind]()
                    self.started[kind] = None
                except Exception as exc:
                    self.started[kind] = exc
        if self.started[kind] is not None:
            raise self.started[kind]

    def folder(self, page: str) -> Path:
        """The scratch folder of a page's examples (its files; where they run), made on first use."""
        path = self.work / page
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _relay(self) -> None:
        proc = self._start([sys.executable, "-m", "rtc_relay", "--port", "0", "--store", "memory"], "relay")
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if "listening on" not in line:
            raise RuntimeError(f"the relay did not start: {line!r}")
        self.env["RELAY"] = line.split("listening on ws://", 1)[1].split()[0].rstrip("/")
        self.env["RELAY_PORT"] = self.env["RELAY"].rsplit(":", 1)[1]

    def _jupyter(self) -> None:
        root = self.scratch / "jupyter-root"
        root.mkdir()
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        notebook.cells = [
            nbformat.v4.new_code_cell("import math\nradius = 2", id="setup"),
            nbformat.v4.new_code_cell("area = math.pi * radius ** 2\nprint(round(area, 2))", id="area"),
        ]
        (root / "analysis.ipynb").write_text(nbformat.writes(notebook))
        token, port = secrets.token_hex(16), free_port()
        data = self.scratch / "jupyter-data"
        env = {**self.env, "JUPYTER_DATA_DIR": str(data), "JUPYTER_RUNTIME_DIR": str(data / "runtime")}
        argv = [
            sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
            f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
            f"--SupernodeExtension.journal_path={self.scratch / 'journal.sqlite'}",
            f"--SupernodeExtension.load_cache_path={self.scratch / 'loads.sqlite'}",
        ]  # fmt: skip
        self._start(argv, "jupyter", env=env)
        url = f"http://127.0.0.1:{port}"
        _wait_until(lambda: _answers(f"{url}/api/status", token), 60, "the Jupyter server", self.scratch / "jupyter.log",
                    self.procs[-1])  # fmt: skip
        self.env.update(JUPYTER=url, JUPYTER_PORT=str(port), TOKEN=token, JUPYTER_TOKEN=token)

    def _start(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log_file = open(self.scratch / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env or self.env, cwd=self.scratch
        )
        proc.log_file = log_file  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def expand(self, text: str, extra: dict[str, str] | None = None) -> str:
        """``text`` with ``$NAME`` replaced by the examples' environment variable NAME, or ``extra``'s
        (unknown names stay)."""
        env = {**self.env, **(extra or {})}
        return re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), m.group(0)), text)

    def write(self, path: Path, content: str) -> None:
        """Write the file ``path`` (and the folders it needs)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content + "\n", encoding="utf-8")

    def run(
        self,
        language: str,
        code: str,
        timeout: float,
        *,
        env: dict[str, str] | None = None,
        cwd: Path,
        done: Callable[[str], bool] | None = None,
    ) -> tuple[int | None, str]:
        """Run ``code``; return its exit status and what it printed (stdout and stderr, interleaved).

        With ``done``, the code is a command that runs until it is stopped (a server): it is stopped as
        soon as ``done(printed so far)`` holds, and the status is None then. Whatever the code started
        is stopped when it ends (its process group). Status -1: no end (or ``done``) within ``timeout``.
        """
        argv = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", code]
        fd, name = tempfile.mkstemp(prefix="example-", suffix=".out", dir=self.scratch)
        out_path = Path(name)
        with os.fdopen(fd, "w+b") as out:
            proc = subprocess.Popen(
                argv, cwd=cwd, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL,
                stdout=out, stderr=out, start_new_session=True,
            )  # fmt: skip
            deadline = time.monotonic() + timeout
            status: int | None = -1
            try:
                while time.monotonic() < deadline:
                    try:
                        status = proc.wait(timeout=0.05)
                        break
                    except subprocess.TimeoutExpired:
                        if done is not None and done(_read(out_path)):
                            status = None
                            break
                printed = _read(out_path)  # what it printed by its end, not what is printed as it is stopped
            finally:
                _stop_group(proc)
        out_path.unlink()
        if status == -1:
            printed = f"(no end within {timeout:g} s)\n{printed}"
        return status, printed

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            proc.log_file.close()  # type: ignore[attr-defined]
            if proc.stdout:
                proc.stdout.close()
        self.procs.clear()
        shutil.rmtree(self.scratch, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the example's process group (itself and what it started), SIGKILL after 5 s."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            proc.poll()  # reaps the leader, so that the group can empty
            time.sleep(0.02)
        else:
            continue
        break
    proc.wait()


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _answers(url: str, token: str) -> bool:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers={"Authorization": f"token {token}"}), timeout=2
        ):
            return True
    except OSError:
        return False


def _wait_until(ready: Callable[[], bool], timeout: float, what: str, log: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
