"""Between file contents (as the contents manager gives and takes them) and shared documents.

Loading is deterministic: the content is built in a document with the fixed client
id 0, so the same file always yields the same Yjs items, and a client holding
history of an earlier load merges without duplicating anything.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

from jupyter_ydoc import YBlob, YFile, YNotebook
from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Doc

from .cell_match import derived_id
from .keys import DocumentKey

__all__ = ["build_document", "load_update", "model_for_save", "normalize_notebook", "snapshot"]

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
