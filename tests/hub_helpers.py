"""A real JupyterHub for tests: the hub, configurable-http-proxy, users' single-user servers with our extensions.

- :class:`JupyterHubServer` — ``python -m jupyterhub`` on free ports (the process start/stop of
  :class:`~browser.lab.JupyterLabServer`, whose isolated dirs it shares with the users' servers), a
  dummy authenticator with one password, ``SimpleLocalProcessSpawner`` (runs as the hub's user, root
  included) with each user's home in ``base_dir/users/NAME``, and the configuration the documentation's
  JupyterHub section gives: :func:`supernode.hub_identity.presence_identity` at login,
  :class:`supernode.hub_authorizer.HubScopeAuthorizer` in the single-user servers, the custom scope
  ``custom:jupyter_rtc:write`` that a share grants for writing.
- :class:`HubUser` — a user logged in through the hub's login form, with an API token of theirs:
  start their server, share it, reach any server shared with them.
- :func:`running_hub` — a hub for a whole test module (hub start-up is slow), an owner's server
  shared with other users, on its own event loop: pytest-jupyter gives each test a new loop, and
  the hub's process must outlive them.
- :class:`UserServer`, :func:`hub_login`, :func:`authorize_if_asked` — the same through a browser
  page (:class:`~browser.lab.LabPage`).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from browser.lab import JupyterLabServer, LabError, _free_port, rest_call, wait_until

REPO = Path(__file__).resolve().parent.parent
CHP = REPO / "clients" / "js" / "node_modules" / ".bin" / "configurable-http-proxy"
WRITE_SCOPE = "custom:jupyter_rtc:write"

_CONFIG = """\
# written by tests/hub_helpers.py
import sys
from supernode.hub_identity import presence_identity

c = get_config()  # noqa
base = {base!r}
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = "sqlite:///" + base + "/hub.sqlite"
c.JupyterHub.cookie_secret_file = base + "/cookie_secret"
c.JupyterHub.cleanup_servers = True
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.pid_file = base + "/proxy.pid"
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allow_all = True
c.Authenticator.post_auth_hook = presence_identity

c.JupyterHub.custom_scopes = {{
    {write_scope!r}: {{"description": "Edit documents, save and run code in a Jupyter server shared with you."}},
}}
c.JupyterHub.load_roles = [
    # the default user role, plus writing in one's own servers (a share can pass it on) and finding
    # other users by name (to share with them)
    {{"name": "user", "scopes": ["self", "shares!user", "read:users:name", {write_scope!r} + "!user"]}},
    {{"name": "rtc-test", "services": ["rtc-test"], "scopes": ["admin:users", "admin:servers", "list:users"]}},
]
c.JupyterHub.services = [{{"name": "rtc-test", "api_token": {service_token!r}}}]

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = base + "/users/{{username}}"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.args = [
    "--ServerApp.allow_root=True",
    "--ServerApp.authorizer_class=supernode.hub_authorizer.HubScopeAuthorizer",
]
# each user's own command-line options, after the common ones (a new list at each spawn)
_common_args = list(c.Spawner.args)
_user_args = {user_args!r}


def _user_options(spawner):
    spawner.args = _common_args + _user_args.get(spawner.user.name, [])


