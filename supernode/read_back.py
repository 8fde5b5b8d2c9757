"""What a save left on disk, read back off the event loop.

After each save a :class:`~supernode.document.LiveDocument` reads its file back twice: its hash
(``state.hash``, which the stock frontend compares with the file's before it saves) and, for a
notebook, its cells' ids and sources (a program that wrote the file in the instant between the
contents manager's write and its stat would leave us its stamp as if it were ours; its edit is
found by comparing the sources with what we wrote). Both cost O(the file), and a cell printing for
hours grows the file without bound: jupyter_server's contents managers hash the file, and parse,
validate and check the signature of a notebook, on the event loop, where that would slow every room
down in proportion to the output.

For jupyter_server's own file-backed managers (``FileContentsManager``, ``AsyncFileContentsManager``
and subclasses that keep their ``get``), the file is read, hashed and parsed on a worker thread
(:func:`asyncio.to_thread`): reading and hashing release the GIL; the parse is plain JSON (only the
cells' ids and sources are needed: no validation, no signature). The hash is the manager's own
(``_get_hash``, its ``hash_algorithm``), of the same bytes its ``get`` would read. Any other contents
manager (one that maps files to notebooks its own way) is asked through its ``get``, as before.

Errors: what the manager's ``get`` raises, or ``OSError`` / ``ValueError`` from reading or parsing
the file; the caller logs them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager

from .file_sync import file_stamp

__all__ = ["cell_sources", "file_hash", "holds_written", "notebook_sources"]

_FILE_GETS = (FileContentsManager.get, AsyncFileContentsManager.get)


def _os_path(cm: Any, path: str) -> str | None:
    """The file behind ``path`` if ``cm`` reads files as jupyter_server's managers do, else None."""
    if getattr(type(cm), "get", None) not in _FILE_GETS:
        return None
    return cm._get_os_path(path)


async def file_hash(cm: Any, path: str) -> str | None:
    """The contents manager's hash of the file ``path`` (what its ``get(require_hash=True)`` gives)."""
    os_path = _os_path(cm, path)
    if os_path is None:
        model = await ensure_async(cm.get(path, content=False, require_hash=True))
        return model.get("hash")
    return await asyncio.to_thread(_hash_file, cm, os_path)


def _hash_file(cm: Any, os_path: str) -> str:
    with open(os_path, "rb") as f:
        return cm._get_hash(f.read())["hash"]


async def holds_written(cm: Any, path: str, digest: str) -> tuple[Any, bool]:
    """``(stamp, same)``: the :func:`file_stamp` of the file ``path`` as it is now, and whether its bytes have
    the manager's hash ``digest`` (those of a save: the file is then what was written, byte for byte). Read
    and hashed on a worker thread, which holds the GIL for neither (a parse would, for the whole file). A
    file that changed while it was read, or a manager that reads files its own way, gives ``((None, None),
    False)``: the caller compares the cells (:func:`cell_sources`)."""
    os_path = _os_path(cm, path)
    if os_path is None:
        return (None, None), False
    before = file_stamp(await ensure_async(cm.get(path, content=False)))
    same = await asyncio.to_thread(_hash_file, cm, os_path) == digest
    after = file_stamp(await ensure_async(cm.get(path, content=False)))
    return (after, same) if after == before else ((None, None), False)


def notebook_sources(notebook: Any) -> list[tuple[Any, Any]] | None:
    """(id, source) of every cell of a notebook (a dict or nbformat node; a source as a string, or
    as the list of lines a file holds), or None if it is not one."""
    try:
        return [(cell.get("id"), _joined(cell.get("source"))) for cell in notebook["cells"]]
    except (KeyError, TypeError, AttributeError):
        return None


def _joined(source: Any) -> Any:
    return "".join(source) if isinstance(source, list) else source


async def cell_sources(cm: Any, path: str, type_: str, format_: str | None) -> tuple[Any, Any]:
    """``(stamp, sources)`` of the notebook file ``path`` as it is now: its :func:`file_stamp` and
    :func:`notebook_sources`. A file that changed while it was read gives the stamp of its new
    version (which then differs from ours: the caller leaves it to the file watcher)."""
    os_path = _os_path(cm, path)
    if os_path is None:
        model = await ensure_async(cm.get(path, content=True, type=type_, format=format_))
        return file_stamp(model), notebook_sources(model.get("content"))
    before = file_stamp(await ensure_async(cm.get(path, content=False)))
    sources = await asyncio.to_thread(_read_sources, os_path)
    after = file_stamp(await ensure_async(cm.get(path, content=False)))
    return (after, sources) if after == before else ((None, None), None)


def _read_sources(os_path: str) -> list[tuple[Any, Any]] | None:
    with open(os_path, "rb") as f:
        return notebook_sources(json.loads(f.read()))
