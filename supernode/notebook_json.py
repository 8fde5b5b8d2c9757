"""A notebook's file text: exactly what nbformat writes for it, in a fraction of its time.

:func:`notebook_json` gives the text nbformat's JSON writer gives for a notebook (nbformat 4): multi-line
strings split into lines (sources, stream texts, the text values of mime bundles and attachments), the
transient fields dropped (``orig_nbformat``, ``orig_nbformat_minor``, ``signature``, each cell's ``trusted``),
then ``json.dumps`` with ``indent=1``, sorted keys and ``ensure_ascii=False``. The result is the same
string, character for character (property-tested against nbformat); what makes it faster:

- nothing is copied deeply (nbformat copies the whole notebook first, to leave the caller's alone): the
  cells are read as they are, and only the few containers that change shape are new;
- the text is built from lists of strings joined once, with the C string encoder of :mod:`json`, where the
  indented ``json.dumps`` walks every value through Python generators (a list of 10,000 output lines is
  one ``join``); a long plain text (an output of a megabyte) is cut into its lines as UTF-8 bytes, once
  (:func:`notebook_pieces` gives such pieces as bytes: the writer writes them as they are).

Anything this module does not expect (an nbformat other than 4, a key that is no string, a value that
is no JSON type, a cell without ``metadata``) raises :class:`Unexpected`: the caller then writes the
notebook with nbformat itself. The notebook given is never changed.
"""

from __future__ import annotations

from json.encoder import INFINITY, encode_basestring
from typing import Any

__all__ = [
    "CELLS_CLOSE",
    "ENCODED_FROM",
    "Piece",
    "CELLS_OPEN",
    "CELL_SEPARATOR",
    "Unexpected",
    "cell_pieces",
    "notebook_frame",
    "notebook_json",
    "notebook_pieces",
]

# A piece of the text: characters, or (a long plain text's lines) their UTF-8 bytes.
Piece = str | bytes | memoryview
ENCODED_FROM = 1 << 16  # bytes from which a plain text's lines are a piece of UTF-8

_TRANSIENT = ("orig_nbformat", "orig_nbformat_minor", "signature")
_RICH = ("execute_result", "display_data")
_SPLIT_MIMES = frozenset(("application/javascript", "image/svg+xml"))
# The UTF-8 bytes of a plain line list: those JSON leaves as they are (all but the control characters, '"' and
# '\\'), and '\n'.
_PLAIN = bytes(b for b in range(256) if (b >= 0x20 or b == 0x0A) and b not in (0x22, 0x5C))
_OTHER_BREAKS = ("\x85", "\u2028", "\u2029")  # line breaks of str.splitlines beyond the control characters


class Unexpected(Exception):
    """The notebook has something only nbformat's own writer knows how to write."""


def notebook_json(content: dict[str, Any]) -> str:
    """The text nbformat writes for ``content`` (a notebook as plain JSON data, nbformat 4), without the
    trailing newline ``nbformat.write`` adds. Raises :class:`Unexpected` (see the module docstring)."""
    return "".join(piece if type(piece) is str else bytes(piece).decode("utf-8") for piece in notebook_pieces(content))


def notebook_pieces(content: dict[str, Any]) -> list[Piece]:
    """:func:`notebook_json`'s text in pieces, in order (a large output's text is one piece: it is encoded
    on its own, never joined into one string with the rest first)."""
    head, cells, tail = notebook_frame(content)
    out = list(head)
    for index, cell in enumerate(cells):
        out.append(CELL_SEPARATOR if index else CELLS_OPEN)
        out += cell_pieces(cell)
    out.append(CELLS_CLOSE if cells else "[]")
    out += tail
    return out


# The list of cells, in the text: ``CELLS_OPEN``, each cell's text with ``CELL_SEPARATOR`` between, ``CELLS_CLOSE``
# (``[]`` when there is none).
_CELL_INDENT = "\n  "  # a cell's line break and indent: an item of the top level's "cells"
CELLS_OPEN = "[" + _CELL_INDENT
CELL_SEPARATOR = "," + _CELL_INDENT
CELLS_CLOSE = "\n ]"


def notebook_frame(content: dict[str, Any]) -> tuple[list[Piece], list[dict[str, Any]], list[Piece]]:
    """The notebook's text around its list of cells: the pieces before it, the cells (each written as
    :func:`cell_pieces`; see ``CELLS_OPEN``), the pieces after it. Raises :class:`Unexpected`."""
    if not isinstance(content, dict) or content.get("nbformat") != 4:
        raise Unexpected("not an nbformat 4 notebook")
    cells = content.get("cells")
    metadata = content.get("metadata")
    if not isinstance(cells, list) or not isinstance(metadata, dict):
        raise Unexpected("a notebook without a list of cells or a metadata object")
    top = dict(content)
    top["metadata"] = {key: value for key, value in metadata.items() if key not in _TRANSIENT}
    top["cells"] = _CELLS
    out: list[Piece] = []
    _write(top, out, "\n")
    at = next(index for index, piece in enumerate(out) if piece is _CELLS)
    return out[:at], cells, out[at + 1 :]


def cell_pieces(cell: Any) -> list[Piece]:
    """A cell's text as an item of the notebook's list of cells, in pieces. Raises :class:`Unexpected`."""
    out: list[Piece] = []
    _write(_cell(cell), out, _CELL_INDENT)
    return out