c.Spawner.pre_spawn_hook = _user_options
# a browser's token for a server may carry the write scope for that server (a share's, or the owner's);
# the bare !server filter means the server of the token's OAuth client
c.Spawner.oauth_client_allowed_scopes = [{write_scope!r} + "!server"]
# the server's own token reads its shares (who may write) for HubScopeAuthorizer
c.Spawner.server_token_scopes = ["users:activity!user", "access:servers!server", "read:shares!server"]
c.Spawner.start_timeout = 120
# a single-user server slow to exit is killed after 6 s, not the default 60: the hub stops within our
# stop_timeout whatever its servers do
c.Spawner.interrupt_timeout = 3
c.Spawner.term_timeout = 3
c.Spawner.kill_timeout = 5
c.Spawner.http_timeout = 120
c.Spawner.environment = {{
    "JUPYTER_CONFIG_DIR": {config_dir!r},  # the lab settings of browser.lab, shared by every user
    "JUPYTER_DATA_DIR": lambda spawner: base + "/users/" + spawner.user.name + "/.data",
    "JUPYTER_RUNTIME_DIR": lambda spawner: base + "/users/" + spawner.user.name + "/.runtime",
    "IPYTHONDIR": lambda spawner: base + "/users/" + spawner.user.name + "/.ipython",
    "PYTHONUNBUFFERED": "1",
    "PATH": {path!r},
}}
"""


class JupyterHubServer(JupyterLabServer):
    """``python -m jupyterhub`` in ``base_dir`` (``hub.log`` its log, ``users/NAME`` each user's home);
    :attr:`url` is the proxy's public address, :attr:`token` a service token with ``admin:users``."""

    ready_path = "/hub/api/"

    def __init__(
        self,
        base_dir: str | Path,
        *,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        user_args: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(base_dir, app="jupyterhub", startup_timeout=startup_timeout, stop_timeout=stop_timeout)
        self.user_args = dict(user_args or {})  # user name → their single-user server's extra options
        self.log_path = self.base_dir / "hub.log"
        self.password = secrets.token_hex(8)
        self.config_path = self.base_dir / "jupyterhub_config.py"
        self._inner_ports: dict[int, tuple[int, int]] = {}

    def _argv(self, port: int) -> list[str]:
        hub_port, api_port = self._inner_ports.setdefault(port, (_free_port(), _free_port()))
        return [
            self.python,
            "-m",
            "jupyterhub",
            "-f",
            str(self.config_path),
            f"--JupyterHub.port={port}",
            f"--JupyterHub.hub_port={hub_port}",
            f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}",
        ]

    async def start(self) -> None:
        if not CHP.exists():
            raise LabError(f"{CHP} is missing: run `npm ci` in clients/js")
        env = self._env()  # creates the isolated Jupyter dirs
        (self.base_dir / "users").mkdir(exist_ok=True)
        self.config_path.write_text(
            _CONFIG.format(
                base=str(self.base_dir),
                chp=str(CHP),
                proxy_token=secrets.token_hex(16),
                password=self.password,
                write_scope=WRITE_SCOPE,
                service_token=self.token,
                user_args=self.user_args,
                config_dir=env["JUPYTER_CONFIG_DIR"],
                path=env["PATH"],
            )
        )
        await super().start()

    def server_url(self, owner: str) -> str:
        """The base URL of ``owner``'s default server through the proxy (ends with ``/``)."""
        return f"{self.url}/user/{owner}/"

    async def login(self, name: str) -> HubUser:
        """Log ``name`` in through the hub's login form (the user exists from then on) and get an API
        token of theirs (their own scopes, shares included, checked at each use)."""
        user = HubUser(self, name)
        await asyncio.to_thread(user.log_in)
        return user


class UserServer:
    """A user's single-user server as a browser page sees it (:class:`~browser.lab.LabPage`'s ``server``):
    the browser logs in to the hub itself (see :func:`hub_login`), so URLs carry no token."""

    def __init__(self, hub: JupyterHubServer, owner: str) -> None:
        self.hub = hub
        self.owner = owner
        self.url = hub.server_url(owner).rstrip("/")

    def lab_url(self, path: str = "", workspace: str | None = None, **query: str) -> str:
        prefix = f"/lab/workspaces/{urllib.parse.quote(workspace, safe='')}" if workspace else "/lab"
        tree = f"/tree/{urllib.parse.quote(path)}" if path else ""
        params = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.url}{prefix}{tree}{params}"


