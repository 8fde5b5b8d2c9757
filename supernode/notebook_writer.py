"""Saving a notebook through jupyter_server's own file manager: what its ``save`` does, in a fraction of the time.

:func:`save_notebook` takes the steps of ``FileContentsManager.save`` for a notebook, in its order and
with the manager's own pieces: the pre-save hooks; the hidden-file check; the trust check and the
signature (as the manager's ``check_and_sign``, on a shallow copy: it drops the ``trusted`` marks it reads);
the file's text; the manager's ``atomic_writing`` (``use_atomic_writing`` honoured), on a worker thread
(:func:`~supernode.file_overwrite.write_file`);
the checkpoint that always exists; the stat model (``get(content=False)``); the post-save hooks; the
``save`` event. What differs, and why it is faster (the bench in ``bench/notebooks.py``):

- The signature is the notary's HMAC of the same bytes, fed to it at once (:func:`~supernode.notebook_signature.signature`); the
  notary's checks and store are its own.
- The text comes from :func:`supernode.notebook_json.notebook_json`: the same characters as nbformat's
  writer, without its deep copy of the notebook and its generator-driven ``json.dumps`` (nbformat's own
  writer is used for what that module does not expect).
- Validation: nbformat validates before it writes, logs what is invalid and writes anyway; here the
  caller runs :func:`validate_saved` after the save has been answered, off the event loop, which logs the
  same (once for a cell left unchanged since the previous save's validation).
- The file's hash (what the frontend compares before saving) is that of the bytes written, not of the
  file read back; the caller's read-back check of what was written is unchanged.
- The file is written over, not truncated first (:mod:`supernode.file_overwrite`: the same backup, the
  same ``fsync``, the same recovery).

Only for jupyter_server's own managers whose saving methods are their own (:func:`writes_plain_files`;
the large-file managers, jupyter_server's default, included); any other manager's ``save`` is called as
it is.

Errors: ``tornado.web.HTTPError`` as the manager raises them (400 hidden file, 403 permission, 500 for
anything else, with the manager's message), after the manager's own log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import nbformat
from jupyter_core.utils import ensure_async
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager
from jupyter_server.services.contents.filemanager import is_hidden
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager, LargeFileManager
from nbformat import NotebookNode
from tornado.web import HTTPError

from .file_overwrite import Buffer, write_file
from .notebook_json import CELL_SEPARATOR, CELLS_CLOSE, CELLS_OPEN, Piece, Unexpected, cell_pieces, notebook_frame
from .notebook_signature import signature

__all__ = ["CellText", "CellTexts", "has_pre_save_hooks", "save_notebook", "validate_saved", "writes_plain_files"]

log = logging.getLogger("supernode.notebook_writer")

# What a file manager must not override for a save to be the one described above.
_SAVE_METHODS = (
    "save",
    "_save_notebook",
    "check_and_sign",
    "atomic_writing",
    "_get_os_path",
    "get",
    "_get_hash",
    "run_pre_save_hooks",
    "run_post_save_hooks",
)
# What :func:`save_notebook` does not call (it calls the others through the manager): a wrapper of one of these
# on the instance (an extension wrapping ``contents_manager.save``) expects to be called, and is.
_BYPASSED = ("save", "_save_notebook", "check_and_sign", "_get_hash")


# Most derived first. The large-file managers (jupyter_server's default) save a model without a
# ``chunk`` with their base class's ``save``: a notebook model never has one.
_BASES = (AsyncLargeFileManager, LargeFileManager, AsyncFileContentsManager, FileContentsManager)


def writes_plain_files(cm: Any) -> bool:
    """Whether ``cm`` is jupyter_server's own file manager (the large-file ones, its default, included),
    unchanged where it saves a notebook (in its class; on the instance, where it is not called: ``save``...)."""
    for base in _BASES:
        if isinstance(cm, base):
            return all(getattr(type(cm), name, None) is getattr(base, name) for name in _SAVE_METHODS) and all(
                getattr(getattr(cm, name, None), "__func__", None) is getattr(base, name) for name in _BYPASSED
            )
    return False


def has_pre_save_hooks(cm: Any) -> bool:
    """Whether ``cm`` runs a pre-save hook (which may change the notebook it is given before it is written)."""
    return getattr(cm, "pre_save_hook", None) is not None or bool(getattr(cm, "_pre_save_hooks", None))


async def _check_and_sign(cm: Any, nb: NotebookNode, path: str, text: Awaitable[Any]) -> Any:
    """The manager's ``check_and_sign`` (the same checks, store and recovery) with :func:`signature`, its
    HMAC on a worker thread while ``text`` (the file's text, made on another) is awaited; what ``text``
    gives. The signature is stored before the file is written, as the manager does."""
    notary = cm.notary
    digest = None
    try:
        if notary.check_cells(nb) and nb.nbformat >= 3:
            notary.secret  # noqa: B018  # read on the event loop: a first read may create its file
            digest, made = await asyncio.gather(asyncio.to_thread(signature, notary, nb), text)
    except Exception:
        pass  # the manager's recovery, below
    if digest is None:
        made = await text
    for retrying in (False, True):
        try:
            if notary.check_cells(nb):
                if nb.nbformat >= 3:
                    notary.store.store_signature(digest or signature(notary, nb), notary.algorithm)
            else:
                cm.log.warning("Notebook %s is not trusted", path)
            return made
        except Exception:
            if retrying:
                raise
            cm.log.warning(
                "Signature store for notebook %s is corrupted or unavailable; recreating the store.",
                path,
                exc_info=True,
            )
            notary.store = notary.store_factory()
    raise AssertionError("unreachable")


def _signing_copy(content: dict[str, Any]) -> NotebookNode:
    """What ``check_and_sign`` may change (the top level, and each cell with its metadata), copied."""
    cells = [NotebookNode({**cell, "metadata": dict(cell.get("metadata") or {})}) for cell in content["cells"]]
    return NotebookNode({**content, "metadata": dict(content.get("metadata") or {}), "cells": cells})


_CHUNK = 1 << 20  # small pieces of the text are encoded this many characters at a time

# A cell's file text, in UTF-8 pieces (a large output's text is a piece of its own: never copied into a join).
CellText = tuple[Buffer, ...]


class CellTexts(Protocol):
    """The file texts of cells written before, by the very cell dict written (a cell dict is never changed)."""

    def text_of(self, cell: dict[str, Any]) -> CellText | None:
        """The text written for ``cell``, if it is a cell written before (called from a worker thread)."""

    def wrote(self, texts: list[tuple[dict[str, Any], CellText]]) -> None:
        """A save wrote each of these cells as this text (called on the event loop)."""


def _digest(parts: list[Buffer], algorithm: str) -> str:
    """The hash of the text ``parts`` make, by ``algorithm`` (on a worker thread)."""
    digest = hashlib.new(algorithm)
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


def _text(
    content: dict[str, Any], texts: CellTexts | None
) -> tuple[list[Buffer], list[tuple[dict[str, Any], CellText]]]:
    """The file's UTF-8 text in pieces, the final newline included; and each cell's text (none if the
    notebook is written by nbformat). A cell ``texts`` knows is not encoded again. On a worker thread."""
    try:
        head, cells, tail = notebook_frame(content)
        parts = list(_encoded(head))
        written = []
        for index, cell in enumerate(cells):
            known = texts.text_of(cell) if texts is not None else None
            text = known if known is not None else _encoded(cell_pieces(cell))
            written.append((cell, text))
            parts.append(_SEPARATOR if index else _OPEN)
            parts += text
        parts.append(_CLOSE if cells else b"[]")
        parts += _encoded(tail)
        parts.append(b"\n")
    except Unexpected as exc:
        log.debug("writing the notebook with nbformat: %s", exc)
        text = nbformat.writes(nbformat.from_dict(content), version=nbformat.NO_CONVERT)
        return [(text if text.endswith("\n") else text + "\n").encode("utf-8")], []
    return parts, written


_OPEN, _SEPARATOR, _CLOSE = (mark.encode() for mark in (CELLS_OPEN, CELL_SEPARATOR, CELLS_CLOSE))


def _encoded(pieces: list[Piece]) -> CellText:
    """``pieces`` as UTF-8, small ones joined (at most ``_CHUNK`` characters): a large piece is encoded on
    its own (a piece that is UTF-8 already is taken as it is), never joined to the rest."""
    out: list[Buffer] = []
    held: list[str] = []
    size = 0
    for piece in pieces:
        if type(piece) is not str or len(piece) >= _CHUNK:
            if held:
                out.append("".join(held).encode("utf-8"))
                held, size = [], 0
            out.append(piece.encode("utf-8") if type(piece) is str else piece)
            continue
        held.append(piece)
        size += len(piece)
        if size >= _CHUNK:
            out.append("".join(held).encode("utf-8"))
            held, size = [], 0
    if held:
        out.append("".join(held).encode("utf-8"))
    return tuple(out)


async def save_notebook(
    cm: Any,
    model: dict[str, Any],
    path: str,
    *,
    written: Callable[[str], None] | None = None,
    texts: CellTexts | None = None,
) -> tuple[dict[str, Any], str]:
    """Save notebook ``model`` (``{"type": "notebook", "content": ...}``) at ``path`` through ``cm`` (for
    which :func:`writes_plain_files` holds); answer the manager's stat model and the file's hash.

    ``texts``: the file texts of cells written before, reused for the same cell dicts, and told the texts
    of this save's cells once the file holds them (only without pre-save hooks: a hook may change cells).

    ``written(hash)`` is called (on the event loop) as soon as the file holds the new bytes, before the
    manager's ``fsync``, the checkpoint and the stat: a frontend compares the file's hash with the one it
    was told before it saves, so the new hash must reach it as soon as the file is there."""
    path = path.strip("/")
    cm.run_pre_save_hooks(model=model, path=path)
    if "content" not in model:
        raise HTTPError(400, "No file content provided")
    os_path = cm._get_os_path(path)
    if not cm.allow_hidden and is_hidden(os_path, cm.root_dir):
        raise HTTPError(400, f"Cannot create file or directory {os_path!r}")
    try:
        content = model["content"]
        if has_pre_save_hooks(cm):
            texts = None
        made = asyncio.ensure_future(asyncio.to_thread(_text, content, texts))
        try:
            parts, cell_texts = await _check_and_sign(cm, _signing_copy(content), path, made)
        finally:
            made.cancel()  # (not signed: the text is not written)
        # The hash is made on a thread of its own while the file is written (the manager's backup copy first).
        hashing = asyncio.ensure_future(asyncio.to_thread(_digest, parts, cm.hash_algorithm))
        notify = None
        if written is not None:
            loop = asyncio.get_running_loop()

            def tell(done: asyncio.Future[str]) -> None:
                if not done.cancelled() and done.exception() is None:
                    written(done.result())

            notify = lambda: loop.call_soon_threadsafe(hashing.add_done_callback, tell)  # noqa: E731
        try:
            await asyncio.to_thread(write_file, cm, os_path, parts, notify)
        except BaseException:
            hashing.cancel()
            raise
        digest = await hashing
        if texts is not None:
            texts.wrote(cell_texts)
        if not await ensure_async(cm.checkpoints.list_checkpoints(path)):
            await ensure_async(cm.create_checkpoint(path))
    except HTTPError:
        raise
    except Exception as exc:
        cm.log.error("Error while saving file: %s %s", path, exc, exc_info=True)
        raise HTTPError(500, f"Unexpected error while saving file: {path} {exc}") from exc
    saved = await ensure_async(cm.get(path, content=False))
    cm.run_post_save_hooks(model=saved, os_path=os_path)
    cm.emit(data={"action": "save", "path": path})
    return saved, digest


async def validate_saved(content: dict[str, Any], path: str, previous: dict[str, Any] | None = None) -> None:
    """Validate a saved notebook's ``content`` off the event loop: one log line if it is invalid (nbformat's
    writer logs the same and writes it anyway). Never raises.

    ``previous``: the content of an earlier save validated already (or None): its cells found unchanged
    in ``content`` (the same id, the same value) are not validated again. What a cell's validity depends
    on is its own value (and the notebook's ``nbformat_minor``, the same with the top level, which is
    validated every time); an invalid cell left unchanged was logged by that earlier validation."""

    def check() -> None:
        nbformat.validate(nbformat.from_dict(_changed_since(content, previous)))

    try:
        await asyncio.to_thread(check)
    except nbformat.ValidationError as exc:
        log.error("%s: the saved notebook's JSON is invalid: %s", path, str(exc).splitlines()[0])
    except Exception as exc:
        log.warning("%s: the saved notebook could not be validated: %r", path, exc)


def _changed_since(content: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """``content`` without the cells ``previous`` holds as they are (all of it when the top levels differ)."""
    if not isinstance(previous, dict) or any(
        previous.get(key) != content.get(key) for key in ("nbformat", "nbformat_minor")
    ):
        return content
    before = {cell.get("id"): cell for cell in previous.get("cells") or [] if isinstance(cell, dict)}
    cells = [
        cell
        for cell in content["cells"]
        if not (isinstance(cell, dict) and cell.get("id") and before.get(cell["id"]) == cell)
    ]
    return {**content, "cells": cells}
