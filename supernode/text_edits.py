"""Text changes as programs want them: edits in Unicode code points, from pycrdt's deltas in UTF-8 bytes.

A pycrdt ``TextEvent.delta`` is a list of ``{"retain": n}``, ``{"delete": n}``, ``{"insert": str}``
over the text as it was, with ``n`` counted in UTF-8 bytes (Yrs' unit). Programs (the change feed's
clients) count in code points, as Python ``str`` and the REST API do. An edit is
``{"start", "end", "text"}``: replace the code points ``start:end`` with ``text``. The edits of one
change apply in order, each to the text the previous one left (:func:`apply_edits`).

:class:`TextMirror` keeps what converting needs: the text of a cell's source (small), or only the
last line of a stream output (an output of megabytes is never copied: the writer only ever
appends and rewrites the line being printed, see :mod:`supernode.output_writer`).

Error handling: a delta that does not fit the text held (a bug, or a change before the part held)
gives None; the caller then reads the whole text again and reports it as replaced.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TextMirror", "apply_edits", "edits_from_delta"]


def apply_edits(text: str, edits: list[dict[str, Any]]) -> str:
    """``text`` with ``edits`` applied in order."""
    for edit in edits:
        text = text[: edit["start"]] + edit["text"] + text[edit["end"] :]
    return text


def edits_from_delta(region: str, delta: list[dict[str, Any]], skip: int = 0, base: int = 0):
    """Apply ``delta`` to ``region``, the part of a text after its first ``skip`` bytes (``base`` code
    points), which the delta must leave alone. Returns ``(new region, edits)`` with the edits'
    positions in code points of the whole text, or None if the delta does not fit."""
    old = region.encode("utf-8")
    pieces: list[bytes] = []
    edits: list[dict[str, Any]] = []
    at = -skip  # byte position in ``old``; negative while the delta retains the part before the region
    written = 0  # code points of the new region so far
    for op in delta:
        if "retain" in op:
            n = int(op["retain"])
            if at < 0:
                take = min(n, -at)
                at += take
                n -= take
            if n:
                if at + n > len(old):
                    return None
                pieces.append(old[at : at + n])
                written += _length(old[at : at + n])
                at += n
            continue
        if at < 0:
            return None  # a change before the region: not ours to convert
        if "delete" in op:
            n = int(op["delete"])
            if at + n > len(old):
                return None
            removed = _length(old[at : at + n])
            if removed is None:
                return None
            start = base + written
            _add(edits, start, start + removed, "")
            at += n
        elif "insert" in op:
            text = op["insert"]
            if not isinstance(text, str):
                return None  # an embed: no notebook text holds one
            start = base + written
            _add(edits, start, start, text)
            pieces.append(text.encode("utf-8"))
            written += len(text)
        else:
            return None
    if at < 0:
        return None
    pieces.append(old[at:])
    try:
        return b"".join(pieces).decode("utf-8"), edits
    except UnicodeDecodeError:
        return None


def _length(data: bytes) -> int | None:
    try:
        return len(data.decode("utf-8"))
    except UnicodeDecodeError:
        return None


def _add(edits: list[dict[str, Any]], start: int, end: int, text: str) -> None:
    """Append an edit; an insertion right where a deletion was is one replacement."""
    if edits and text and start == end:
        last = edits[-1]
        if last["start"] == start and last["end"] > start and not last["text"]:
            last["text"] = text
            return
    edits.append({"start": start, "end": end, "text": text})


class TextMirror:
    """What the feed holds of one shared text: all of it (``whole``), or its last line only.

    ``length`` and ``size``: the whole text's length in code points and in UTF-8 bytes.
    """

    __slots__ = ("length", "size", "region", "whole")

    def __init__(self, text: str, *, whole: bool) -> None:
        self.whole = whole
        self.length = len(text)
        self.size = len(text.encode("utf-8"))
        self.region = text if whole else text[text.rfind("\n") + 1 :]

    @property
    def text(self) -> str:
        """The whole text (a mirror made with ``whole=True``)."""
        assert self.whole
        return self.region

    def apply(self, delta: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """Apply one change (a pycrdt delta); its edits in code points, or None if it does not fit."""
        region_size = len(self.region.encode("utf-8"))
        skip, base = self.size - region_size, self.length - len(self.region)
        result = edits_from_delta(self.region, delta, skip, base)
        if result is None:
            return None
        region, edits = result
        self.size = skip + len(region.encode("utf-8"))
        self.length = base + len(region)
        self.region = region if self.whole else region[region.rfind("\n") + 1 :]
        return edits
