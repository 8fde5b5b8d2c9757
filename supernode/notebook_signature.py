"""A notebook's signature, as nbformat's notary computes it, at a fraction of the cost.

The notary signs a notebook with an HMAC of every key and value of it in order (nbformat's
``yield_everything``: keys sorted, strings as UTF-8, other scalars as ``str()``), without the notebook's
own ``signature``; it feeds the HMAC once per value from nested generators, which costs more than the rest
of a save of a notebook of many small cells. :func:`signature` feeds the same bytes in few calls (small
values joined, large ones alone): the same digest (property-tested against ``NotebookNotary.compute_signature``). Loading
checks the signature with it, saving stores it; the notary's store is used as it is.
"""

from __future__ import annotations

import hmac
from typing import Any

__all__ = ["signature"]


def signature(notary: Any, nb: dict[str, Any]) -> str:
    """``notary.compute_signature(nb)``: the same HMAC of the same bytes (nbformat's ``yield_everything``
    of the notebook without its ``signature``), fed in few calls instead of one per value."""
    mac = hmac.new(notary.secret, digestmod=notary.digestmod)
    feed = _Feed(mac)
    _everything({**nb, "metadata": {k: v for k, v in nb["metadata"].items() if k != "signature"}}, feed)
    feed.flush()
    return mac.hexdigest()


class _Feed:
    """Collects small values and feeds them to the HMAC joined; a large one is fed on its own (no copy
    of a notebook's large outputs into one buffer)."""

    def __init__(self, mac: Any) -> None:
        self.mac = mac
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> None:
        if len(data) >= _LARGE:
            self.flush()
            self.mac.update(data)
            return
        self.parts.append(data)
        self.size += len(data)
        if self.size >= _LARGE:
            self.flush()

    def flush(self) -> None:
        if self.parts:
            self.mac.update(b"".join(self.parts))
            self.parts, self.size = [], 0


_LARGE = 1 << 16  # bytes from which a value is fed alone, and small ones are fed joined


def _everything(value: Any, feed: _Feed) -> None:
    if isinstance(value, dict):
        for key in sorted(value):
            feed.add(key.encode())
            _everything(value[key], feed)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _everything(item, feed)
    elif isinstance(value, str):
        feed.add(value.encode("utf8"))
    else:
        feed.add(str(value).encode("utf8"))
