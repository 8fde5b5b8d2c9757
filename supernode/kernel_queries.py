"""Questions to a notebook's kernel that run no cell: completion and inspection at a position.

:class:`KernelQueries` sends the kernel a ``complete_request`` or an ``inspect_request`` (Jupyter
messaging 5.x: positions in Unicode code points, as our API counts them) on a client of its own,
connected for the question and closed after it, so the executor's client and its messages are
never touched. The notebook's kernel is its session's, started (as for an execution) if it has none.

Error handling: a kernel that does not answer within ``timeout`` seconds (busy running a cell: the
kernel answers shell requests in turn, or stuck) gives ``kernel_timeout``; a kernel that cannot be
started, ``kernel_unavailable``. The client is closed in every case.
"""

from __future__ import annotations

import queue
import time
from typing import Any

from jupyter_client.session import Session

from .errors import ApiError

__all__ = ["KernelQueries"]


class KernelQueries:
    """Completion and inspection on the kernels of notebooks, through ``files`` (:class:`NotebookFiles`)."""

    def __init__(self, files: Any, kernel_manager: Any, *, timeout: float = 10.0) -> None:
        self.files = files
        self.kernel_manager = kernel_manager
        self.timeout = timeout

    async def complete(self, cells: Any, code: str, position: int) -> dict[str, Any]:
        """The kernel's completions of ``code`` at code point ``position``: ``matches``, ``cursor_start``,
        ``cursor_end`` (the text they replace) and ``metadata``."""
        content = await self._ask(cells, "complete_request", {"code": code, "cursor_pos": position})
        return {
            "matches": content.get("matches", []),
            "cursor_start": content.get("cursor_start", position),
            "cursor_end": content.get("cursor_end", position),
            "metadata": content.get("metadata", {}),
        }

    async def inspect(self, cells: Any, code: str, position: int, detail_level: int = 0) -> dict[str, Any]:
        """What the kernel knows of the name at code point ``position``: ``found``, ``data`` (a mime bundle)."""
        content = await self._ask(
            cells, "inspect_request", {"code": code, "cursor_pos": position, "detail_level": detail_level}
        )
        return {
            "found": bool(content.get("found")),
            "data": content.get("data", {}),
            "metadata": content.get("metadata", {}),
        }

    async def _ask(self, cells: Any, request: str, content: dict[str, Any]) -> dict[str, Any]:
        kernel = await self.files.start_kernel(cells)
        km = self.kernel_manager
        if kernel["id"] not in km:
            raise ApiError("kernel_unavailable", f"kernel {kernel['id']} is gone")
        manager = km.get_kernel(kernel["id"])
        # A session of its own: sharing the kernel manager's would give this client the socket identity of
        # every other client of the kernel, and the reply could reach one of them instead.
        session = Session(key=manager.session.key, signature_scheme=manager.session.signature_scheme)
        client = manager.client(session=session)
        client.start_channels(iopub=False, stdin=False, hb=False, control=False)
        try:
            msg = client.session.msg(request, content)
            client.shell_channel.send(msg)
            deadline = time.monotonic() + self.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ApiError(
                        "kernel_timeout", f"the kernel did not answer {request} within {self.timeout:g}s (busy?)"
                    )
                try:
                    reply = await client.get_shell_msg(timeout=left)
                except queue.Empty:
                    continue  # the deadline check above answers
                except Exception as exc:
                    raise ApiError("kernel_unavailable", f"the kernel failed to answer {request}: {exc}") from exc
                if reply.get("parent_header", {}).get("msg_id") == msg["header"]["msg_id"]:
                    return reply.get("content", {})
        finally:
            client.stop_channels()
