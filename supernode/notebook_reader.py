"""A notebook file's content: what nbformat's reader gives for it, as plain data, in a fraction of its time.

:func:`read_notebook` parses a notebook file's text as jupyter_server's file manager does before it
validates it (``nbformat.reader.reads``, then ``nbformat.convert`` to version 4): the JSON (by
msgspec's decoder, see ``_DECODER``), its split
lines joined again (sources, stream texts, the non-JSON values of mime bundles and attachments), the
transient fields dropped (``orig_nbformat``, ``orig_nbformat_minor``, ``signature``, each cell's
``trusted``). The result equals nbformat's (property-tested); what makes it faster is that it stays plain
``dict`` and ``list``: nbformat turns every object of the notebook into a ``NotebookNode`` first, which
for a notebook of thousands of cells costs several times the JSON parse.

A file of another nbformat, or with something this module does not expect (a cell that is no object,
a cell without ``metadata``), is read by nbformat itself, which then raises what it raises. Like
nbformat's reader, it does not validate.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import nbformat

__all__ = ["read_notebook"]

# msgspec's JSON decoder gives what json.loads gives (the same values, the same key order, integers of
# any size) or refuses the text: NaN and Infinity, numbers beyond a float's range, escaped lone
# surrogates, and malformed JSON, which json then reads (or refuses) as before. It parses a notebook of
# large outputs in half json's time, from the file's bytes (they need not be decoded first).
_DECODER = msgspec.json.Decoder()
_TRANSIENT = ("orig_nbformat", "orig_nbformat_minor", "signature")
_RICH = frozenset(("execute_result", "display_data"))


def read_notebook(text: str | bytes) -> dict[str, Any]:
    """The notebook in ``text`` as nbformat's reader gives it, converted to nbformat 4, as plain data.
    Raises what nbformat's reader raises for text that is no notebook (JSON errors included), and
    ``UnicodeDecodeError`` for bytes that are not UTF-8."""
    try:
        content = _DECODER.decode(text)
    except msgspec.DecodeError:  # what json takes and msgspec does not (NaN, lone surrogates), or no JSON
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        try:
            content = json.loads(text)
        except ValueError:
            return _nbformat(text)
    # (split lines that are not all strings: nbformat's reader says what it says of them)
    if not _expected(content) or not _join_lines(content["cells"]):
        return _nbformat(text.decode("utf-8") if isinstance(text, bytes) else text)
    metadata = content["metadata"]
    for key in _TRANSIENT:
        metadata.pop(key, None)
    return content


def _join_lines(cells: list[dict[str, Any]]) -> bool:
    """Join the cells' split lines in place, as nbformat's reader does; False (left part way) for a source
    or stream text whose lines are not all strings: ``str.join`` checks every line in C (a generator of
    ``isinstance`` calls took a third of the read of a notebook of large outputs)."""
    try:
        _join_cells(cells)
    except TypeError:
        return False
    return True


def _join_cells(cells: list[dict[str, Any]]) -> None:
    for cell in cells:
        source = cell.get("source")
        if isinstance(source, list):
            cell["source"] = "".join(source)
        attachments = cell.get("attachments")
        if attachments:
            for bundle in attachments.values():
                _rejoin(bundle)
        if cell.get("cell_type") == "code":
            for output in cell.get("outputs") or ():
                kind = output.get("output_type", "")
                if kind in _RICH:
                    _rejoin(output.get("data") or {})
                elif kind and isinstance(output.get("text"), list):
                    output["text"] = "".join(output["text"])
        cell["metadata"].pop("trusted", None)


def _expected(content: Any) -> bool:
    """Whether ``content`` is shaped as this module reads it: an nbformat 4 notebook whose cells,
    outputs, attachments and bundles are objects (anything else: nbformat's reader decides). Split lines
    are checked as they are joined (:func:`_join_lines`)."""
    if not isinstance(content, dict) or type(content.get("nbformat")) is not int or content["nbformat"] != 4:
        return False
    cells = content.get("cells")
    if not isinstance(cells, list) or not isinstance(content.get("metadata"), dict):
        return False
    for cell in cells:
        if not isinstance(cell, dict) or not isinstance(cell.get("metadata"), dict):
            return False
        attachments = cell.get("attachments", {})
        if not isinstance(attachments, dict) or not all(isinstance(b, dict) for b in attachments.values()):
            return False
        if cell.get("cell_type") == "code":
            outputs = cell.get("outputs", [])
            if not isinstance(outputs, list):
                return False
            for output in outputs:
                if not isinstance(output, dict):
                    return False
                if output.get("output_type", "") in _RICH and not isinstance(output.get("data", {}), dict):
                    return False
    return True


def _rejoin(bundle: dict[str, Any]) -> None:
    """Join a mime bundle's split values in place, as nbformat's ``_rejoin_mimebundle`` does (a list that
    is not all strings is left as it is)."""
    for mime, value in bundle.items():
        if isinstance(value, list) and not _json_mime(mime):
            try:
                bundle[mime] = "".join(value)
            except TypeError:
                pass


def _json_mime(mime: str) -> bool:
    return mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))


def _nbformat(text: str) -> dict[str, Any]:
    notebook = nbformat.reader.reads(text)
    return nbformat.convert(notebook, 4)
