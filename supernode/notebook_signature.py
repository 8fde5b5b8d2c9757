"""A notebook's signature, as nbformat's notary computes it, at a fraction of the cost.

The notary signs a notebook with an HMAC of every key and value of it in order (nbformat's
``yield_everything``: keys sorted, strings as UTF-8, other scalars as ``str()``), without the notebook's
own ``signature``; it feeds the HMAC once per value from nested generators, which costs more than the rest
of a save of a notebook of many small cells. :func:`signature` collects the same bytes in one list and
feeds them once: the same digest (property-tested against ``NotebookNotary.compute_signature``). Loading
checks the signature with it, saving stores it; the notary's store is used as it is.
"""

from __future__ import annotations

import hmac
from typing import Any

__all__ = ["signature"]


def signature(notary: Any, nb: dict[str, Any]) -> str:
    """``notary.compute_signature(nb)``: the same HMAC of the same bytes (nbformat's ``yield_everything``
    of the notebook without its ``signature``), fed once instead of one call per value."""
    parts: list[bytes] = []
    _everything({**nb, "metadata": {k: v for k, v in nb["metadata"].items() if k != "signature"}}, parts)
    return hmac.new(notary.secret, b"".join(parts), notary.digestmod).hexdigest()


def _everything(value: Any, parts: list[bytes]) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            parts.append(key.encode())
            _everything(value[key], parts)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _everything(item, parts)
    elif isinstance(value, str):
        parts.append(value.encode("utf8"))
    else:
        parts.append(str(value).encode("utf8"))