def _cell(cell: Any) -> dict[str, Any]:
    """The cell as nbformat writes it (a new dict where it differs; the values themselves are shared)."""
    if not isinstance(cell, dict) or "cell_type" not in cell or not isinstance(cell.get("metadata"), dict):
        raise Unexpected("a cell that is no object with a type and metadata")
    view = dict(cell)
    if "trusted" in cell["metadata"]:
        view["metadata"] = {key: value for key, value in cell["metadata"].items() if key != "trusted"}
    source = cell.get("source")
    if isinstance(source, str):
        view["source"] = _Lines(source)
    attachments = cell.get("attachments")
    if attachments:
        if not isinstance(attachments, dict) or not all(isinstance(a, dict) for a in attachments.values()):
            raise Unexpected("attachments that are no mime bundles")
        view["attachments"] = {name: _bundle(bundle) for name, bundle in attachments.items()}
    if cell.get("cell_type") == "code":
        outputs = cell.get("outputs")
        if not isinstance(outputs, list):
            raise Unexpected("a code cell without a list of outputs")
        view["outputs"] = [_output(output) for output in outputs]
    return view


def _output(output: Any) -> Any:
    if not isinstance(output, dict) or "output_type" not in output:
        raise Unexpected("an output that is no object with a type")
    kind = output["output_type"]
    if kind in _RICH and "data" in output:
        if not isinstance(output["data"], dict):
            raise Unexpected("an output whose data is no mime bundle")
        return {**output, "data": _bundle(output["data"])}
    if kind == "stream" and "text" not in output:
        raise Unexpected("a stream output without text")
    if kind == "stream" and isinstance(output["text"], str):
        return {**output, "text": _Lines(output["text"])}
    return output


def _bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """A mime bundle with its text values split into lines (``text/*``, JavaScript and SVG, as nbformat
    splits them; base64 images and JSON are left whole)."""
    return {
        mime: _Lines(value) if isinstance(value, str) and _split_mime(mime) else value for mime, value in bundle.items()
    }


def _split_mime(mime: str) -> bool:
    return mime.startswith("text/") or mime in _SPLIT_MIMES


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == INFINITY:
        return "Infinity"
    if value == -INFINITY:
        return "-Infinity"
    return float.__repr__(value)


class _CellsMark(str):
    """Where the list of cells goes, in :func:`notebook_frame`'s text (found by identity)."""


_CELLS = _CellsMark("cells")


class _Lines:
    """A string nbformat writes as the list of its lines (``str.splitlines(keepends=True)``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _plain(text: str) -> bytes | None:
    """``text`` in UTF-8 if its only line break is ``\\n`` and JSON escapes nothing else in it; else None."""
    if not text.isascii() and any(brk in text for brk in _OTHER_BREAKS):
        return None
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: json's own path decides
        return None
    return None if encoded.translate(None, _PLAIN) else encoded


def _write_lines(text: str, out: list[Piece], newline: str) -> None:
    """Append the JSON list of ``text``'s lines: from the whole string at once when it is plain (each
    ``\\n`` becomes the end of one list item and the start of the next), else line by line. A long plain
    text is written as UTF-8 (its bytes made once: the writer writes them as they are)."""
    if not text:
        out.append("[]")
        return
    inner = newline + " "
    encoded = _plain(text)
    if encoded is None:
        out.append("[" + inner + ("," + inner).join(map(encode_basestring, text.splitlines(True))) + newline + "]")
        return
    between = '\\n",' + inner + '"'
    out.append("[" + inner + '"')
    ends = text.endswith("\n")  # the last line break ends the last item: none follows it
    if len(encoded) >= ENCODED_FROM:
        joints = between.encode()
        body = encoded.replace(b"\n", joints)
        out.append(memoryview(body)[: len(body) - len(joints)] if ends else body)
    else:
        out.append((text[:-1] if ends else text).replace("\n", between))
    out.append(('\\n"' if ends else '"') + newline + "]")


def _write(value: Any, out: list[Piece], newline: str) -> None:
    """Append ``value``'s JSON to ``out``; ``newline`` is a line break and the indent of ``value``'s line."""
    kind = type(value)
    if kind is _Lines:
        _write_lines(value.text, out, newline)
    elif value is _CELLS:
        out.append(_CELLS)  # where notebook_frame cuts the text
    elif kind is str:
        out.append(encode_basestring(value))
    elif kind is dict:
        if not value:
            out.append("{}")
            return
        if not all(type(key) is str for key in value):
            raise Unexpected("an object key that is no string")
        inner = newline + " "
        separator = "{" + inner
        for key in sorted(value):
            out.append(separator + encode_basestring(key) + ": ")
            _write(value[key], out, inner)
            separator = "," + inner
        out.append(newline + "}")
    elif kind is list:
        if not value:
            out.append("[]")
            return
        inner = newline + " "
        if all(type(item) is str for item in value):  # lines of text: the bulk of a notebook
            out.append("[" + inner + ("," + inner).join(map(encode_basestring, value)) + newline + "]")
            return
        separator = "[" + inner
        for item in value:
            out.append(separator)
            _write(item, out, inner)
            separator = "," + inner
        out.append(newline + "]")
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        out.append(_float(value))
    else:
        raise Unexpected(f"a value of type {kind.__name__}")