class HubUser:
    """A hub user: cookies of a login through the form, and an API token."""

    def __init__(self, hub: JupyterHubServer, name: str) -> None:
        self.hub = hub
        self.name = name
        self.token = ""
        self._jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self._jar), _NoRedirect())

    def log_in(self) -> None:
        """(blocking) The login form, as a browser posts it, then ``POST /hub/api/users/NAME/tokens``."""
        hub = self.hub.url + "/hub/"
        with self._opener.open(hub + "login", timeout=10) as page:
            page.read()
        xsrf = next(cookie.value for cookie in self._jar if cookie.name == "_xsrf")
        form = urllib.parse.urlencode({"username": self.name, "password": self.hub.password, "_xsrf": xsrf})
        try:
            self._opener.open(hub + "login?next=%2Fhub%2Fhome", form.encode(), timeout=30).close()
        except urllib.error.HTTPError as err:
            with err:
                if err.code != 302:
                    raise LabError(f"login of {self.name}: {err.code} {err.read()[:300]!r}") from None
        self.token = self.new_token()

    def new_token(self, scopes: list[str] | None = None) -> str:
        """(blocking) ``POST /hub/api/users/NAME/tokens`` as the logged-in user: a token with ``scopes``, or
        (None) with all of ours, shares included."""
        xsrf = next(cookie.value for cookie in self._jar if cookie.name == "_xsrf")  # the session's
        body: dict[str, Any] = {"note": "jupyter-rtc tests"}
        if scopes is not None:
            body["scopes"] = scopes
        request = urllib.request.Request(
            self.hub.url + f"/hub/api/users/{self.name}/tokens",
            data=json.dumps(body).encode(),
            headers={"X-XSRFToken": xsrf, "Content-Type": "application/json"},
            method="POST",
        )
        with self._opener.open(request, timeout=30) as answer:
            return json.loads(answer.read())["token"]

    async def api(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
        """``(status, decoded JSON or None)`` of a hub API call (``path`` after ``/hub/api/``) with our token."""
        return await rest_call(self.hub.url + "/hub/api/" + path, self.token, method, body, timeout)

    async def start_server(self, timeout: float = 120.0) -> str:
        """Start our default server and wait until the hub counts it ready; returns its URL."""
        status, body = await self.api("POST", f"users/{self.name}/server")
        if status not in (201, 202, 400):  # 400: already running
            raise LabError(f"starting {self.name}'s server: {status} {body}")

        async def ready() -> bool:
            _, model = await self.api("GET", f"users/{self.name}")
            server = (model or {}).get("servers", {}).get("")
            return bool(server and server.get("ready"))

        await wait_until(ready, timeout, f"{self.name}'s server to be ready", interval=0.5)
        return self.hub.server_url(self.name)

    async def share_with(self, other: str, *, write: bool) -> dict[str, Any]:
        """Share our default server with ``other`` (JupyterHub's sharing): access, and writing if ``write``."""
        scopes = [f"access:servers!server={self.name}/"]
        if write:
            scopes.append(f"{WRITE_SCOPE}!server={self.name}/")
        status, body = await self.api("POST", f"shares/{self.name}/", {"user": other, "scopes": scopes})
        if status != 200:
            raise LabError(f"sharing {self.name}'s server with {other}: {status} {body}")
        return body


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keep redirects as answers (after a login the hub would start the user's server)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


async def hub_login(page: Any, hub: JupyterHubServer, name: str, timeout: float = 30.0) -> None:
    """Log a browser page (Playwright) in to the hub through its login form."""
    await page.goto(hub.url + "/hub/login?next=%2Fhub%2Fhome", wait_until="domcontentloaded", timeout=timeout * 1000)
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", hub.password)
    async with page.expect_navigation(wait_until="domcontentloaded", timeout=timeout * 1000):
        await page.click("[type=submit]")


async def authorize_if_asked(page: Any, timeout: float = 30.0) -> None:
    """On a server shared with the user, the hub asks once to authorize it: click Authorize if it does."""
    with contextlib.suppress(Exception):
        await page.wait_for_load_state("domcontentloaded", timeout=timeout * 1000)
    if "/hub/api/oauth2/authorize" in page.url:
        async with page.expect_navigation(wait_until="domcontentloaded", timeout=timeout * 1000):
            await page.click("button[type=submit]")


@contextlib.contextmanager
def running_hub(
    base_dir: Path,
    owner: str = "alice",
    shared_with: dict[str, bool] | None = None,
    user_args: dict[str, list[str]] | None = None,
) -> Iterator[tuple[JupyterHubServer, dict[str, HubUser]]]:
    """A started hub for a test module: ``owner`` logged in with their server started, and each user of
    ``shared_with`` (name → may write) logged in and given access to it with JupyterHub's sharing.
    ``user_args``: extra command-line options of some users' servers (user name → options).

    The hub runs on a loop of its own, idle between calls (its process writes to a file, not a pipe);
    the users' helpers work on any loop. On exit the hub stops its users' servers and the proxy."""
    loop = asyncio.new_event_loop()
    hub = JupyterHubServer(base_dir, user_args=user_args)
    try:
        loop.run_until_complete(hub.start())

        async def prepare() -> dict[str, HubUser]:
            users = {owner: await hub.login(owner)}
            await users[owner].start_server()
            for name, write in (shared_with or {}).items():
                users[name] = await hub.login(name)
                await users[owner].share_with(name, write=write)
            return users

        users = loop.run_until_complete(prepare())
        yield hub, users
    except BaseException:
        print(f"\n--- hub log ({hub.log_path}), last lines ---\n{hub.log_tail(120)}")
        raise
    finally:
        loop.run_until_complete(hub.stop())
        loop.close()
