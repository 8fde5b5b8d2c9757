"""Browser-test harness: a real Jupyter server subprocess and the stock JupyterLab UI in headless Chromium.

The harness does not care which collaboration backend serves the page: it starts
``<python> -m jupyter lab`` from whatever environment ``python`` belongs to (ours, or the reference
``jupyter-collaboration``) and drives the frontend that environment ships, through the keyboard and the
DOM only (no JupyterLab internals, no ``window.jupyterapp``).

- :class:`JupyterLabServer` — the server subprocess (free port, random token, temporary root and
  isolated Jupyter config/data/runtime dirs), an async context manager.
- :func:`launch_chromium` — Playwright's Chromium with the Debian ``/usr/bin/chromium`` binary.
- :class:`LabPage` — one user: a browser context of its own (so its own cookie, hence its own
  anonymous identity) and high-level actions on a notebook (type, run, read, save, reload, see the
  other users' cursors). Every wait has a deadline; a failing action screenshots the page into the
  artifacts directory and appends what the page showed (dialogs, status bar, toasts, console errors)
  to the exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# JupyterLab user settings written into the isolated config dir: no news prompt, no update check, and
# every cell attached to the DOM (windowing would detach cells outside the viewport).
DEFAULT_LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


class LabError(AssertionError):
    """An action on the JupyterLab page failed or its deadline passed."""


def chromium_executable() -> str | None:
    """The Chromium binary to drive: ``$RTC_BROWSER_CHROMIUM``, else ``/usr/bin/chromium``, else PATH."""
    for candidate in (os.environ.get("RTC_BROWSER_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and os.path.exists(candidate):
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


async def launch_chromium(playwright: Any, **options: Any) -> Any:
    """Launch headless Chromium (the system binary: Playwright's own download is not used)."""
    executable = chromium_executable()
    if executable is None:
        raise LabError("no Chromium binary found (apt-get install chromium, or set RTC_BROWSER_CHROMIUM)")
    options.setdefault("args", CHROMIUM_ARGS)
    options.setdefault("timeout", 30_000)
    return await playwright.chromium.launch(executable_path=executable, headless=True, **options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


class JupyterLabServer:
    """``<python> -m jupyter lab`` on a free port with a random token, in ``base_dir``.

    ``base_dir`` gets ``root/`` (the server's root_dir, created at once so files can be put there
    before starting), ``jupyter/{config,data,runtime}`` (JUPYTER_CONFIG_DIR & co., so workspaces,
    settings, file ids and cookies never touch the user's; the ``sys.prefix`` data paths of ``python``
    still hold the installed labextensions and kernelspecs), ``cwd/`` (the server's working directory)
    and ``server.log`` (its stdout and stderr).
    """

    ready_path = "/api/status"  # answers 200 with a JSON object once the server serves

    def __init__(
        self,
        base_dir: str | os.PathLike[str],
        python: str | None = None,
        app: str = "lab",
        extra_args: list[str] | tuple[str, ...] = (),
        lab_settings: dict[str, dict[str, Any]] | None = None,
        env: dict[str, str] | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.base_dir = Path(base_dir)
        self.python = python or sys.executable
        self.app = app
        self.extra_args = list(extra_args)
        self.lab_settings = DEFAULT_LAB_SETTINGS if lab_settings is None else lab_settings
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.token = secrets.token_hex(24)
        self.root = self.base_dir / "root"
        self.root.mkdir(parents=True, exist_ok=True)
        self.jupyter_dir = self.base_dir / "jupyter"
        self.log_path = self.base_dir / "server.log"
        self.port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise LabError("server not started")
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str = "", workspace: str | None = None, **query: str) -> str:
        """URL of ``/lab/[workspaces/<workspace>/]tree/<path>?token=...``."""
        prefix = f"/lab/workspaces/{urllib.parse.quote(workspace, safe='')}" if workspace else "/lab"
        tree = f"/tree/{urllib.parse.quote(path)}" if path else ""
        params = urllib.parse.urlencode({"token": self.token, **query})
        return f"{self.url}{prefix}{tree}?{params}"

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> JupyterLabServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("config", "data", "runtime"):
            (self.jupyter_dir / name).mkdir(parents=True, exist_ok=True)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.jupyter_dir / "config"),
            JUPYTER_DATA_DIR=str(self.jupyter_dir / "data"),
            JUPYTER_RUNTIME_DIR=str(self.jupyter_dir / "runtime"),
            IPYTHONDIR=str(self.jupyter_dir / "ipython"),
            PYTHONUNBUFFERED="1",
            # like an activated venv: kernelspecs whose argv says "python" get this environment's
            PATH=os.pathsep.join([str(Path(self.python).parent), env.get("PATH", "")]),
        )
        env.pop("JUPYTER_PREFER_ENV_PATH", None)
        env.update(self.extra_env)
        return env

    def _write_lab_settings(self) -> None:
        settings_dir = self.jupyter_dir / "config" / "lab" / "user-settings"
        for plugin, values in self.lab_settings.items():
            path = settings_dir / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values, indent=2))

    def _argv(self, port: int) -> list[str]:
        argv = [
            self.python,
            "-m",
            "jupyter",
            self.app,
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv.append("--allow-root")
        return argv + self.extra_args

    async def start(self) -> None:
        self._write_lab_settings()
        cwd = self.base_dir / "cwd"
        cwd.mkdir(exist_ok=True)
        deadline = time.monotonic() + self.startup_timeout
        for attempt in range(3):
            self.port = _free_port()
            with open(self.log_path, "ab") as log:
                log.write(f"=== start attempt {attempt + 1}: {' '.join(self._argv(self.port))}\n".encode())
                log.flush()
                self._proc = await asyncio.create_subprocess_exec(
                    *self._argv(self.port),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    env=self._env(),
                    cwd=cwd,
                    start_new_session=True,
                )
            try:
                await self._wait_ready(deadline)
                return
            except _PortTaken:
                await self._reap()
                continue
            except BaseException:
                await self.stop()
                raise
        await self.stop()
        raise LabError(f"could not bind a free port in 3 attempts; log:\n{self.log_tail()}")

    async def _wait_ready(self, deadline: float) -> None:
        assert self._proc is not None
        while True:
            if self._proc.returncode is not None:
                tail = self.log_tail()
                if "already in use" in tail or "Address in use" in tail:
                    raise _PortTaken
                raise LabError(f"server exited with code {self._proc.returncode} before answering; log:\n{tail}")
            try:
                status, body = await self.request("GET", self.ready_path, timeout=2.0)
                if status == 200 and isinstance(body, dict):
                    return
            except (OSError, urllib.error.URLError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                raise LabError(
                    f"server did not answer {self.ready_path} within {self.startup_timeout:.0f}s; log:\n{self.log_tail()}"
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._proc.wait(), 0.2)  # wakes at once if it dies

    async def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
        """An authenticated REST call; returns (status, decoded JSON or text or None)."""
        return await rest_call(self.url + path, self.token, method, body, timeout)

    async def stop(self) -> None:
        """SIGTERM (the server shuts its kernels down), SIGKILL of its process group after a deadline."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
        await self._reap()
        # anything left in its session (e.g. a stuck extension's helper) goes too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)

    async def kill(self) -> None:
        """SIGKILL the server's process group at once: its connections drop with no close frame, as when its
        machine goes away."""
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        await self._reap()

    async def _reap(self) -> None:
        proc = self._proc
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()
        self._proc = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


async def rest_call(
    url: str, token: str, method: str = "GET", body: Any = None, timeout: float = 10.0
) -> tuple[int, Any]:
    """An HTTP call with ``Authorization: token …`` (in a thread); returns (status, decoded JSON or text or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")

    def call() -> tuple[int, bytes, str]:
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read(), err.headers.get("Content-Type", "")

    status, raw, ctype = await asyncio.to_thread(call)
    if not raw:
        return status, None
    return status, json.loads(raw) if "json" in ctype else raw.decode(errors="replace")


class _PortTaken(Exception):
    pass


async def wait_until(
    check: Callable[[], Awaitable[Any] | Any], timeout: float, what: str, interval: float = 0.2
) -> Any:
    """Call ``check`` until it returns a truthy value (returned) or raise LabError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return result
            last = result
        except Exception as exc:  # noqa: BLE001 - reported if the deadline passes
            last = exc
        if time.monotonic() > deadline:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)  # a poll interval under a deadline, not a bare sleep


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------

# Installed in every document before JupyterLab's own scripts: records what the status bar, dialogs
# and toasts showed, so that transient signals ("Saving completed" shows for 2 s) are never missed.
_RECORDER_JS = r"""
(() => {
  if (window.__labHarness) return;
  const h = window.__labHarness = {status: [], dialogs: [], toasts: [], lastStatus: null};
  const seenDialogs = new WeakSet(), seenToasts = new WeakSet();
  const scan = () => {
    const bar = document.querySelector('#jp-main-statusbar, .jp-StatusBar-Widget');
    if (bar) {
      const texts = Array.from(bar.querySelectorAll('.jp-StatusBar-TextItem'))
        .map(e => e.textContent.trim()).filter(Boolean);
      const joined = texts.join(' | ');
      if (joined !== h.lastStatus) {
        h.lastStatus = joined;
        h.status.push({t: Date.now(), texts});
      }
    }
    for (const d of document.querySelectorAll('.jp-Dialog')) {
      if (seenDialogs.has(d)) continue;
      const title = d.querySelector('.jp-Dialog-header');
      if (!title || !title.textContent.trim()) continue;
      seenDialogs.add(d);
      const body = d.querySelector('.jp-Dialog-body');
      h.dialogs.push({t: Date.now(), title: title.textContent.trim(),
                      body: body ? body.textContent.trim().slice(0, 500) : ''});
    }
    for (const t of document.querySelectorAll('.Toastify__toast')) {
      if (seenToasts.has(t)) continue;
      const text = t.textContent.trim();
      if (!text) continue;
      seenToasts.add(t);
      h.toasts.push({t: Date.now(), text: text.slice(0, 500)});
    }
  };
  const start = () => {
    scan();
    new MutationObserver(scan).observe(document.body, {subtree: true, childList: true, characterData: true});
  };
  if (document.body) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"""

_JS_EDITOR_TEXT = r"""
(cell) => {
  const content = cell.querySelector('.jp-Cell-inputArea .cm-content');
  if (!content) return null;
  return Array.from(content.querySelectorAll(':scope > .cm-line')).map(line => {
    const clone = line.cloneNode(true);
    clone.querySelectorAll('.cm-widgetBuffer, .cm-placeholder').forEach(e => e.remove());
    return clone.textContent;
  }).join('\n');
}
"""

# Remote cursors: a ``.jp-remote-cursor`` in the ``.jp-remote-cursors`` layer of the cell's editor, its
# border-left-color being the remote user's color. Name flags (``.jp-remote-userFlag``, class
# ``jp-mod-idle`` = faded once the remote user has been still for 2 s) are CodeMirror tooltips mounted
# under <body>, not in the cell: they are matched to cursors by color.
_JS_REMOTE_CURSORS = r"""
(panel) => {
  const cells = Array.from(panel.querySelectorAll('.jp-Notebook .jp-Cell'));
  const cursors = [];
  cells.forEach((cell, index) => {
    const found = cell.querySelectorAll('.jp-Cell-inputArea .jp-remote-cursor');
    if (found.length) cursors.push({cell: index, count: found.length,
                                    colors: Array.from(found).map(c => c.style.borderLeftColor)});
  });
  const flags = Array.from(document.querySelectorAll('.jp-remote-userFlag')).map(flag => ({
    name: ((flag.querySelector('.jp-remote-userFlag-name') || {}).textContent || '').trim(),
    initials: ((flag.querySelector('.jp-remote-userFlag-avatar') || {}).textContent || '').trim(),
    idle: flag.classList.contains('jp-mod-idle'),
    color: flag.style.borderColor || '',
  }));
  return {cursors, flags};
}
"""

T = TypeVar("T")


def _action(func: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """On failure: screenshot the page and add what the page showed to the exception."""

    @functools.wraps(func)
    async def wrapper(self: LabPage, *args: Any, **kwargs: Any) -> T:
        self._depth += 1
        try:
            return await func(self, *args, **kwargs)
        except Exception as exc:
            if self._depth == 1 and not getattr(exc, "_lab_reported", False):
                exc._lab_reported = True  # type: ignore[attr-defined]
                note = await self._failure_report(func.__name__)
                if hasattr(exc, "add_note"):
                    exc.add_note(note)
                else:  # Python 3.10
                    sys.stderr.write(note + "\n")
            raise
        finally:
            self._depth -= 1

    return wrapper


class LabPage:
    """One collaborator: a browser context of its own, with one JupyterLab page.

    Create with ``await LabPage.create(browser, server, name, artifacts_dir)``. Cells are addressed by
    their index in the visible notebook (0-based).
    """

    # dialogs that may legitimately appear: title -> label of the button to click (None: Escape)
    dialog_handlers: dict[str, str | None] = {"Select Kernel": "Select"}

    def __init__(
        self,
        context: Any,
        page: Any,
        server: JupyterLabServer,
        name: str,
        artifacts_dir: Path,
        workspace: str,
        default_timeout: float,
    ) -> None:
        self.context = context
        self.page = page
        self.server = server
        self.name = name
        self.workspace = workspace
        self.artifacts_dir = artifacts_dir
        self.timeout = default_timeout
        self.path: str | None = None
        self.console: list[str] = []
        self.network: list[str] = []
        self._depth = 0
        self._shots = 0
        self.closed = False

    @classmethod
    async def create(
        cls,
        browser: Any,
        server: JupyterLabServer,
        name: str,
        artifacts_dir: str | os.PathLike[str],
        workspace: str | None = None,
        timeout: float = 20.0,
        record_network: bool = False,
        viewport: tuple[int, int] = (1400, 900),
    ) -> LabPage:
        context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        context.set_default_timeout(timeout * 1000)
        await context.add_init_script(_RECORDER_JS)
        page = await context.new_page()
        artifacts = Path(artifacts_dir)
        artifacts.mkdir(parents=True, exist_ok=True)
        self = cls(context, page, server, name, artifacts, workspace or f"rtc-{name}", timeout)
        page.on("console", self._on_console)
        page.on("pageerror", lambda err: self.console.append(f"pageerror: {err}"))
        if record_network:
            self._record_network()
        return self

    # -- diagnostics ---------------------------------------------------------------------------

    def _on_console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):
            text = f"{msg.type}: {msg.text.strip().splitlines()[0][:300] if msg.text.strip() else ''}"
            if not self.console or self.console[-1] != text:
                self.console.append(text)

    def _record_network(self) -> None:
        """Log every non-static HTTP request and every websocket with its frames, decoded y-protocol-wise."""
        static = ("/static/", "/lab/api/themes/", "/lab/extensions/", ".js", ".css", ".woff")

        def on_request(req: Any) -> None:
            if any(s in req.url for s in static):
                return
            body = req.post_data if req.method not in ("GET", "HEAD") else None
            self.network.append(f"HTTP {req.method} {req.url}" + (f" body={body[:400]}" if body else ""))

        async def on_response(resp: Any) -> None:
            if any(s in resp.url for s in static):
                return
            body = ""
            if "/api/collaboration/" in resp.url:
                with contextlib.suppress(Exception):
                    body = f" body={(await resp.text())[:400]}"
            self.network.append(f"  -> {resp.status} {resp.request.method} {resp.url}{body}")

        def on_ws(ws: Any) -> None:
            self.network.append(f"WS open {ws.url}")
            collab = "/api/collaboration/" in ws.url
            ws.on("close", lambda _ws: self.network.append(f"WS close {ws.url}"))
            if collab:
                ws.on("framesent", lambda f: self.network.append(f"WS > {ws.url.split('?')[0]} {describe_frame(f)}"))
                ws.on(
                    "framereceived", lambda f: self.network.append(f"WS < {ws.url.split('?')[0]} {describe_frame(f)}")
                )

        self.page.on("request", on_request)
        self.page.on("response", on_response)
        self.page.on("websocket", on_ws)

    async def harness_state(self) -> dict[str, Any]:
        """What the page recorded: status-bar texts over time, dialogs and toasts seen."""
        try:
            return await self.page.evaluate("() => window.__labHarness || null") or {}
        except Exception:  # noqa: BLE001 - page may be gone
            return {}

    async def screenshot(self, label: str) -> Path | None:
        self._shots += 1
        path = self.artifacts_dir / f"{self.name}-{self._shots:02d}-{label}.png"
        try:
            await self.page.screenshot(path=str(path), timeout=5000)
            return path
        except Exception:  # noqa: BLE001 - best effort
            return None

    async def _failure_report(self, action: str) -> str:
        shot = await self.screenshot(f"failed-{action}")
        state = await self.harness_state()
        open_dialogs = await self._open_dialogs()
        lines = [f"[{self.name}] {action} failed; screenshot: {shot}"]
        if open_dialogs:
            lines.append(f"  open dialogs: {open_dialogs}")
        for key in ("dialogs", "toasts"):
            if state.get(key):
                lines.append(f"  {key} seen: {[d.get('title', d.get('text')) for d in state[key]][-8:]}")
        if state.get("status"):
            lines.append(f"  status bar: {' | '.join(state['status'][-1]['texts'])}")
        if self.console:
            lines.append("  console: " + "\n    ".join(self.console[-10:]))
        if self.network:
            netlog = self.artifacts_dir / f"{self.name}-network.log"
            netlog.write_text("\n".join(self.network))
            lines.append(f"  network log: {netlog}")
        return "\n".join(lines)

    # -- dialogs -------------------------------------------------------------------------------

    async def _open_dialogs(self) -> list[dict[str, str]]:
        try:
            return await self.page.evaluate(
                """() => Array.from(document.querySelectorAll('.jp-Dialog')).map(d => ({
                    title: (d.querySelector('.jp-Dialog-header') || {}).textContent?.trim() || '',
                    body: ((d.querySelector('.jp-Dialog-body') || {}).textContent || '').trim().slice(0, 300),
                    buttons: Array.from(d.querySelectorAll('.jp-Dialog-button')).map(b => b.textContent.trim()),
                }))"""
            )
        except Exception:  # noqa: BLE001
            return []

    async def handle_dialogs(self) -> None:
        """Dismiss the dialogs and prompts JupyterLab may show on its own; raise on any other dialog."""
        page = self.page
        news = page.locator(".Toastify__toast", has_text="official Jupyter news")
        if await news.count():
            with contextlib.suppress(Exception):
                await news.first.get_by_role("button", name="No", exact=True).click(timeout=2000)
        for dialog in await self._open_dialogs():
            title = dialog["title"]
            if title in self.dialog_handlers:
                label = self.dialog_handlers[title]
                if label is None:
                    await page.keyboard.press("Escape")
                else:
                    await page.locator(".jp-Dialog .jp-Dialog-button", has_text=label).first.click(timeout=5000)
                await page.locator(".jp-Dialog", has_text=title).wait_for(state="detached", timeout=5000)
            else:
                raise LabError(
                    f"[{self.name}] JupyterLab shows a dialog: {title!r}: {dialog['body']!r} "
                    f"(buttons {dialog['buttons']})"
                )

    async def _until(self, js: str, arg: Any = None, timeout: float | None = None, what: str = "") -> Any:
        """Wait until the JS predicate ``js(arg)`` is truthy, handling dialogs meanwhile."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            await self.handle_dialogs()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                try:
                    last = await self.page.evaluate(js, arg)
                except Exception as exc:  # noqa: BLE001
                    last = exc
                raise LabError(
                    f"[{self.name}] timed out after {timeout:.0f}s waiting for {what or js} (last: {last!r})"
                )
            try:
                handle = await self.page.wait_for_function(js, arg=arg, timeout=min(remaining, 1.0) * 1000)
                value = await handle.json_value()
                await handle.dispose()
                return value
            except Exception as exc:  # noqa: BLE001
                if type(exc).__name__ != "TimeoutError":
                    raise

    # -- navigation ----------------------------------------------------------------------------

    @_action
    async def open_notebook(self, path: str, min_cells: int = 1, timeout: float | None = None) -> None:
        """Open ``path`` in this user's workspace and wait until it is shown and its kernel is idle."""
        self.path = path
        timeout = self.timeout if timeout is None else timeout
        await self.page.goto(
            self.server.lab_url(path, workspace=self.workspace), wait_until="domcontentloaded", timeout=timeout * 1000
        )
        await self.wait_notebook_ready(min_cells=min_cells, timeout=timeout)

    @_action
    async def reload(self, min_cells: int = 1, timeout: float | None = None) -> None:
        timeout = self.timeout if timeout is None else timeout
        await self.page.reload(wait_until="domcontentloaded", timeout=timeout * 1000)
        await self.wait_notebook_ready(min_cells=min_cells, timeout=timeout)

    _PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

    @_action
    async def wait_notebook_ready(self, min_cells: int = 1, timeout: float | None = None, kernel: bool = True) -> None:
        """The notebook's tab is current, its cells are rendered with editors, and (if ``kernel``) idle."""
        name = os.path.basename(self.path or "")
        await self._until(
            """([sel, name, minCells]) => {
                const tab = document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current');
                if (!tab || (name && !tab.textContent.includes(name))) return false;
                const panel = document.querySelector(sel);
                if (!panel) return false;
                const cells = panel.querySelectorAll('.jp-Notebook .jp-Cell');
                if (cells.length < minCells) return false;
                return Array.from(cells).every(c => c.querySelector('.cm-content'));
            }""",
            [self._PANEL, name, min_cells],
            timeout=timeout,
            what=f"notebook {self.path!r} to show >= {min_cells} cells",
        )
        if kernel:
            await self.wait_kernel_idle(timeout=timeout)

    @_action
    async def wait_kernel_idle(self, timeout: float | None = None) -> None:
        await self._until(
            """(sel) => {
                const ind = document.querySelector(sel + ' .jp-Notebook-ExecutionIndicator');
                return ind && ind.dataset.status === 'idle';
            }""",
            self._PANEL,
            timeout=timeout,
            what="the kernel to be idle (.jp-Notebook-ExecutionIndicator[data-status=idle])",
        )

    # -- cells ---------------------------------------------------------------------------------

    def cell(self, index: int) -> Any:
        return self.page.locator(f"{self._PANEL} .jp-Notebook .jp-Cell").nth(index)

    async def cell_count(self) -> int:
        return await self.page.locator(f"{self._PANEL} .jp-Notebook .jp-Cell").count()

    async def _focus_editor(self, index: int) -> None:
        await self.handle_dialogs()
        editor = self.cell(index).locator(".jp-Cell-inputArea .cm-content")
        await editor.scroll_into_view_if_needed()
        await editor.click()
        await self._until(
            "(el) => el.closest('.cm-editor')?.classList.contains('cm-focused')",
            await editor.element_handle(),
            what=f"cell {index}'s editor to have focus",
        )

    @_action
    async def place_cursor(self, index: int) -> None:
        """Click into cell ``index`` and put the caret at the end of its text (moves this user's cursor)."""
        await self._focus_editor(index)
        await self.page.keyboard.press("Control+End")

    async def cell_source(self, index: int) -> str:
        """The text of cell ``index`` as the editor shows it (lines joined with \\n)."""
        text = await self.cell(index).evaluate(_JS_EDITOR_TEXT)
        if text is None:
            raise LabError(f"[{self.name}] cell {index} has no editor")
        return text

    async def sources(self) -> list[str]:
        return [await self.cell_source(i) for i in range(await self.cell_count())]

    @_action
    async def wait_for_cell_source(
        self, index: int, contains: str | None = None, equals: str | None = None, timeout: float | None = None
    ) -> str:
        """Wait until cell ``index``'s editor text contains / equals the given string; returns the text."""
        js = """([sel, index, contains, equals, getText]) => {
            const cells = document.querySelectorAll(sel + ' .jp-Notebook .jp-Cell');
            const cell = cells[index];
            if (!cell) return false;
            const text = (eval(getText))(cell);
            if (text === null) return false;
            if (equals !== null && text !== equals) return false;
            if (contains !== null && !text.includes(contains)) return false;
            return {text};
        }"""
        result = await self._until(
            js,
            [self._PANEL, index, contains, equals, _JS_EDITOR_TEXT],
            timeout=timeout,
            what=f"cell {index} source to "
            + (f"contain {contains!r}" if contains is not None else f"equal {equals!r}"),
        )
        return result["text"]

    @_action
    async def type_in_cell(self, index: int, text: str, delay: float = 0) -> None:
        """Click into cell ``index``, go to the end of its text and type ``text`` key by key."""
        before = await self.cell_source(index)
        await self._focus_editor(index)
        await self.page.keyboard.press("Control+End")
        await self.page.keyboard.type(text, delay=delay)
        await self.wait_for_cell_source(index, equals=before + text, timeout=5)

    @_action
    async def set_cell_source(self, index: int, text: str) -> None:
        """Replace the whole source of cell ``index`` (select all, then insert ``text`` as one input)."""
        await self._focus_editor(index)
        await self.page.keyboard.press("Control+a")
        if text:
            await self.page.keyboard.insert_text(text)
        else:
            await self.page.keyboard.press("Backspace")
        await self.wait_for_cell_source(index, equals=text, timeout=5)

    async def _prompt(self, index: int) -> str:
        return (await self.cell(index).locator(".jp-InputPrompt").first.text_content() or "").strip()

    @_action
    async def run_cell(
        self, index: int, advance: bool = False, wait: bool = True, timeout: float | None = None
    ) -> None:
        """Run cell ``index`` with Ctrl+Enter (or Shift+Enter if ``advance``, which may add a cell at the end).

        With ``wait``, wait until its prompt shows a new execution count and the kernel is idle.
        """
        before = await self._prompt(index)
        await self._focus_editor(index)
        await self.page.keyboard.press("Shift+Enter" if advance else "Control+Enter")
        if wait:
            await self._until(
                """([sel, index, before]) => {
                    const cell = document.querySelectorAll(sel + ' .jp-Notebook .jp-Cell')[index];
                    const p = cell && cell.querySelector('.jp-InputPrompt');
                    if (!p) return false;
                    const text = p.textContent.trim();
                    return /\\[\\d+\\]/.test(text) && text !== before ? text : false;
                }""",
                [self._PANEL, index, before],
                timeout=timeout,
                what=f"cell {index} to finish running (prompt was {before!r})",
            )
            await self.wait_kernel_idle(timeout=timeout)

    async def cell_outputs(self, index: int) -> str:
        """The text of cell ``index``'s outputs (each output's innerText, joined with \\n)."""
        outputs = self.cell(index).locator(".jp-OutputArea-output")
        return "\n".join(await outputs.all_inner_texts())

    @_action
    async def wait_for_output(self, index: int, text: str, timeout: float | None = None) -> str:
        result = await self._until(
            """([sel, index, text]) => {
                const cell = document.querySelectorAll(sel + ' .jp-Notebook .jp-Cell')[index];
                if (!cell) return false;
                const out = Array.from(cell.querySelectorAll('.jp-OutputArea-output'))
                    .map(o => o.innerText).join('\\n');
                return out.includes(text) ? {out} : false;
            }""",
            [self._PANEL, index, text],
            timeout=timeout,
            what=f"cell {index} output to contain {text!r}",
        )
        return result["out"]

    # -- saving --------------------------------------------------------------------------------

    async def is_dirty(self) -> bool:
        return await self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current.jp-mod-dirty").count() > 0

    @_action
    async def save(self, timeout: float | None = None) -> dict[str, Any]:
        """Ctrl+S, then wait for the status bar's "Saving completed" and a clean (not dirty) tab.

        Raises on "Saving failed" or a save-error dialog. Returns the status-bar entries seen.
        """
        state = await self.harness_state()
        start = len(state.get("status", []))
        dialogs_before = len(state.get("dialogs", []))
        await self.handle_dialogs()
        await self.page.keyboard.press("Control+s")
        result = await self._until(
            """([start, dialogsBefore]) => {
                const h = window.__labHarness;
                const seen = h.status.slice(start).flatMap(s => s.texts).filter(t => t.startsWith('Saving'))
                    .filter((t, i, all) => i === 0 || all[i - 1] !== t);
                if (seen.some(t => t.includes('Saving failed'))) return {failed: 'status bar: Saving failed', seen};
                const err = h.dialogs.slice(dialogsBefore).find(d => /save|error|fail/i.test(d.title));
                if (err) return {failed: 'dialog: ' + err.title + ': ' + err.body, seen};
                if (seen.some(t => t.includes('Saving completed'))) return {ok: true, seen};
                return false;
            }""",
            [start, dialogs_before],
            timeout=timeout,
            what="the status bar to report 'Saving completed'",
        )
        if result.get("failed"):
            raise LabError(f"[{self.name}] save failed: {result['failed']} (status bar: {result['seen']})")
        await self._until(
            "() => !document.querySelector('.lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current.jp-mod-dirty')",
            timeout=timeout,
            what="the notebook tab to lose its dirty mark",
        )
        return result

    # -- collaborators -------------------------------------------------------------------------

    async def identity(self) -> dict[str, Any]:
        """This context's user as the server sees it (``/api/me``, asked as JupyterLab asks: with the
        ``_xsrf`` cookie's value in ``X-XSRFToken``, which a JupyterHub single-user server requires)."""
        me = await self.page.evaluate(
            """async (url) => {
                const xsrf = (document.cookie.match(/(?:^|;\\s*)_xsrf=([^;]*)/) || [])[1];
                const headers = xsrf ? {'X-XSRFToken': decodeURIComponent(xsrf)} : {};
                return (await fetch(url, {credentials: 'same-origin', headers})).json();
            }""",
            self.server.url + "/api/me",
        )
        return me.get("identity", me)

    async def remote_cursors(self) -> dict[str, list[dict[str, Any]]]:
        """Other users' cursors drawn in this page's notebook, and their name flags.

        ``{"cursors": [{cell, count, colors}], "flags": [{name, initials, idle, color}]}``; a cursor's
        color is its user's ``color`` (as in ``/api/me``), a flag's color the same.
        """
        return await self.page.locator(self._PANEL).evaluate(_JS_REMOTE_CURSORS)

    @_action
    async def wait_for_remote_cursor(
        self, name: str | None = None, cell: int | None = None, color: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Wait until a remote cursor is drawn (in ``cell`` if given; of ``color`` if given) and, if ``name``
        is given, a name flag ``name`` of the same color exists. Returns ``{cell, count, colors, flag}``.
        """
        js = """([sel, name, cellIndex, color, fn]) => {
            const {cursors, flags} = (eval(fn))(document.querySelector(sel) || document.body);
            for (const c of cursors) {
                if (cellIndex !== null && c.cell !== cellIndex) continue;
                for (const col of c.colors) {
                    if (color !== null && col !== color) continue;
                    const flag = flags.find(f => f.color === col && (name === null || f.name === name));
                    if (name !== null && !flag) continue;
                    return {...c, color: col, flag: flag || null};
                }
            }
            return false;
        }"""
        return await self._until(
            js,
            [self._PANEL, name, cell, color, _JS_REMOTE_CURSORS],
            timeout=timeout,
            what=f"a remote cursor of {name or color or 'anyone'!r} in cell {cell}",
        )

    async def _open_collaboration_panel(self, timeout: float) -> Any:
        panel = self.page.locator(".jp-CollaboratorsList")
        if not await panel.is_visible():
            await self.page.locator(
                ".jp-SideBar .lm-TabBar-tab[title*='Collaborat'], .jp-SideBar .lm-TabBar-tab[data-id*='collaboration']"
            ).first.click()
            await panel.wait_for(state="visible", timeout=timeout * 1000)
        return panel

    @_action
    async def collaborators(self, timeout: float | None = None) -> list[str]:
        """Names in the Collaboration side panel (opened if needed): the *other* users present."""
        panel = await self._open_collaboration_panel(self.timeout if timeout is None else timeout)
        return [t.strip() for t in await panel.locator(".jp-CollaboratorHeader").all_inner_texts()]

    @_action
    async def wait_for_collaborator(self, name: str, timeout: float | None = None) -> list[str]:
        """Wait until the Collaboration panel lists ``name``; returns the names listed."""
        timeout = self.timeout if timeout is None else timeout
        await self._open_collaboration_panel(timeout)
        return await self._until(
            """(name) => {
                const names = Array.from(document.querySelectorAll('.jp-CollaboratorsList .jp-CollaboratorHeader'))
                    .map(e => e.textContent.trim());
                return names.some(n => n.includes(name)) ? names : false;
            }""",
            name,
            timeout=timeout,
            what=f"the Collaboration panel to list {name!r}",
        )

    # -- teardown ------------------------------------------------------------------------------

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.network:
            (self.artifacts_dir / f"{self.name}-network.log").write_text("\n".join(self.network))
        with contextlib.suppress(Exception):
            await self.context.close()


def describe_frame(frame: bytes | str) -> str:
    """One-line description of a y-websocket frame: message type, sync step, sizes, awareness, RAW payload."""
    if isinstance(frame, str):
        return f"TEXT {frame[:200]!r}"
    data = bytes(frame)
    try:
        kind, pos = _varuint_at(data, 0)
        if kind == 0:
            step, pos = _varuint_at(data, pos)
            length, pos = _varuint_at(data, pos)
            name = {0: "SyncStep1(state vector)", 1: "SyncStep2(update)", 2: "Update"}.get(step, f"sync?{step}")
            return f"SYNC {name} {length}B"
        if kind == 1:
            length, pos = _varuint_at(data, pos)
            inner = data[pos : pos + length]
            count, ipos = _varuint_at(inner, 0)
            states = []
            for _ in range(count):
                client, ipos = _varuint_at(inner, ipos)
                clock, ipos = _varuint_at(inner, ipos)
                slen, ipos = _varuint_at(inner, ipos)
                state = inner[ipos : ipos + slen].decode(errors="replace")
                ipos += slen
                states.append(f"client={client} clock={clock} state={state[:1000]}")
            return f"AWARENESS {'; '.join(states)}"
        if kind == 2:
            slen, pos = _varuint_at(data, pos)
            text = data[pos : pos + slen].decode(errors="replace")
            pos += slen
            rest = f" id={_varuint_at(data, pos)[0]}" if pos < len(data) else ""
            return f"RAW {text[:300]!r}{rest}"
        return f"type={kind} {len(data)}B {data[:24].hex()}"
    except (IndexError, UnicodeDecodeError):
        return f"undecodable {len(data)}B {data[:24].hex()}"


def _varuint_at(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos
