"""Which browser a request comes from, as far as Jupyter's own cookies tell.

A page of JupyterLab sends the same cookies with its REST requests and its websockets: jupyter_server's
``_xsrf`` cookie (random, set once per browser) and its login cookie (``username-HOST-PORT``).
:func:`browser_key` turns them into one opaque key, so that the relay's websocket of a page and a REST
request of the same page can be matched. A request with neither (a script with a token header) has no
key: it matches nothing.
"""

from __future__ import annotations

import hashlib
from http.cookies import CookieError, SimpleCookie

__all__ = ["browser_key"]


def browser_key(cookie_header: str | None) -> str | None:
    """An opaque key of the browser that sent ``cookie_header`` (None: no Jupyter cookie in it)."""
    if not cookie_header:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:
        return None
    kept = sorted(
        f"{name}={morsel.value}" for name, morsel in jar.items() if name == "_xsrf" or name.startswith("username-")
    )
    if not kept:
        return None
    return hashlib.sha256("\n".join(kept).encode()).hexdigest()
