"""A stream output's text as JupyterLab 4 shows it: terminal processing, applied incrementally.

Terminal processing is JupyterLab 4's (``@jupyterlab/outputarea`` ``processText``): ``\\r`` moves
the cursor to the start of the line and later text overwrites from there ("50%\\r100%\\n" ->
"100%\\n", "abc\\rX\\n" -> "Xbc\\n"); ``\\b`` deletes the character before the cursor (and, as in
JupyterLab, the one under it: "abc\\b\\bX" -> "aX"); ``\\n`` ends the line. The cursor carries over
from one message to the next of the same stream. Unlike JupyterLab this works on code points (JS
works on UTF-16 units and can split a surrogate pair).

API::

    stream = StreamText("stdout")
    stream.write(chunk)                 # per message, in order: O(len(chunk) + len(current line))
    stream.text()                       # everything so far, processed
    stream.head, stream.line            # complete lines (pieces ending with "\\n"), the current line
    collapse_stream_text(text_or_chunks)  # the same in one call
    StreamText.restore(stream.state())  # a copy that goes on exactly as the original would
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

__all__ = ["StreamText", "collapse_stream_text"]

_CONTROL = re.compile(r"[\r\b\n]")


class StreamText:
    """The processed text of one stream output: complete lines, then the current line and cursor.

    ``\\r`` and ``\\b`` only ever change the current (last) line, so appending a message costs
    O(len(message)) plus O(len(current line)) when it contains control characters.
    """

    __slots__ = ("name", "head", "parts", "line_len", "cursor", "_joined", "_joined_upto")

    def __init__(self, name: str) -> None:
        self.name = name
        self.head: list[str] = []  # complete lines, in pieces that each end with "\n"
        self.parts: list[str] = []  # the current line, in pieces
        self.line_len = 0
        self.cursor = 0  # in the current line
        self._joined = ""  # "".join(self.head[:self._joined_upto])
        self._joined_upto = 0

    @property
    def line(self) -> str:
        if len(self.parts) > 1:
            self.parts = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""

    def joined(self) -> tuple[str, int]:
        """``("".join(head[:n]), n)`` for the complete lines joined so far (cached, never joined again)."""
        return self._joined, self._joined_upto

    def text(self) -> str:
        if self._joined_upto < len(self.head):
            self._joined += "".join(self.head[self._joined_upto :])
            self._joined_upto = len(self.head)
        return self._joined + self.line

    def state(self) -> dict[str, Any]:
        """What :meth:`restore` needs to go on exactly from here (JSON values)."""
        line, text = self.line, self.text()
        return {"name": self.name, "head": text[: len(text) - len(line)], "line": line, "cursor": self.cursor}

    @classmethod
    def restore(cls, state: dict[str, Any]) -> StreamText:
        """The stream whose :meth:`state` was ``state``."""
        stream = cls(state["name"])
        if state["head"]:
            stream.head = [state["head"]]
        line = state["line"]
        stream.parts = [line] if line else []
        stream.line_len = len(line)
        stream.cursor = state["cursor"]
        return stream

    def write(self, text: str) -> None:
        if not text:
            return
        if self.cursor == self.line_len and "\r" not in text and "\b" not in text:
            # Fast path: plain text at the end of the line.
            nl = text.rfind("\n")
            if nl < 0:
                self.parts.append(text)
                self.line_len += len(text)
            else:
                self.parts.append(text[: nl + 1])
                self.head.append("".join(self.parts))
                rest = text[nl + 1 :]
                self.parts = [rest] if rest else []
                self.line_len = len(rest)
            self.cursor = self.line_len
            return
        line, cur, pos = self.line, self.cursor, 0
        for match in _CONTROL.finditer(text):
            chunk = text[pos : match.start()]
            if chunk:  # overwrite from the cursor
                line = line[:cur] + chunk + line[cur + len(chunk) :]
                cur += len(chunk)
            char = match.group()
            if char == "\n":  # JupyterLab appends the newline at the end of the line
                self.head.append(line + "\n")
                line, cur = "", 0
            elif char == "\r":
                cur = 0
            elif cur > 0:  # "\b": as JupyterLab, drops the character before the cursor and the one under it
                line = line[: cur - 1] + line[cur + 1 :]
                cur -= 1
            pos = match.end()
        chunk = text[pos:]
        if chunk:
            line = line[:cur] + chunk + line[cur + len(chunk) :]
            cur += len(chunk)
        self.parts = [line] if line else []
        self.line_len = len(line)
        self.cursor = cur


def collapse_stream_text(text: str | Iterable[str]) -> str:
    """``text`` (or its chunks, in order) as JupyterLab 4 shows it: ``\\r`` and ``\\b`` applied."""
    stream = StreamText("")
    for chunk in [text] if isinstance(text, str) else text:
        stream.write(chunk)
    return stream.text()
