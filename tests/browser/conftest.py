"""Fixtures for the browser tests: the backend's Jupyter server, Chromium, and one LabPage per user.

Async tests run on pytest-jupyter's loop (see ``tests/conftest.py``); these fixtures are sync and run
their async setup and teardown on that loop (``jp_asyncio_loop``).

Environment:
- ``RTC_BROWSER_PYTHON``: the python whose environment serves JupyterLab (default: this one). E.g.
  ``/tmp/jc-venv/bin/python`` with ``jupyter-collaboration`` installed = the reference backend.
- ``RTC_BROWSER_BACKEND``: a label for reports (default: derived from the python path).
- ``RTC_BROWSER_CHROMIUM``: the Chromium binary (default ``/usr/bin/chromium``).
- ``RTC_BROWSER_SERVER_ARGS``: extra command-line arguments for the server (shell syntax).
- ``RTC_BROWSER_NETWORK=1``: record each page's HTTP requests and collaboration websocket frames into
  ``<tmp_path>/artifacts/<user>-network.log``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .lab import DEFAULT_LAB_SETTINGS, JupyterLabServer, LabPage, chromium_executable, launch_chromium


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the real JupyterLab UI in headless Chromium")
    config.addinivalue_line("markers", "server_args(*args): command-line arguments for the test's Jupyter server")
    config.addinivalue_line(
        "markers", "lab_settings(dict): JupyterLab settings of the test's server, over the defaults"
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(getattr(getattr(request.node, f"rep_{when}", None), "failed", False) for when in ("setup", "call"))


@pytest.fixture
def backend_python() -> str:
    return os.environ.get("RTC_BROWSER_PYTHON") or sys.executable


@pytest.fixture
def backend_label(backend_python: str) -> str:
    return os.environ.get("RTC_BROWSER_BACKEND") or str(Path(backend_python).parent.parent)


@pytest.fixture
def artifacts_dir(tmp_path: Path) -> Path:
    path = tmp_path / "artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def lab_server(
    tmp_path: Path, backend_python: str, request: pytest.FixtureRequest, jp_asyncio_loop: Any
) -> Iterator[JupyterLabServer]:
    """A started Jupyter server of the backend, root in ``tmp_path/server/root``; a test's (or module's)
    ``server_args`` marker adds command-line arguments, before ``RTC_BROWSER_SERVER_ARGS``; its
    ``lab_settings`` marker ({plugin: {setting: value}}) replaces those plugins' default settings.

    Fixtures are sync and drive pytest-jupyter's loop (the loop the async tests run on), as in
    ``tests/conftest.py``.
    """
    marker = request.node.get_closest_marker("server_args")  # @pytest.mark.server_args("--A.b=1", ...)
    extra_args = [*(marker.args if marker else ()), *shlex.split(os.environ.get("RTC_BROWSER_SERVER_ARGS", ""))]
    settings = request.node.get_closest_marker("lab_settings")
    lab_settings = {**DEFAULT_LAB_SETTINGS, **(settings.args[0] if settings else {})}
    server = JupyterLabServer(
        tmp_path / "server", python=backend_python, extra_args=extra_args, startup_timeout=45, lab_settings=lab_settings
    )
    jp_asyncio_loop.run_until_complete(server.start())
    yield server
    jp_asyncio_loop.run_until_complete(server.stop())
    if _failed(request):
        sys.stderr.write(f"\n--- server log ({server.log_path}), last lines ---\n{server.log_tail(80)}\n")


@pytest.fixture
def chromium(jp_asyncio_loop: Any) -> Iterator[Any]:
    import playwright.async_api as playwright_api  # a missing part fails the test: CI installs both

    if chromium_executable() is None:
        pytest.fail("no Chromium binary (apt-get install chromium, or set RTC_BROWSER_CHROMIUM)")
    run = jp_asyncio_loop.run_until_complete
    playwright = run(playwright_api.async_playwright().start())
    try:
        browser = run(launch_chromium(playwright))
        try:
            yield browser
        finally:
            run(browser.close())
    finally:
        run(playwright.stop())


@pytest.fixture
def new_user(
    chromium: Any,
    lab_server: JupyterLabServer,
    artifacts_dir: Path,
    request: pytest.FixtureRequest,
    jp_asyncio_loop: Any,
) -> Iterator[Callable[..., Awaitable[LabPage]]]:
    """Factory: ``page = await new_user("alice")`` — a new browser context (hence a new identity).

    On failure, every page still open is screenshotted into the artifacts directory.
    """
    pages: list[LabPage] = []
    record = os.environ.get("RTC_BROWSER_NETWORK") == "1"

    async def create(name: str, **options: Any) -> LabPage:
        options.setdefault("record_network", record)
        page = await LabPage.create(chromium, lab_server, name, artifacts_dir, **options)
        pages.append(page)
        return page

    yield create

    async def teardown(failed: bool) -> None:
        for page in pages:
            if failed and not page.closed:
                await page.screenshot("teardown")
            await page.close()

    failed = _failed(request)
    jp_asyncio_loop.run_until_complete(teardown(failed))
    if failed:
        sys.stderr.write(f"\n--- browser artifacts: {artifacts_dir} ---\n")
