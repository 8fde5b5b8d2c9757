"""The key under which the load cache (:mod:`supernode.load_cache`) keeps a build: everything the build
depends on, so that a build is only ever found for what it was built from (:func:`cache_key`)."""

from __future__ import annotations

import hashlib
from importlib.metadata import PackageNotFoundError, version

__all__ = ["cache_key"]

_BUILDERS = ("jupyter-rtc", "pycrdt", "jupyter_ydoc", "nbformat")


def _versions() -> str:
    found = []
    for name in _BUILDERS:
        try:
            found.append(f"{name}={version(name)}")
        except PackageNotFoundError:
            found.append(f"{name}=?")
    return ",".join(found)


_VERSIONS = _versions()
# What an entry's ``rest`` holds: the updates of a staged load's later stages, one per cell and one more per
# megabyte of a long stream (see pack_parts). Part of the key: an entry of another layout is never read as
# this one.
_LAYOUT = "rest=parts/4"  # 3: a long stream's pieces are blocks of their own


def cache_key(
    *,
    size: int,
    digest: str,
    algorithm: str,
    room_type: str,
    room_format: str,
    threshold: int | None,
    notary: str,
) -> str:
    """The key of a build: what it was built from (a file of ``size`` bytes whose ``digest`` by
    ``algorithm`` it is), as what (``room_format``:``room_type``, staged above ``threshold`` bytes of
    outputs), whose trust marks ``notary`` names (a fingerprint of the notary's secret and algorithm),
    by which libraries. It starts with the file's size (see :meth:`LoadCache.may_hold`)."""
    parts = (algorithm, digest, room_format, room_type, str(threshold), notary, _VERSIONS, _LAYOUT)
    return f"{size}:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()
