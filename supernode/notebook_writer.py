"""Saving a notebook through jupyter_server's own file manager: what its ``save`` does, in a fraction of the time.

:func:`save_notebook` takes the steps of ``FileContentsManager.save`` for a notebook, in its order and
with the manager's own pieces: the pre-save hooks; the hidden-file check; the trust check and the
signature (as the manager's ``check_and_sign``, on a shallow copy: it drops the ``trusted`` marks it reads);
the file's text; the manager's ``atomic_writing`` (``use_atomic_writing`` honoured), on a worker thread;
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
from collections.abc import Callable
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager
from jupyter_server.services.contents.filemanager import is_hidden
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager, LargeFileManager
from nbformat import NotebookNode
from tornado.web import HTTPError

from .notebook_json import Unexpected, notebook_pieces
from .notebook_signature import signature

__all__ = ["has_pre_save_hooks", "save_notebook", "validate_saved", "writes_plain_files"]

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


def _check_and_sign(cm: Any, nb: NotebookNode, path: str, *, retrying: bool = False) -> None:
    """The manager's ``check_and_sign`` (the same checks, store and recovery) with :func:`signature`."""
    notary = cm.notary
    try:
        if notary.check_cells(nb):
            if nb.nbformat >= 3:
                notary.store.store_signature(signature(notary, nb), notary.algorithm)
        else:
            cm.log.warning("Notebook %s is not trusted", path)
    except Exception:
        if retrying:
            raise
        cm.log.warning(
            "Signature store for notebook %s is corrupted or unavailable; recreating the store.", path, exc_info=True
        )
        notary.store = notary.store_factory()
        _check_and_sign(cm, nb, path, retrying=True)


def _signing_copy(content: dict[str, Any]) -> NotebookNode:
    """What ``check_and_sign`` may change (the top level, and each cell with its metadata), copied."""
    cells = [NotebookNode({**cell, "metadata": dict(cell.get("metadata") or {})}) for cell in content["cells"]]
    return NotebookNode({**content, "metadata": dict(content.get("metadata") or {}), "cells": cells})


_CHUNK = 1 << 20  # small pieces of the text are encoded this many characters at a time


def _pieces(content: dict[str, Any]) -> list[str]:
    """The file's text in pieces, the final newline included."""
    try:
        pieces = notebook_pieces(content)
    except Unexpected as exc:
        log.debug("writing the notebook with nbformat: %s", exc)
        pieces = [nbformat.writes(nbformat.from_dict(content), version=nbformat.NO_CONVERT)]
    if not pieces[-1].endswith("\n"):
        pieces.append("\n")
    return pieces


def _chunks(pieces: list[str]):
    """``pieces`` as UTF-8, small ones joined: each large piece is encoded once, never joined to the rest."""
    held: list[str] = []
    size = 0
    for piece in pieces:
        if len(piece) >= _CHUNK:
            if held:
                yield "".join(held).encode("utf-8")
                held, size = [], 0
            yield piece.encode("utf-8")
            continue
        held.append(piece)
        size += len(piece)
        if size >= _CHUNK:
            yield "".join(held).encode("utf-8")
            held, size = [], 0
    if held:
        yield "".join(held).encode("utf-8")


def _write(cm: Any, os_path: str, content: dict[str, Any], notify: Callable[[str], None] | None = None) -> str:
    """Write the notebook's file (on a worker thread); its hash, by the manager's algorithm.

    The manager's ``atomic_writing`` writes the file in place (after a backup copy), so whoever reads it
    meanwhile (a frontend hashing it before it saves) sees it truncated or half written: the whole text is
    encoded before the file is opened, and written in one call. ``notify(hash)`` is called (from this
    thread) once the bytes are in the file, before the manager's ``fsync``."""
    text = bytearray()
    for chunk in _chunks(_pieces(content)):
        text += chunk
    digest = hashlib.new(cm.hash_algorithm, text).hexdigest()
    with cm.atomic_writing(os_path, text=False) as f:
        f.write(text)
        f.flush()
        if notify is not None:
            notify(digest)
    return digest


async def save_notebook(
    cm: Any, model: dict[str, Any], path: str, *, written: Callable[[str], None] | None = None
) -> tuple[dict[str, Any], str]:
    """Save notebook ``model`` (``{"type": "notebook", "content": ...}``) at ``path`` through ``cm`` (for
    which :func:`writes_plain_files` holds); answer the manager's stat model and the file's hash.

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
        _check_and_sign(cm, _signing_copy(content), path)
        loop = asyncio.get_running_loop()
        notify = None if written is None else (lambda digest: loop.call_soon_threadsafe(written, digest))
        digest = await asyncio.to_thread(_write, cm, os_path, content, notify)
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
