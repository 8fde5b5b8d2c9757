"""Read-only or read-write sharing under JupyterHub: an authorizer that maps hub scopes to Jupyter actions.

Under ``jupyterhub-singleuser`` every user the hub lets in (the owner, and anyone the server is shared
with) holds ``access:servers!server=OWNER/NAME``, and JupyterHub's own authorizer allows them every
action. :class:`HubScopeAuthorizer` keeps reading open to all of them and asks for more to change
anything:

- ``read`` on any resource, and listening to the server's event bus (``execute`` on ``events``): the
  access scope (as JupyterHub's authorizer);
- any other action (``write``, ``execute``) on any resource: the server's owner, or a user granted
  :attr:`HubScopeAuthorizer.write_scope` (``custom:jupyter_rtc:write`` by default) for this server:
  by a role, or by a share of this server (JupyterHub's sharing: ``{"user": "bob", "scopes":
  ["access:servers!server=alice/", "custom:jupyter_rtc:write!server=alice/"]}``, or a group's).

So a user the server is shared with without the write scope is read-only everywhere, and at the
relay in particular (the room websocket asks for ``write`` on ``contents``: their document updates
are dropped, their presence still shows).

Where the answer comes from: the scopes of the user's hub token (an API token carries the user's
shares; the token a browser gets through OAuth carries only the scopes of roles, the hub does not put
a share's extra scopes in it), else this server's shares, read from the hub with the server's own
token (which needs ``read:shares!server``, see docs/operators.md) and kept for
:attr:`HubScopeAuthorizer.shares_max_age` seconds, so a share granted or revoked takes effect within
that time. ``is_authorized`` answers at once when it can and returns an awaitable when it must ask
the hub (jupyter_server awaits it); a hub that cannot be asked means no write, logged once per failure.

Configure in the single-user server (``c.ServerApp.authorizer_class =
"supernode.hub_authorizer.HubScopeAuthorizer"``). This module imports jupyterhub: it is imported only
when configured, so the package does not depend on jupyterhub.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import quote

from jupyterhub.singleuser.extension import JupyterHubAuthorizer
from jupyterhub.utils import make_ssl_context
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from traitlets import Float, Unicode, default

__all__ = ["HubScopeAuthorizer"]

_PAGE = 200  # shares asked per request


class HubScopeAuthorizer(JupyterHubAuthorizer):
    """Reading needs the hub's access scope; changing anything needs ownership or :attr:`write_scope`."""

    write_scope = Unicode(
        "custom:jupyter_rtc:write",
        config=True,
        help="The hub scope (filtered to this server, e.g. !server=alice/ or !user=alice) that lets a user "
        "who is not the server's owner write: edit documents, save, run code. Without it such a user is "
        "read-only.",
    )
    shares_max_age = Float(
        5.0,
        config=True,
        help="Seconds the server's shares, read from the hub, are trusted before they are read again.",
    )
    owner = Unicode(config=True, help="The hub user who owns this server (default: $JUPYTERHUB_USER).")
    server_name = Unicode(config=True, help="This server's name ('' for the default server; $JUPYTERHUB_SERVER_NAME).")

    @default("owner")
    def _default_owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER", "")

    @default("server_name")
    def _default_server_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shares: dict[tuple[str, str], frozenset[str]] = {}  # ("user"|"group", name) -> scopes
        self._shares_read_at = float("-inf")  # time.monotonic() of the last answer
        self._reading: asyncio.Task[None] | None = None

    @property
    def _required(self) -> str:
        return f"{self.write_scope}!server={self.owner}/{self.server_name}"

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool | Awaitable[bool]:
        """Whether ``user`` (a JupyterHub user of the single-user server) may ``action`` on ``resource``;
        an awaitable of that when the server's shares must first be read from the hub."""
        hub_user = getattr(user, "hub_user", None)
        if not hub_user or not self.hub_auth.check_scopes(self.hub_auth.access_scopes, hub_user):
            return False
        if action == "read" or (action, resource) == ("execute", "events"):
            return True
        if self.owner and hub_user.get("kind", "user") == "user" and hub_user.get("name") == self.owner:
            return True
        if self.hub_auth.check_scopes({self._required}, hub_user):
            return True
        if time.monotonic() - self._shares_read_at < self.shares_max_age:
            return self._shared_for_writing(hub_user)
        return self._after_reading_shares(hub_user)

    async def _after_reading_shares(self, hub_user: dict[str, Any]) -> bool:
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._read_shares())
        await asyncio.shield(self._reading)
        return self._shared_for_writing(hub_user)

    def _shared_for_writing(self, hub_user: dict[str, Any]) -> bool:
        """Whether a share of this server with the user, or with one of their groups, grants writing."""
        holders = [("user", hub_user.get("name", ""))] + [("group", group) for group in hub_user.get("groups") or ()]
        scopes = set().union(*(self._shares.get(holder, frozenset()) for holder in holders))
        allowed = bool(scopes) and bool(self.hub_auth.check_scopes({self._required}, {"scopes": scopes}))
        self.log.debug("%s may write by a share: %s (%s)", hub_user.get("name"), allowed, self._required)
        return allowed

    async def _read_shares(self) -> None:
        """``GET /hub/api/shares/OWNER/NAME`` (every page) with the server's token; on failure no share
        grants writing until the next read (one warning)."""
        hub = self.hub_auth
        url = f"{hub.api_url.rstrip('/')}/shares/{quote(self.owner, safe='')}/{quote(self.server_name, safe='')}"
        ssl = make_ssl_context(hub.keyfile, hub.certfile, cafile=hub.client_ca) if hub.certfile else None
        shares: dict[tuple[str, str], frozenset[str]] = {}
        offset = 0
        try:
            while True:
                request = HTTPRequest(
                    f"{url}?offset={offset}&limit={_PAGE}",
                    headers={
                        "Authorization": f"token {hub.api_token}",
                        "Accept": "application/jupyterhub-pagination+json",
                    },
                    ssl_options=ssl,
                    request_timeout=10,
                )
                response = await AsyncHTTPClient().fetch(request, raise_error=False)
                if response.code != 200:
                    raise OSError(
                        f"{response.code} {response.reason} from {url} (does the server's token hold read:shares!server?)"
                    )
                page = json.loads(response.body)
                for share in page.get("items", []):
                    for kind in ("user", "group"):
                        if share.get(kind):
                            key = (kind, share[kind]["name"])
                            shares[key] = shares.get(key, frozenset()) | frozenset(share.get("scopes") or ())
                following = (page.get("_pagination") or {}).get("next")
                if not following:
                    break
                offset = following["offset"]
        except (OSError, ValueError, KeyError) as exc:
            self.log.warning("jupyter-rtc: reading this server's shares from the hub failed: %s", exc)
            shares = {}
        self._shares = shares
        self._shares_read_at = time.monotonic()
