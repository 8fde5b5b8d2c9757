"""Between file contents (as the contents manager gives and takes them) and shared documents.

Loading is deterministic: the content is built in a document with the fixed client
id 0, so the same file always yields the same Yjs items, and a client holding
history of an earlier load merges without duplicating anything.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Doc

from .doctypes import document_class
from .keys import DocumentKey

__all__ = [
    "build_document",
    "contents_type",
    "load_update",
    "model_for_save",
    "normalize_notebook",
    "replace_content",
    "snapshot",
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
    cls(seed).set(_decode(key, content))
    doc = Doc()
    doc.apply_update(seed.get_update())
    return cls(doc)


def load_update(key: DocumentKey, update: bytes) -> YBaseDoc:
    """A detached document of ``key``'s kind holding ``update``."""
    document = document_class(key)(Doc())
    document.ydoc.apply_update(update)
    return document


def snapshot(key: DocumentKey, document: YBaseDoc) -> Any:
    """The document's content as plain data (notebook dict, text, or bytes)."""
    return document.get()


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
