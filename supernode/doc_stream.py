"""The trailing stream output of a cell in the document, and how a writer brings it up to date.

An :class:`~supernode.output_writer.OutputWriter` keeps a model of the cell's outputs; the last
of them, when it is a stream, is also in the document as a ``Text`` that the writer appends to.
:class:`DocStream` remembers what that ``Text`` holds of the model's stream (its complete lines up
to a point, then the current line) and :meth:`DocStream.sync` writes the difference: "delete a
suffix, insert at the end", the only Text edits the JupyterLab 4 frontend applies to its view.

Cost: O(new text + length of the current line) per sync, whatever the stream's length. Items of a
Text inserted one after another by one client are merged into one when the transaction commits,
and pycrdt (yrs) pays for a merge in proportion to the merged item's length: appending a line to a
stream of n bytes would cost O(n), so a cell printing for hours would slow down every room. An
append is therefore cut from the item before it once that item holds ``RUN_BYTES``: the text goes
in behind a one-character placeholder deleted in the same transaction (a deleted item never merges
with a live one). Clients see only the appended text: an item added and deleted in one
transaction is in no delta (Yjs and yrs alike). The price is one tombstone per ``RUN_BYTES``.

pycrdt ``Text`` offsets are UTF-8 bytes; all offsets here are byte offsets. Called inside the
writer's transaction, from normal code, never inside a pycrdt observer callback.
"""

from __future__ import annotations

from pycrdt import Array, Map, Text

from .cell_outputs import to_ymap
from .stream_text import StreamText

__all__ = ["RUN_BYTES", "DocStream", "insert_block"]

#: the most bytes our appends let pycrdt merge into one item of a stream's Text.
RUN_BYTES = 16 * 1024
_CUT = "\x00"  # the placeholder: one byte, so its byte offset is its character offset


def insert_block(ytext: Text, at: int, text: str) -> None:
    """Insert ``text`` at byte offset ``at`` of ``ytext`` as an item of its own, never merged into the
    item before it: behind the one-character placeholder, deleted in the same transaction."""
    ytext.insert(at, _CUT + text)
    del ytext[at : at + len(_CUT)]


class DocStream:
    """What the document's trailing stream Text holds of the model stream ``stream``.

    ``nbytes``: the Text's length in bytes when this was taken (-1: unknown; :meth:`sync` then
    starts a new output rather than edit a Text it cannot vouch for).
    """

    __slots__ = ("stream", "head_upto", "line", "nbytes", "run")

    def __init__(self, stream: StreamText, nbytes: int) -> None:
        self.stream = stream
        self.head_upto = len(stream.head)  # stream.head[:head_upto] is in the document
        self.line = stream.line  # the document's text after that head
        self.nbytes = nbytes
        # Bytes our appends may have merged into the Text's last item since it was cut.
        self.run = nbytes if nbytes >= 0 else RUN_BYTES

    def sync(self, youtputs: Array) -> None:
        """Bring the cell's trailing stream Text (the last of ``youtputs``) up to the model stream.

        If that output is not the Text this was taken of (someone else cleared or changed the
        outputs), the stream goes on in a new output, from the current line.
        """
        stream = self.stream
        new_head = "".join(stream.head[self.head_upto :]) if self.head_upto < len(stream.head) else ""
        target = new_head + stream.line
        if target == self.line:
            return
        ytext = None
        if len(youtputs):
            last = youtputs[-1]
            if isinstance(last, Map) and last.get("output_type") == "stream" and last.get("name") == stream.name:
                text = last.get("text")
                if isinstance(text, Text) and len(text) == self.nbytes:
                    ytext = text
        if ytext is None:
            youtputs.append(to_ymap({"output_type": "stream", "name": stream.name, "text": target}))
            self.run = len(target.encode())
            return
        old = self.line
        same = _common_prefix_len(old, target)
        start = self.nbytes - len(old[same:].encode())
        if start < self.nbytes:
            del ytext[start : self.nbytes]
        if same < len(target):
            piece = target[same:]
            if self.run >= RUN_BYTES:
                insert_block(ytext, start, piece)
                self.run = 0
            else:
                ytext.insert(start, piece)
            self.run += len(piece) if piece.isascii() else len(piece.encode())

    @staticmethod
    def trailing_nbytes(youtputs: Array, stream: StreamText) -> int:
        """The byte length of the last output's Text if it is a stream named as ``stream``, else -1."""
        if len(youtputs):
            last = youtputs[-1]
            if isinstance(last, Map) and last.get("output_type") == "stream" and last.get("name") == stream.name:
                text = last.get("text")
                if isinstance(text, Text):
                    return len(text)
        return -1


def _common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid
    return lo
