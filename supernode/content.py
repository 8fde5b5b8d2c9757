"""Between file contents (as the contents manager gives and takes them) and shared documents.

Loading is deterministic: the content is built in a document with the fixed client
id 0, so the same file always yields the same Yjs items, and a client holding
history of an earlier load merges without duplicating anything. A notebook loaded
in stages (:func:`build_in_stages`) is as deterministic for the same file and
threshold: its later stages are built in that same document.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from jupyter_ydoc import YBlob, YFile, YNotebook
from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Doc

from .cell_outputs import to_ymap
from .keys import DocumentKey

__all__ = [
    "Stages",
    "build_document",
    "build_in_stages",
    "load_update",
    "model_for_save",
    "normalize_notebook",
    "snapshot",
]

_EMPTY_CELL = {
    "id": "initial-cell",
    "cell_type": "code",
    "execution_count": None,
    "metadata": {},
    "outputs": [],
    "source": "",
}


class _NoUndo:
    """Stands in for a document's undo manager: the server never undoes, and a real undo manager keeps
    every item ever deleted (cleared outputs, replaced displays) alive for as long as the document."""

    def expand_scope(self, scope: object) -> None:
        return None


def _without_undo(cls: type[YBaseDoc]) -> type[YBaseDoc]:
    return type(cls.__name__, (cls,), {"undo_manager": property(lambda self: _NO_UNDO), "__module__": __name__})


_NO_UNDO = _NoUndo()
_CLASSES: dict[str, type[YBaseDoc]] = {
    "notebook": _without_undo(YNotebook),
    "blob": _without_undo(YBlob),
    "file": _without_undo(YFile),
}


def normalize_notebook(nb: dict[str, Any]) -> dict[str, Any]:
    """A plain-dict notebook in nbformat 4.5: every cell has an id, derived from its position
    and source when the file has none (so a reload finds the same ids), and there is at
    least one cell."""
    nb = {key: value for key, value in nb.items()}
    cells = []
    seen: set[str] = set()
    for index, cell in enumerate(nb.get("cells") or []):
        cell = dict(cell)
        cid = cell.get("id")
        if not cid or cid in seen:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            cid = hashlib.sha1(f"{index}\0{source}".encode()).hexdigest()[:12]
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
    if key.kind == "notebook":
        return normalize_notebook(content)
    if key.kind == "blob":
        return base64.b64decode(content or b"")
    return (content or "").replace("\r\n", "\n")


def build_document(key: DocumentKey, content: Any) -> YBaseDoc:
    """A shared document holding ``content`` (as the contents manager returned it), built deterministically."""
    cls = _CLASSES[key.kind]
    seed = Doc(client_id=0)
    cls(seed).set(_decode(key, content))
    doc = Doc()
    doc.apply_update(seed.get_update())
    return cls(doc)


class Stages:
    """The outputs a notebook's first stage left out (see :func:`build_in_stages`), to be built next.

    :meth:`updates` builds them in the load's own document (client id 0), one cell at a time,
    and yields each as an update for the live document; :attr:`complete` is then the whole
    file's update (what the load would have built in one piece, as the base of later merges).
    """

    def __init__(self, seed: Doc, delayed: dict[int, list[dict[str, Any]]]) -> None:
        self._seed = seed
        self._delayed = delayed
        self.cells = len(delayed)
        self.complete: bytes | None = None

    def updates(self) -> Iterator[bytes]:
        notebook = _CLASSES["notebook"](self._seed)
        for index, outputs in self._delayed.items():
            before = self._seed.get_state()
            with self._seed.transaction():
                notebook.ycells[index]["outputs"].extend([to_ymap(output) for output in outputs])
            yield self._seed.get_update(before)
        self.complete = self._seed.get_update()
        self._delayed.clear()


def _larger_than(outputs: list[Any], limit: int) -> bool:
    """Whether ``outputs`` take more than ``limit`` bytes as JSON (stops counting past it)."""
    size = 0
    for chunk in json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).iterencode(outputs):
        size += len(chunk.encode("utf-8"))
        if size > limit:
            return True
    return False


def build_in_stages(key: DocumentKey, content: Any, delay_outputs_above: int | None) -> tuple[YBaseDoc, Stages | None]:
    """Like :func:`build_document`, but a notebook's cells whose outputs exceed ``delay_outputs_above``
    bytes come without them: they are built next, by the returned :class:`Stages` (None when
    nothing was left out: the document is then exactly :func:`build_document`'s)."""
    if key.kind != "notebook" or delay_outputs_above is None:
        return build_document(key, content), None
    notebook = _decode(key, content)
    delayed: dict[int, list[dict[str, Any]]] = {}
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        outputs = cell.get("outputs")
        if outputs and _larger_than(outputs, delay_outputs_above):
            delayed[index] = outputs
            cell = {**cell, "outputs": []}
        cells.append(cell)
    if not delayed:
        return build_document(key, content), None
    seed = Doc(client_id=0)
    cls = _CLASSES[key.kind]
    cls(seed).set({**notebook, "cells": cells})
    doc = Doc()
    doc.apply_update(seed.get_update())
    return cls(doc), Stages(seed, delayed)


def load_update(key: DocumentKey, update: bytes) -> YBaseDoc:
    """A detached document of ``key``'s kind holding ``update``."""
    document = _CLASSES[key.kind](Doc())
    document.ydoc.apply_update(update)
    return document


def snapshot(key: DocumentKey, document: YBaseDoc) -> Any:
    """The document's content as plain data (notebook dict, text, or bytes)."""
    return document.get()


def model_for_save(key: DocumentKey, data: Any) -> dict[str, Any]:
    """A contents-manager model for ``save()``."""
    if key.kind == "blob":
        return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}
    return {"type": key.type, "format": key.format, "content": data}
