"""The link of one notebook's executor to its kernel: which kernel, and one ready client of it.

:class:`KernelLink` finds the notebook's kernel (the one a frontend named, else its
session's, else a new session started with the notebook's kernelspec), connects a
client with a session of its own, reads the kernel's messages for a running cell (stopping with
:class:`CellAborted` once the kernel can no longer answer), tells whether the kernel can still answer,
and hears of its death from the kernel's restarter at once.

Resource handling: the link owns the client (its zmq sockets, its zmq context and
its heartbeat thread) from :meth:`KernelLink.client` until :meth:`KernelLink.close`,
which its executor calls when the kernel dies, is restarted or shut down, and at
stop. A closed link connects again on the next :meth:`KernelLink.client`.

Error handling: :meth:`KernelLink.client` raises ``RuntimeError`` if the kernel is shut
down, or stays dead (or silent) for ``wait`` seconds; session manager errors pass through.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import queue
from collections.abc import Callable
from typing import Any

from jupyter_client.session import Session

__all__ = ["KernelLink"]

log = logging.getLogger("supernode.executions")

_DIGEST_HISTORY = 4096  # messages whose signatures the kernel client remembers (replay protection)


class CellAborted(Exception):
    """The running cell was stopped from outside (kernel restart or death)."""


class KernelLink:
    """The kernel of notebook ``path``. ``on_death(kernel_id)`` is called (soon after, in the loop) when
    the kernel's restarter finds it dead; ``wait`` (s): how long a (re)starting kernel may take."""

    def __init__(
        self,
        *,
        path: str,
        kernel_manager: Any,
        session_manager: Any,
        on_death: Callable[[str], None],
        wait: float = 60.0,
    ) -> None:
        self.path = path
        self.kernel_manager = kernel_manager
        self.session_manager = session_manager
        self.on_death = on_death
        self.wait = wait
        self.kernel_id: str | None = None  # the last kernel connected to (kept after close, for restarts)
        self._client: Any = None
        self._pid: int | None = None  # the kernel's process when the client became ready

    @property
    def closed(self) -> bool:
        """No client is open (none yet, or its kernel is gone)."""
        return self._client is None

    async def client(self, kernelspec: dict[str, Any], hint: str | None = None) -> Any:
        """A ready client of the notebook's kernel: ``hint`` if that kernel exists, else the notebook's
        session kernel, else a new session's (``kernelspec``: the notebook's metadata entry).
        Without a notebook (``path`` empty), kernel ``hint`` only."""
        km = self.kernel_manager
        if not self.path and (hint is None or hint not in km):
            raise RuntimeError(f"kernel {hint} was shut down")
        kernel_id = hint if hint is not None and hint in km else await self.find()
        if kernel_id is None:
            model = await self.session_manager.create_session(
                path=self.path,
                name=posixpath.basename(self.path),
                type="notebook",
                kernel_name=kernelspec.get("name") or None,
            )
            kernel_id = model["kernel"]["id"]
            log.info("started kernel %s for %s", kernel_id, self.path)
        if kernel_id != self.kernel_id or self._client is None:
            self.close()
            self._client = await self._connect(kernel_id)
            self.kernel_id = kernel_id
            self._watch(kernel_id)
        return self._client

    async def find(self) -> str | None:
        """The id of the kernel of the notebook's session, if it has one. With several sessions for the
        notebook (a frontend and a program that started one at the same moment), the kernel this link
        used last while it is still one of them, so consecutive executions share their variables."""
        if not self.path:
            return None
        kernels = [
            session["kernel"]["id"]
            for session in await self.session_manager.list_sessions()
            if session.get("path") == self.path and session.get("kernel")
        ]
        if self.kernel_id in kernels:
            return self.kernel_id
        return kernels[0] if kernels else None

    async def ended(self) -> str | None:
        """Why the kernel can no longer answer ("the kernel was shut down", "the kernel died"), or None."""
        km = self.kernel_manager
        if self.kernel_id is None or self.kernel_id not in km:
            return "the kernel was shut down"
        kernel = km.get_kernel(self.kernel_id)
        if getattr(kernel, "shutting_down", False):
            return "the kernel was shut down"
        if not await _maybe_await(kernel.is_alive()):
            return "the kernel died"
        return None

    async def next_messages(self, client: Any, poll: float) -> list[dict[str, Any]]:
        """The next iopub message of ``client`` and every one already waiting behind it (at most 1,000: written
        as one batch). While none comes, whether the kernel can still answer is checked every ``poll``
        seconds: :class:`CellAborted` (saying why) once it cannot."""
        while True:
            try:
                first = await client.get_iopub_msg(timeout=poll)
                break
            except queue.Empty:
                ended = await self.ended()
                if ended:
                    raise CellAborted(ended) from None
        batch = [first]
        while len(batch) < 1000 and await client.iopub_channel.msg_ready():
            batch.append(await client.get_iopub_msg())
        return batch

    async def reply(self, client: Any, msg_id: str, poll: float) -> dict[str, Any]:
        """The shell reply of ``client``'s request ``msg_id`` (other replies are skipped), checking every ``poll``
        seconds that the kernel can still answer (:class:`CellAborted` once it cannot)."""
        while True:
            try:
                msg = await client.get_shell_msg(timeout=poll)
            except queue.Empty:
                ended = await self.ended()
                if ended:
                    raise CellAborted(ended) from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg

    def talks_to_current_process(self) -> bool:
        """Whether the open client connected to the kernel's present process (not one restarted since)."""
        return (
            self._client is not None
            and self._pid is not None
            and self._pid == _pid(self.kernel_manager, self.kernel_id)
        )

    def close(self) -> None:
        """Close the client (its sockets, context and heartbeat thread) and forget the kernel's callbacks."""
        client, kernel_id = self._client, self.kernel_id
        self._client = None
        if kernel_id is not None and kernel_id in self.kernel_manager:
            for event in ("restart", "dead"):
                try:
                    self.kernel_manager.remove_restart_callback(kernel_id, self._died, event)
                except Exception:
                    pass  # never added (no restarter), or the kernel is already gone
        if client is not None:
            client.stop_channels()

    async def _connect(self, kernel_id: str) -> Any:
        """A ready client of kernel ``kernel_id``, waiting (up to ``wait``) for a kernel being restarted
        (after a death its restarter brings it back, on new ports)."""
        km = self.kernel_manager
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while True:
            if kernel_id not in km:
                raise RuntimeError(f"kernel {kernel_id} was shut down")
            kernel = km.get_kernel(kernel_id)
            if await _maybe_await(kernel.is_alive()):
                # A session of its own: the kernel manager's would give every client of the kernel the
                # same socket identity, and the kernel's replies would reach only one of them (two
                # notebooks on one kernel would hang). Replay protection remembers a digest per message
                # read (2**16 by default, ~12 MB); a smaller window keeps a long-lived server's memory flat.
                session = Session(
                    key=kernel.session.key,
                    signature_scheme=kernel.session.signature_scheme,
                    digest_history_size=_DIGEST_HISTORY,
                )
                client = kernel.client(session=session)
                client.start_channels()
                try:
                    await client.wait_for_ready(timeout=max(deadline - loop.time(), 1.0))
                    self._pid = _pid(km, kernel_id)
                    return client
                except RuntimeError:  # died again before answering: its restarter may bring it back
                    client.stop_channels()
                    if loop.time() >= deadline:
                        raise
            elif loop.time() >= deadline:
                raise RuntimeError(f"kernel {kernel_id} is dead")
            await asyncio.sleep(0.1)

    def _watch(self, kernel_id: str) -> None:
        """Hear of the kernel's death at once (its restarter's callbacks), not at the next liveness poll."""
        try:
            for event in ("restart", "dead"):
                self.kernel_manager.add_restart_callback(kernel_id, self._died, event)
        except Exception:  # a kernel manager without restarters (a gateway): the liveness poll remains
            log.debug("no restart callbacks for kernel %s", kernel_id, exc_info=True)

    def _died(self) -> None:
        # Called while the restarter walks its callback list: closing (which removes this callback)
        # must wait for the walk to end, or the callbacks after this one would be skipped.
        if self.kernel_id is not None:
            asyncio.get_running_loop().call_soon(self.on_death, self.kernel_id)


def _pid(km: Any, kernel_id: str | None) -> int | None:
    """The process id of kernel ``kernel_id`` (None: gone, or a provisioner that does not tell)."""
    if kernel_id is None or kernel_id not in km:
        return None
    return getattr(getattr(km.get_kernel(kernel_id), "provisioner", None), "pid", None)


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value
