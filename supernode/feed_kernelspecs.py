"""The ``kernelspecs`` table: the installed kernelspecs, re-read every ``kernelspec_every``-th poll
(installing one emits no event) and on a refresh.

A synchronous kernelspec manager is asked on a worker thread: its first ``get_all_specs`` scans every
installed package's entry points for kernel provisioners (0.2-0.5 s at a server's start, when the
first notebooks are being opened)."""

from __future__ import annotations

import asyncio
import inspect
import os
import posixpath

from jupyter_core.utils import ensure_async

from .feed import Feed

__all__ = ["KernelspecFeed"]


class KernelspecFeed(Feed):
    """One row per kernelspec, with the URLs of its logos and its ``kernel.js``/``kernel.css``."""

    table = "kernelspecs"

    async def read(self) -> None:
        ksm = self.app.kernel_spec_manager
        if inspect.iscoroutinefunction(ksm.get_all_specs):
            specs = await ksm.get_all_specs()
        else:
            specs = await ensure_async(await asyncio.to_thread(ksm.get_all_specs))
        default = getattr(self.app.kernel_manager, "default_kernel_name", None)
        base = self.app.base_url.rstrip("/")
        rows = []
        for name, entry in specs.items():
            spec = entry.get("spec") or {}
            resource_dir = entry.get("resource_dir") or ""
            try:
                files = sorted(os.listdir(resource_dir)) if resource_dir else []
            except OSError:
                files = []
            resources = {
                posixpath.splitext(f)[0] if f.startswith("logo-") else f: f"{base}/kernelspecs/{name}/{f}"
                for f in files
                if f.startswith("logo-") or f in ("kernel.js", "kernel.css")
            }
            rows.append(
                {
                    "name": name,
                    "display_name": str(spec.get("display_name", name)),
                    "language": str(spec.get("language", "")),
                    "interrupt_mode": "message" if spec.get("interrupt_mode") == "message" else "signal",
                    "metadata": spec.get("metadata") or {},
                    "resources": resources,
                    "default": name == default,
                }
            )
        self.tables.replace("kernelspecs", rows)
