"""Examples that run while the documentation builds: a page whose example fails does not build.

The ``example`` directive takes a language (``sh`` or ``python``) and, in its content, the code, then
optionally a line ``---`` and the output the code must print. Lines of the expected output are matched
one by one; ``...`` alone on a line matches any number of lines, and ``...`` inside a line matches any
text. The page shows the code and the output it is checked against.

Option ``:server:``: ``relay`` (a ``python -m rtc_relay`` with an in-memory store), ``jupyter`` (a Jupyter
server with our extensions, its root holding ``analysis.ipynb``), or ``none`` (default). The servers start
on first use and stop when the build ends. Examples see the environment variables ``RELAY`` (``host:port``),
``JUPYTER`` (``http://host:port``), ``TOKEN`` (the Jupyter server's token), ``PYTHON`` (this interpreter)
and run in a scratch folder, with a deadline (``:timeout:``, 60 s by default).

At the end of the build, ``examples.json`` in the output folder counts the examples of each page.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]


class Servers:
    """The servers examples talk to, started on first use; :meth:`stop` ends them."""

    def __init__(self) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="rtc-docs-"))
        self.env: dict[str, str] = {
            **os.environ,
            "PYTHON": sys.executable,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        self.procs: list[subprocess.Popen] = []
        self.started: dict[str, Exception | None] = {}  # kind -> why it did not start (None: it runs)

    def need(self, kind: str) -> None:
        """Start the server ``kind`` unless it runs; raise why it could not start (every time it is needed)."""
        if kind == "none":
            return
        if kind not in self.started:
            try:
                {"relay": self._relay, "jupyter": self._jupyter}[kind]()
                self.started[kind] = None
            except Exception as exc:
                self.started[kind] = exc
        if self.started[kind] is not None:
            raise self.started[kind]

    def _relay(self) -> None:
        proc = self._start([sys.executable, "-m", "rtc_relay", "--port", "0", "--store", "memory"], "relay")
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if "listening on" not in line:
            raise RuntimeError(f"the relay did not start: {line!r}")
        self.env["RELAY"] = line.split("listening on ws://", 1)[1].split()[0].rstrip("/")

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
        token, port = secrets.token_hex(16), _free_port()
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
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
                with urllib.request.urlopen(request, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.procs[-1].poll() is not None:
                    tail = (self.scratch / "jupyter.log").read_text()[-2000:]
                    raise RuntimeError(f"the Jupyter server did not start:\n{tail}") from None
                time.sleep(0.1)
        self.env.update(JUPYTER=url, TOKEN=token)

    def _start(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        log_file = open(self.scratch / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=log_file, text=True, env=env or self.env, cwd=self.scratch
        )
        proc.log_file = log_file  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def run(self, language: str, code: str, timeout: float) -> tuple[int, str]:
        """Run ``code``; return its exit status and what it printed (stdout and stderr)."""
        argv = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", code]
        work = self.scratch / "work"
        work.mkdir(exist_ok=True)
        try:
            done = subprocess.run(
                argv, cwd=work, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            return -1, f"(no end within {timeout:g} s)\n{exc.stdout or ''}{exc.stderr or ''}"
        return done.returncode, done.stdout + done.stderr

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


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` lines match ``expected`` (``...`` alone: any lines; ``...`` in a line: any text)."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head.strip() == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    if not actual:
        return False
    pattern = ".*".join(re.escape(part) for part in head.split("..."))
    return re.fullmatch(pattern, actual[0].rstrip()) is not None and matches(rest, actual[1:])


class Example(SphinxDirective):
    required_arguments = 1
    has_content = True
    option_spec = {"server": lambda v: directives.choice(v, ("none", "relay", "jupyter")), "timeout": float}

    def run(self) -> list[nodes.Node]:
        language = self.arguments[0]
        if language not in ("sh", "python"):
            raise self.error(f"example: the language is sh or python, not {language!r}")
        lines = list(self.content)
        code_lines, expected = (lines, None) if "---" not in lines else _split(lines)
        code = "\n".join(code_lines).strip("\n")
        servers: Servers = self.env.app.rtc_servers  # type: ignore[attr-defined]
        where = f"{self.env.docname}:{self.lineno}"
        try:
            servers.need(self.options.get("server", "none"))
        except Exception as exc:
            log.warning(
                "example at %s: its server did not start: %s", where, exc, location=(self.env.docname, self.lineno)
            )
            return [nodes.literal_block(code, code, language="bash" if language == "sh" else language)]
        status, output = servers.run(language, code, self.options.get("timeout", 60.0))
        printed = output.rstrip("\n").splitlines()
        if status != 0:
            log.warning(
                "example at %s failed (exit %s):\n%s\n--- printed:\n%s", where, status, code, output,
                location=(self.env.docname, self.lineno),
            )  # fmt: skip
        elif expected is not None and not matches(expected, printed):
            log.warning(
                "example at %s printed what its page does not say:\n--- expected:\n%s\n--- printed:\n%s",
                where, "\n".join(expected), output, location=(self.env.docname, self.lineno),
            )  # fmt: skip
        counts: Counter = self.env.rtc_examples  # type: ignore[attr-defined]
        counts[self.env.docname] += 1
        result: list[nodes.Node] = [nodes.literal_block(code, code, language="bash" if language == "sh" else language)]
        if expected is not None:
            shown = "\n".join(expected)
            result.append(nodes.literal_block(shown, shown, language="text", classes=["example-output"]))
        return result


def _split(lines: list[str]) -> tuple[list[str], list[str]]:
    at = lines.index("---")
    return lines[:at], [line for line in lines[at + 1 :]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _builder_inited(app: Any) -> None:
    app.rtc_servers = Servers()
    if not hasattr(app.env, "rtc_examples"):
        app.env.rtc_examples = Counter()


def _purge(app: Any, env: Any, docname: str) -> None:
    if hasattr(env, "rtc_examples"):
        env.rtc_examples.pop(docname, None)


def _build_finished(app: Any, exception: Exception | None) -> None:
    app.rtc_servers.stop()
    if exception is None:
        counts = dict(sorted(getattr(app.env, "rtc_examples", Counter()).items()))
        Path(app.outdir, "examples.json").write_text(json.dumps(counts, indent=2) + "\n")


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("example", Example)
    app.connect("builder-inited", _builder_inited)
    app.connect("env-purge-doc", _purge)
    app.connect("build-finished", _build_finished)
    return {"parallel_read_safe": False, "version": "1"}
