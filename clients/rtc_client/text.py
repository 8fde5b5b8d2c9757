"""Positions in shared text: code points (this library's unit), UTF-8 bytes (pycrdt) and UTF-16 units (Yjs).

The functions live in :mod:`rtc_common.text`, shared with the server, which takes positions from REST
clients in code points; this module is where clients import them from.
"""

from rtc_common.text import index_to_utf8, index_to_utf16, minimal_edit, utf16_length, utf16_to_index

__all__ = ["apply_edits", "index_to_utf16", "index_to_utf8", "minimal_edit", "utf16_to_index", "utf16_length"]


def apply_edits(text: str, edits: list[dict]) -> str:
    """``text`` with ``edits`` (``{"start", "end", "text"}`` in code points, as the change feed sends them)
    applied in order, each to the text the previous one left."""
    for edit in edits:
        start, end = edit["start"], edit["end"]
        if not 0 <= start <= end <= len(text):
            raise IndexError(f"edit {start}:{end} is outside the text (length {len(text)})")
        text = text[:start] + edit["text"] + text[end:]
    return text
