"""Read-only or read-write sharing under JupyterHub: an authorizer that maps hub scopes to Jupyter actions.

Under ``jupyterhub-singleuser`` every user the hub lets in (the owner, and anyone the server is shared
with) holds ``access:servers!server=OWNER/NAME``, and JupyterHub's own authorizer allows them every
action. :class:`HubScopeAuthorizer` keeps reading open to all of them and asks for more to change
anything:

- ``read`` on any resource: the access scope (as JupyterHub's authorizer);
- any other action (``write``, ``execute``) on any resource: the server's owner, or a user whose hub
  token carries :attr:`HubScopeAuthorizer.write_scope` (``custom:jupyter_rtc:write`` by default) for
  this server, e.g. granted with a share ``{"user": "bob", "scopes": ["access:servers!server=alice/",
  "custom:jupyter_rtc:write!server=alice/"]}``.

So a user the server is shared with without the write scope is read-only everywhere, and at the
relay in particular (the room websocket asks for ``write`` on ``contents``: their document updates
are dropped, their presence still shows).

Configure in the single-user server (``c.ServerApp.authorizer_class =
"supernode.hub_authorizer.HubScopeAuthorizer"``); the hub must define the custom scope and let the
server's OAuth tokens carry it (see the README's JupyterHub section). This module imports jupyterhub:
it is imported only when configured, so the package does not depend on jupyterhub.
"""

from __future__ import annotations

import os

from jupyterhub.singleuser.extension import JupyterHubAuthorizer
from traitlets import Unicode, default

__all__ = ["HubScopeAuthorizer"]


class HubScopeAuthorizer(JupyterHubAuthorizer):
    """Reading needs the hub's access scope; changing anything needs ownership or :attr:`write_scope`."""

    write_scope = Unicode(
        "custom:jupyter_rtc:write",
        config=True,
        help="The hub scope (filtered to this server, e.g. !server=alice/ or !user=alice) that lets a user "
        "who is not the server's owner write: edit documents, save, run code. Without it such a user is "
        "read-only.",
    )
    owner = Unicode(config=True, help="The hub user who owns this server (default: $JUPYTERHUB_USER).")
    server_name = Unicode(config=True, help="This server's name ('' for the default server; $JUPYTERHUB_SERVER_NAME).")

    @default("owner")
    def _default_owner(self) -> str:
        return os.environ.get("JUPYTERHUB_USER", "")

    @default("server_name")
    def _default_server_name(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVER_NAME", "")

    def is_authorized(self, handler, user, action: str, resource: str) -> bool:
        """Whether ``user`` (a JupyterHub user of the single-user server) may ``action`` on ``resource``."""
        hub_user = getattr(user, "hub_user", None)
        if not hub_user or not self.hub_auth.check_scopes(self.hub_auth.access_scopes, hub_user):
            return False
        if action == "read" or (self.owner and hub_user.get("name") == self.owner):
            return True
        required = f"{self.write_scope}!server={self.owner}/{self.server_name}"
        allowed = bool(self.hub_auth.check_scopes({required}, hub_user))
        self.log.debug("%s may %s %s: %s (%s)", user.username, action, resource, allowed, required)
        return allowed
