"""A JupyterHub user's name and colour in presence: the hub's identity, filled in at login.

Under ``jupyterhub-singleuser``, jupyter_server's identity (``/api/me``, which JupyterLab publishes
as the user's presence in every room) is the hub user: ``name``, and whatever the authenticator put
in the user's ``user_info`` (``display_name``, ``initials``, ``avatar_url``, ``color``). Most
authenticators give no colour, so each browser picks a random one and the same person shows in
different colours on different devices. :func:`presence_identity` is a hub ``post_auth_hook`` that
keeps what the authenticator gave and fills in the rest, the colour chosen from JupyterLab's
collaborator palette by the user name (the same colour everywhere, every login)::

    # jupyterhub_config.py
    from supernode.hub_identity import presence_identity
    c.Authenticator.post_auth_hook = presence_identity

This module imports nothing from jupyterhub or jupyter_server.
"""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["PALETTE", "color_for", "presence_identity"]

# JupyterLab's collaborator colours (what its frontend picks from when the server gives none).
PALETTE = tuple(f"var(--jp-collaborator-color{i})" for i in range(1, 8))


def color_for(username: str) -> str:
    """The palette colour of ``username``: stable across logins, processes and machines."""
    digest = hashlib.sha256(username.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def presence_identity(authenticator: Any, handler: Any, authentication: dict[str, Any]) -> dict[str, Any]:
    """``Authenticator.post_auth_hook``: ``authentication["user_info"]`` gains ``display_name`` (the user
    name) and ``color`` unless the authenticator set them; returns ``authentication``. The hub stores
    ``user_info`` with the user at each login."""
    name = authentication["name"]
    info = dict(authentication.get("user_info") or {})
    info.setdefault("display_name", name)
    info.setdefault("color", color_for(name))
    authentication["user_info"] = info
    return authentication
