"""Jupyter servers for the notebook benchmark: an isolated ``jupyter server`` process, and the venv
with jupyter-collaboration that the benchmark compares against.

Contracts:
- ``JupyterServer(python, workdir, port, token)``: ``with`` creates ``workdir/{root,config,data,
  runtime,cwd,ipython}`` and starts ``python -m jupyter server --no-browser --port=P --allow-root
  --ServerApp.token=T --ServerApp.root_dir=workdir/root --LanguageServerManager.autodetect=False``
  in ``workdir/cwd`` (so a server's own files, such as jupyter-collaboration's
  ``.jupyter_ystore.db``, stay out of the root), with JUPYTER_CONFIG_DIR, JUPYTER_DATA_DIR and
  JUPYTER_RUNTIME_DIR in ``workdir`` and the venv's ``bin`` first on PATH. The venv's own
  ``{prefix}/etc/jupyter`` and ``{prefix}/share/jupyter`` stay on Jupyter's paths, so the
  extensions installed in it load. Returns once ``GET /api/status`` answers 200, or raises
  ``ServerError`` with the output's tail if the process exits or ``ready_timeout`` passes. Stopping
  (block exit, error, interpreter exit) is ``servers.ServerProcess.stop``: SIGTERM to the process
  group, then SIGKILL.
- ``ensure_jc_venv(venv, log)``: the interpreter of ``venv``, after creating it (``python -m venv``,
  then ``pip install jupyter-collaboration==5.0.* jupyter_server ipykernel``) if it is missing or
  cannot import ``jupyter_server_ydoc``. Raises ``RuntimeError`` if that fails or takes more than
  ``JC_INSTALL_TIMEOUT`` seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from servers import ServerError, ServerProcess, _live

JC_REQUIREMENTS = ["jupyter-collaboration==5.0.*", "jupyter_server", "ipykernel"]
JC_INSTALL_TIMEOUT = 1800.0
DEFAULT_JC_VENV = Path("~/.cache/jupyter-rtc-bench/jc-venv").expanduser()
# Variables of the calling environment that would point the server at other Jupyter paths or venvs.
_DROP_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH",
             "JUPYTER_PREFER_ENV_PATH", "JUPYTER_PLATFORM_DIRS", "JUPYTER_TOKEN")


class JupyterServer(ServerProcess):
    def __init__(self, python: str, workdir: Path, port: int, token: str,
                 ready_timeout: float = 60.0, stop_timeout: float = 10.0) -> None:
        self.python = python
        self.workdir = Path(workdir)
        self.root = self.workdir / "root"
        self.token = token
        argv = [python, "-m", "jupyter", "server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                "--ServerApp.port_retries=0", "--allow-root", f"--ServerApp.token={token}",
                f"--ServerApp.root_dir={self.root}",
                # jupyter_lsp would otherwise run `npm prefix -g` (node) around the first requests.
                "--LanguageServerManager.autodetect=False"]
        super().__init__(argv, port, cwd=str(self.workdir / "cwd"), ready_timeout=ready_timeout,
                         stop_timeout=stop_timeout)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        env.update(
            PYTHONUNBUFFERED="1",
            JUPYTER_CONFIG_DIR=str(self.workdir / "config"),
            JUPYTER_DATA_DIR=str(self.workdir / "data"),
            JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
            IPYTHONDIR=str(self.workdir / "ipython"),
            PATH=os.pathsep.join([str(Path(self.python).parent), env.get("PATH", "")]),
        )
        return env

    def __enter__(self) -> JupyterServer:
        for sub in ("root", "config", "data", "runtime", "cwd", "ipython"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self._env(), stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, start_new_session=True)
        _live.add(self)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        request = urllib.request.Request(f"{self.base_url}/api/status",
                                         headers={"Authorization": f"token {self.token}"})
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if self.proc.poll() is not None:
                raise ServerError(f"server exited with {self.proc.returncode} before ready\n{self.output_tail()}")
            if time.monotonic() > deadline:
                raise ServerError(f"/api/status did not answer 200 within {self.ready_timeout:.0f} s\n"
                                  f"{self.output_tail()}")
            time.sleep(0.05)


def _venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _has_jc(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import jupyter_server_ydoc, jupyter_server"],
                           capture_output=True, timeout=120)
    return probe.returncode == 0


def ensure_jc_venv(venv: Path, log=print) -> str:
    venv = Path(venv).expanduser()
    python = _venv_python(venv)
    if _has_jc(python):
        return str(python)
    log(f"creating {venv} with {' '.join(JC_REQUIREMENTS)} (once; reused afterwards)")
    deadline = time.monotonic() + JC_INSTALL_TIMEOUT
    steps = [[sys.executable, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", *JC_REQUIREMENTS]]
    for argv in steps:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{' '.join(argv)} took more than {JC_INSTALL_TIMEOUT:.0f} s") from exc
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    if not _has_jc(python):
        raise RuntimeError(f"{python} still cannot import jupyter_server_ydoc after the install")
    return str(python)
