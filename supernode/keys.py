"""Document room names: ``{format}:{type}:{fileId}``, as the stock JupyterLab frontend builds them."""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["DocumentKey"]

_ROOM = re.compile(r"^(json|text|base64):([A-Za-z0-9_-]+):([A-Za-z0-9-]+)$")


class DocumentKey(NamedTuple):
    """Which file a room holds, and in which contents format and type."""

    format: str
    type: str
    file_id: str

    @classmethod
    def parse(cls, room: str) -> DocumentKey | None:
        match = _ROOM.match(room)
        return cls(*match.groups()) if match else None

    @property
    def room(self) -> str:
        return f"{self.format}:{self.type}:{self.file_id}"

    @property
    def kind(self) -> str:
        """The jupyter_ydoc document type the room holds: ``blob`` for a file (or blob) in base64,
        else its type (``notebook``, ``file``, or a type another package registered, see
        :mod:`supernode.doctypes`)."""
        if self.format == "base64" and self.type in ("file", "blob"):
            return "blob"
        return self.type
