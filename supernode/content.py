"""Between file contents (as the contents manager gives and takes them) and shared documents.

Loading is deterministic: the content is built in a document with the fixed client
id 0, so the same file always yields the same Yjs items, and a client holding
history of an earlier load merges without duplicating anything. A notebook loaded
in stages (:func:`build_in_stages`) is as deterministic for the same file and
threshold: its later stages are built in that same document.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from typing import Any

from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Doc

from .cell_match import derived_id
from .doctypes import document_class
from .keys import DocumentKey
from .notebook_builder import build_notebook, building, builds_notebook
from .stages import Stages

__all__ = [
    "Stages",
    "build_document",
    "abuild_in_stages",
    "build_in_stages",
    "contents_type",
    "load_update",
    "model_for_save",
    "normalize_notebook",
    "replace_content",
]

# The content types jupyter_server's contents managers save; any other type is saved as a file.
_SAVED_TYPES = ("notebook", "file", "directory")

_EMPTY_CELL = {
    "id": "initial-cell",
    "cell_type": "code",
    "execution_count": None,
    "metadata": {},
    "outputs": [],
    "source": "",
}


def normalize_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """A plain-dict notebook in nbformat 4.5: every cell has an id, derived from its type and
    source when the file has none (:func:`~supernode.cell_match.derived_id`: a reload finds the
    same ids, and a cell inserted above another does not change the other's), and there is at
    least one cell."""
    nb = {key: value for key, value in nb.items()}
    cells = []
    seen: set[str] = set()
    occurrences: Counter[tuple[Any, str]] = Counter()
    for cell in nb.get("cells") or []:
        cell = dict(cell)
        cid = cell.get("id")
        if not cid or cid in seen:
            source = cell.get("source", "")
            key = (cell.get("cell_type"), "".join(source) if isinstance(source, list) else source)
            cid = derived_id(cell, occurrences[key])
            while cid in seen:  # an explicit id equal to a derived one
                occurrences[key] += 1
                cid = derived_id(cell, occurrences[key])
            occurrences[key] += 1
        seen.add(cid)
        cell["id"] = cid
        cells.append(cell)
    if not cells:
        cells = [dict(_EMPTY_CELL)]
    nb["cells"] = cells
    if nb.get("nbformat", 4) == 4 and nb.get("nbformat_minor", 0) < 5:
        nb["nbformat_minor"] = 5
    return nb


def _decode(key: DocumentKey, content: Any) -> Any:
    """What the document type's ``set`` takes: a notebook dict, bytes for a blob, else the text (or,
    in base64 format, the base64 text) as the contents manager gave it, line endings made ``\n``."""
    if key.kind == "notebook":
        return normalize_notebook(content)
    if key.kind == "blob":
        return base64.b64decode(content or b"")
    if key.format == "text":
        return (content or "").replace("\r\n", "\n")
    return content


def build_document(key: DocumentKey, content: Any) -> YBaseDoc:
    """A shared document holding ``content`` (as the contents manager returned it), built deterministically.

    Raises :class:`~supernode.doctypes.UnknownDocumentType` for a type nobody registered; whatever
    the type's ``set`` raises for content it does not take.
    """
    cls = document_class(key)
    seed = Doc(client_id=0)
    _set(cls(seed), _decode(key, content))
    doc = Doc()
    doc.apply_update(seed.get_update())
    return cls(doc)


def _larger_than(outputs: list[Any], limit: int) -> bool:
    """Whether ``outputs`` take more than ``limit`` bytes as JSON (stops counting past it).

    Bounds first (:func:`_json_bounds`): more characters in their strings than ``limit`` answers yes,
    and a JSON that cannot reach ``limit`` bytes even with every character escaped answers no, without
    encoding anything (encoding a cell's outputs costs more than the rest of its build); only outputs
    between the two are encoded and counted."""
    at_least, at_most = _json_bounds(outputs, limit)
    if at_least > limit:
        return True
    if at_most <= limit:
        return False
    size = 0
    for chunk in json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).iterencode(outputs):
        size += len(chunk.encode("utf-8"))
        if size > limit:
            return True
    return False


_ESCAPED = 6  # bytes of JSON a character takes at most (``\uXXXX``; a UTF-8 character takes at most 4)


def _json_bounds(value: Any, limit: int) -> tuple[int, int]:
    """Bounds of the size in bytes of ``value`` as JSON: its strings' characters (keys and values; each
    is at least one byte), and what the JSON takes at most (every character escaped, every string
    quoted, a separator per item). Counting stops once the first passes ``limit``."""
    pending = [value]
    chars = most = 0
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            chars += len(item)
            most += 2 + _ESCAPED * len(item)
        elif isinstance(item, dict):
            most += 2
            for name, inner in item.items():
                if isinstance(name, str):
                    chars += len(name)
                    most += 4 + _ESCAPED * len(name)  # quoted, a colon and a comma
                else:
                    most += 4 + len(str(name))
                pending.append(inner)
        elif isinstance(item, (list, tuple)):
            most += 2 + len(item)
            pending.extend(item)
        else:
            most += len(repr(item)) + 8  # a number, a boolean or null (``repr`` is at least as long)
        if chars > limit:
            break
    return chars, most


def _staged(
    key: DocumentKey, content: Any, delay_outputs_above: int | None
) -> tuple[Any, dict[int, list[dict[str, Any]]]]:
    """What the first stage of a load sets (the decoded content without the delayed outputs), and
    the delayed outputs by cell index."""
    value = _decode(key, content)
    delayed: dict[int, list[dict[str, Any]]] = {}
    if key.kind != "notebook" or delay_outputs_above is None:
        return value, delayed
    cells = []
    for index, cell in enumerate(value["cells"]):
        outputs = cell.get("outputs")
        if outputs and _larger_than(outputs, delay_outputs_above):
            delayed[index] = outputs
            cell = {**cell, "outputs": []}
        cells.append(cell)
    return ({**value, "cells": cells} if delayed else value), delayed


def _from_seed(
    cls: type[YBaseDoc], seed: Doc, delayed: dict[int, list[dict[str, Any]]]
) -> tuple[YBaseDoc, Stages | None, bytes]:
    update = seed.get_update()
    doc = Doc()
    doc.apply_update(update)
    return cls(doc), (Stages(cls, seed, delayed, update) if delayed else None), update


def build_in_stages(
    key: DocumentKey, content: Any, delay_outputs_above: int | None
) -> tuple[YBaseDoc, Stages | None, bytes]:
    """Like :func:`build_document`, but a notebook's cells whose outputs exceed ``delay_outputs_above``
    bytes come without them: they are built next, by the returned :class:`Stages` (None when
    nothing was left out: the document is then exactly :func:`build_document`'s). Also returns the
    build as an update (the first stage's: what the document holds)."""
    cls = document_class(key)
    value, delayed = _staged(key, content, delay_outputs_above)
    seed = Doc(client_id=0)
    _set(cls(seed), value)
    return _from_seed(cls, seed, delayed)


async def abuild_in_stages(
    key: DocumentKey, content: Any, delay_outputs_above: int | None
) -> tuple[YBaseDoc, Stages | None, bytes]:
    """:func:`build_in_stages`, giving the event loop a turn between cells (the type's ``aset``): the
    same document, for builds nobody waits for."""
    cls = document_class(key)
    value, delayed = _staged(key, content, delay_outputs_above)
    seed = Doc(client_id=0)
    document = cls(seed)
    if builds_notebook(document):
        with seed.transaction():
            for _ in building(document, value):
                await asyncio.sleep(0)
    else:
        await document.aset(value)
    return _from_seed(cls, seed, delayed)


def _set(document: YBaseDoc, value: Any) -> None:
    """The type's ``set`` on an empty document (a notebook's in linear time: see
    :mod:`supernode.notebook_builder`)."""
    if builds_notebook(document):
        with document.ydoc.transaction():
            build_notebook(document, value)
    else:
        document.set(value)


def load_update(key: DocumentKey, update: bytes, *more: bytes) -> YBaseDoc:
    """A detached document of ``key``'s kind holding ``update`` (and the updates ``more``, applied in order)."""
    document = document_class(key)(Doc())
    document.ydoc.apply_update(update)
    for later in more:
        document.ydoc.apply_update(later)
    return document


def contents_type(key: DocumentKey) -> str:
    """The contents-manager type to read and write the file of a room like ``key`` as."""
    return key.type if key.type in _SAVED_TYPES else "file"


def replace_content(document: YBaseDoc, data: Any) -> None:
    """Set the document's content to ``data`` (what its ``get`` returns), in one transaction.

    The ``state`` map is the server's and the clients' (``dirty``, ``path``, ``hash``,
    ``document_id``): a type whose ``set`` clears it (jupyterlab-chat's does) gets back what it held.
    """
    state = document.ystate
    kept = dict(state.items())
    with document.ydoc.transaction():
        document.set(data)
        for name, value in kept.items():
            if state.get(name) != value:
                state[name] = value


def model_for_save(key: DocumentKey, data: Any) -> dict[str, Any]:
    """A contents-manager model for ``save()``: a type the contents manager does not know (``chat``,
    ...) is saved as a file in the room's format, like jupyter-collaboration does."""
    if key.kind == "blob":
        return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    return {"type": contents_type(key), "format": key.format, "content": data}
