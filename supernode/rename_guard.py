"""Renames through Jupyter wait for the saves of the documents they move.

A save in flight has chosen its path; a rename made meanwhile (the file browser's, ``PATCH
/api/contents``, the REST notebook API's) would let it write the old path again, bringing back the
file just renamed away. :func:`guard_renames` wraps the contents manager's ``rename_file`` so that a
rename waits for the saves of every open document at or under the old path, holds off new ones while
it runs, and moves those documents to the new path before any save starts again. Documents renamed
by other means (another program, on disk) are still followed from the file id and the event bus.

Only an asynchronous contents manager (jupyter_server's default) can wait on the event loop: with a
synchronous one, renames are only followed.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["guard_renames"]


def guard_renames(contents_manager: Any, documents: Any) -> Callable[[], None]:
    """Wrap ``contents_manager.rename_file``; return what undoes it."""
    original = contents_manager.rename_file
    if not inspect.iscoroutinefunction(original):
        return lambda: None

    async def rename_file(old_path: str, new_path: str) -> Any:
        old = old_path.strip("/")
        moving = [live for live in list(documents.live.values()) if live.path == old or live.path.startswith(old + "/")]
        async with contextlib.AsyncExitStack() as stack:
            for live in moving:
                await stack.enter_async_context(live.between_saves())
            result = await original(old_path, new_path)
            documents.renamed(old_path, new_path)  # before the next save can start
        return result

    contents_manager.rename_file = rename_file

    def undo() -> None:
        if contents_manager.__dict__.get("rename_file") is rename_file:
            del contents_manager.rename_file

    return undo
