"""Positions in shared text, in the three units that meet there (for the server and the clients).

- Python ``str`` indices count code points: the unit of this library's API.
- pycrdt (Yrs) counts UTF-8 bytes: ``Text.insert``/``del`` take byte offsets.
- Yjs in a browser counts UTF-16 code units (an emoji outside the BMP is 2 units, 4 bytes, 1 code point).

An index that does not fall on a character boundary (inside a surrogate pair) is refused with
``ValueError`` rather than rounded, because rounding silently moves an edit.
"""

from __future__ import annotations

__all__ = ["index_to_utf16", "index_to_utf8", "minimal_edit", "utf16_to_index", "utf16_length"]


def index_to_utf8(text: str, index: int) -> int:
    """The UTF-8 byte offset of code point ``index`` in ``text`` (0 ≤ index ≤ len(text))."""
    _check(text, index)
    return len(text[:index].encode("utf-8", "surrogatepass"))


def index_to_utf16(text: str, index: int) -> int:
    """The UTF-16 offset (what Yjs counts) of code point ``index`` in ``text``."""
    _check(text, index)
    return utf16_length(text[:index])


def utf16_length(text: str) -> int:
    """Length of ``text`` in UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def utf16_to_index(text: str, units: int) -> int:
    """The code point index at UTF-16 offset ``units`` of ``text``; ``ValueError`` inside a pair."""
    if units < 0:
        raise ValueError(f"negative offset {units}")
    count = 0
    for i, ch in enumerate(text):
        if count == units:
            return i
        count += 2 if ord(ch) > 0xFFFF else 1
        if count > units:
            raise ValueError(f"UTF-16 offset {units} falls inside the character at index {i} ({ch!r})")
    if count == units:
        return len(text)
    raise ValueError(f"UTF-16 offset {units} is past the end of the text ({count} units)")


def minimal_edit(old: str, new: str) -> tuple[int, int, str]:
    """``(start, end, inserted)`` in code points such that ``old[:start] + inserted + old[end:] == new``,
    with the longest common prefix and suffix kept (so concurrent edits elsewhere survive)."""
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    tail = 0
    while tail < limit - start and old[len(old) - 1 - tail] == new[len(new) - 1 - tail]:
        tail += 1
    return start, len(old) - tail, new[start : len(new) - tail]


def _check(text: str, index: int) -> None:
    if not 0 <= index <= len(text):
        raise IndexError(f"index {index} is outside the text (length {len(text)})")
