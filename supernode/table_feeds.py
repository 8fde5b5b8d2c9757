"""What keeps the shared tables true: the Jupyter server's events, hooks, and a light poll.

- kernels: jupyter_server's kernel action events (start, interrupt, restart, shutdown)
  refresh the table at once; automatic restarts are counted by a restart callback;
  busy/idle, last activity and connections (which have no event) by the poll.
- sessions: a hook on the session manager's create/update/delete (sessions emit no
  events) refreshes the table at once; the poll catches sessions culled with their kernel.
- contents: a hook on the contents manager's ``get`` records every file read and
  every directory listed (a listing also removes the rows of children that are gone);
  contents events (save, rename, copy, delete) update the rows they name.
- status and terminals: the poll. kernelspecs: the poll, every ``kernelspec_every``-th.
- executions: the execution manager tells every record it journals; at start the
  newest records come back from the journal.

Every poll, event and hook ends in :meth:`SharedTables.replace` / ``put``, which
writes only rows that changed: an idle server writes nothing.

Lifecycle: :meth:`start` installs the hooks and listeners, reconciles every table
with the server (rows of things that are gone are removed) and starts the poll;
:meth:`stop` undoes all of it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import posixpath
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server import __version__
from tornado.web import HTTPError

from .errors import ApiError
from .table_schemas import TABLES
from .tables import Row, SharedTables

__all__ = ["TableFeeds"]

log = logging.getLogger("supernode.tables")

KERNEL_EVENTS = "https://events.jupyter.org/jupyter_server/kernel_actions/v1"
CONTENTS_EVENTS = "https://events.jupyter.org/jupyter_server/contents_service/v1"
_STATES = frozenset(("starting", "idle", "busy", "restarting", "autorestarting", "terminating", "dead"))
_POLLED = ("kernels", "sessions", "status", "terminals")
_EPOCH = datetime.fromtimestamp(0, timezone.utc)


def iso(value: Any) -> str | None:
    """A timestamp as ISO 8601 UTC (``...Z``); strings pass through; None stays None."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def _parent(path: str) -> str:
    return posixpath.dirname(path.strip("/"))


def _under(prefix: str):
    prefix = prefix.strip("/")
    return lambda key: key == prefix or key.startswith(prefix + "/")


class TableFeeds:
    """Feeds ``tables`` from ``serverapp``; ``poll_interval`` seconds between polls."""

    def __init__(
        self,
        tables: SharedTables,
        serverapp: Any,
        executions: Any,
        *,
        poll_interval: float = 1.0,
        kernelspec_every: int = 10,
        executions_limit: int = 100,
    ) -> None:
        self.tables = tables
        self.app = serverapp
        self.executions = executions
        self.poll_interval = poll_interval
        self.kernelspec_every = max(1, kernelspec_every)
        self.executions_limit = executions_limit
        self.restarts: dict[str, int] = {}  # kernel id -> restarts seen since the server started
        self._watched: set[str] = set()  # kernels with our restart callback
        self._due: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._undo: list[Any] = []
        self._known_executions: OrderedDict[str, None] = OrderedDict()
        self._batch: dict[str, Row] = {}  # contents rows read, to be written at the end of this loop turn
        self._flush: asyncio.Handle | None = None
        self._holding = False  # while a refresh re-reads every path: its rows go out at its end
        self._refreshing: dict[str, asyncio.Lock] = {table: asyncio.Lock() for table in TABLES}

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._hook_sessions()
        self._hook_contents()
        self._listen(KERNEL_EVENTS, self._on_kernel_event)
        self._listen(CONTENTS_EVENTS, self._on_contents_event)
        self.executions.watchers.append(self._on_record)
        self._undo.append(lambda: self.executions.watchers.remove(self._on_record))
        self.executions.kernel_restarts = self.kernel_restarts
        for table in TABLES:
            try:
                await self.refresh(table)
            except Exception:
                log.exception("tables: the first read of %s failed", table)
        self._task = asyncio.create_task(self._poll(), name="supernode tables poll")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:
                log.exception("tables: undoing a hook failed")
        self._undo.clear()

    def soon(self, *tables: str) -> None:
        """Refresh ``tables`` at the next turn of the poll loop (coalesced)."""
        self._due.update(tables)
        self._wake.set()

    async def _poll(self) -> None:
        turn = 0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                due, self._due = self._due, set()
                self._wake.clear()
            except asyncio.TimeoutError:
                turn += 1
                due = {*_POLLED, *self._due, *(("kernelspecs",) if turn % self.kernelspec_every == 0 else ())}
                self._due.clear()
            for table in TABLES:  # a fixed order: kernels before the sessions that name them
                if table in due:
                    try:
                        await self.refresh(table)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("tables: refreshing %s failed", table)

    # -- reading the server -----------------------------------------------------------------

    async def refresh(self, table: str) -> dict[str, Row]:
        """Re-read ``table`` from the server now; its rows afterwards. Unknown table: ApiError not_found."""
        reader = getattr(self, f"_read_{table}", None)
        if table not in TABLES or reader is None:
            raise ApiError("not_found", f"no table {table!r}; the tables are {', '.join(TABLES)}")
        async with self._refreshing[table]:
            await reader()
        return self.tables.rows[table]

    async def _read_kernelspecs(self) -> None:
        ksm = self.app.kernel_spec_manager
        specs = await ensure_async(ksm.get_all_specs())
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

    async def _read_status(self) -> None:
        settings = self.app.web_app.settings
        kernels = await ensure_async(self.app.kernel_manager.list_kernels())
        terminals = self._terminal_manager()
        row = {
            "id": "server",
            "started": iso(settings.get("started", _EPOCH)),
            "last_activity": iso(self.app.web_app.last_activity()),
            "connections": sum(int(k.get("connections", 0) or 0) for k in kernels),
            "kernels": len(kernels),
            "terminals": len(terminals.list()) if terminals is not None else 0,
            "version": __version__,
        }
        self.tables.replace("status", [row])

    def _terminal_manager(self) -> Any:
        return self.app.web_app.settings.get("terminal_manager")

    async def _read_terminals(self) -> None:
        manager = self._terminal_manager()
        models = manager.list() if manager is not None else []
        rows = [{"name": str(m["name"]), "last_activity": iso(m.get("last_activity"))} for m in models]
        self.tables.replace("terminals", rows)

    async def _read_kernels(self) -> None:
        km = self.app.kernel_manager
        rows = []
        for model in await ensure_async(km.list_kernels()):
            kernel_id = model["id"]
            self._watch_restarts(kernel_id)
            state = model.get("execution_state")
            rows.append(
                {
                    "id": kernel_id,
                    "name": str(model.get("name", "")),
                    "last_activity": iso(model.get("last_activity")),
                    "connections": int(model.get("connections", 0) or 0),
                    "execution_state": state if state in _STATES else "unknown",
                    "restart_count": self.restarts.get(kernel_id, 0),
                }
            )
        live = {row["id"] for row in rows}
        for gone in [k for k in self.restarts if k not in live]:
            del self.restarts[gone]
        self._watched &= live
        self.tables.replace("kernels", rows)

    async def _read_sessions(self) -> None:
        rows = []
        for model in await ensure_async(self.app.session_manager.list_sessions()):
            kernel = model.get("kernel") or {}
            rows.append(
                {
                    "id": model["id"],
                    "path": str(model.get("path") or ""),
                    "name": str(model.get("name") or ""),
                    "type": str(model.get("type") or ""),
                    "kernel_id": kernel.get("id"),
                    "kernel_name": kernel.get("name"),
                }
            )
        self.tables.replace("sessions", rows)

    async def _read_contents(self) -> None:
        """Re-read every path the table holds; what is gone is removed. The root is always listed."""
        paths = sorted(self.tables.rows["contents"]) or [""]
        if "" not in paths:
            paths.insert(0, "")
        self._holding = True
        try:
            for path in paths:
                if path != "" and path not in self.tables.rows["contents"]:
                    continue  # removed with its directory meanwhile
                await self._stat(path)
        finally:
            self._holding = False
            self._flush_contents()

    async def _stat(self, path: str) -> None:
        """Read ``path`` (without content) through the hooked ``get``; remove its rows if it is gone."""
        cm = self.app.contents_manager
        try:
            await ensure_async(cm.get(path, content=False))
        except HTTPError as exc:
            if exc.status_code == 404:
                self.tables.replace("contents", [], _under(path))
            else:
                raise

    async def _read_executions(self) -> None:
        records = {r["id"]: r for r in await self.executions.list(None)}
        newest = sorted(records.values(), key=lambda r: r.get("created") or "", reverse=True)
        keep = [
            r for i, r in enumerate(newest) if i < self.executions_limit or r.get("status") in ("queued", "running")
        ]
        rows = [row for record in keep for row in self._execution_rows(record)]
        self._known_executions = OrderedDict((r["id"], None) for r in reversed(keep))
        self.tables.replace("executions", rows)

    # -- kernels ----------------------------------------------------------------------------

    def kernel_restarts(self, kernel_id: str | None) -> int | None:
        """How often kernel ``kernel_id`` was restarted since the server started (None: unknown kernel)."""
        if kernel_id is None:
            return None
        return self.restarts.get(kernel_id, 0)

    def _watch_restarts(self, kernel_id: str) -> None:
        if kernel_id in self._watched:
            return
        self._watched.add(kernel_id)
        km = self.app.kernel_manager
        try:
            km.add_restart_callback(kernel_id, lambda: self._restarted(kernel_id, "automatic"), "restart")
        except Exception:  # a kernel manager without restarters (e.g. a gateway): events still count
            log.debug("tables: no restart callback for kernel %s", kernel_id, exc_info=True)

    def _restarted(self, kernel_id: str, how: str) -> None:
        self.restarts[kernel_id] = self.restarts.get(kernel_id, 0) + 1
        log.debug("tables: kernel %s restarted (%s)", kernel_id, how)
        self.soon("kernels", "status")

    async def _on_kernel_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, kernel_id = data.get("action"), data.get("kernel_id")
        if data.get("status") == "error":
            return
        if action == "restart" and kernel_id:
            self._restarted(kernel_id, "asked for")
        self.soon("kernels", "sessions", "status")

    # -- sessions ---------------------------------------------------------------------------

    def _hook_sessions(self) -> None:
        sm = self.app.session_manager
        for name in ("create_session", "update_session", "delete_session"):
            self._wrap(sm, name, lambda result: self.soon("sessions"))

    # -- contents ---------------------------------------------------------------------------

    def _hook_contents(self) -> None:
        self._wrap(self.app.contents_manager, "get", self._seen)

    def _seen(self, model: Any) -> None:
        if not isinstance(model, dict) or "path" not in model:
            return
        path = str(model["path"]).strip("/")
        row = self._contents_row(model)
        self._batch[path] = row
        if self._flush is None and not self._holding:  # a listing reads each child first: one transaction
            self._flush = asyncio.get_running_loop().call_soon(self._flush_contents)
        if model.get("type") == "directory" and isinstance(model.get("content"), list):
            self._flush_contents()
            children = [self._contents_row(child) for child in model["content"] if isinstance(child, dict)]
            listed = {child["path"] for child in children}
            gone = [k for k in self.tables.rows["contents"] if k != path and _parent(k) == path and k not in listed]
            self.tables.replace("contents", [row, *children], lambda key: key == path or _parent(key) == path)
            for key in gone:  # what was below a child that is gone
                self.tables.replace("contents", [], _under(key))

    def _flush_contents(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._batch = self._batch, {}
        self.tables.put("contents", list(batch.values()))

    def _contents_row(self, model: dict[str, Any]) -> Row:
        path = str(model.get("path", "")).strip("/")
        fmt = model.get("format") if model.get("content") is not None else None
        if fmt is None:  # a listing does not say; keep what a read said
            fmt = (self.tables.rows["contents"].get(path) or {}).get("format")
        size = model.get("size")
        return {
            "path": path,
            "name": str(model.get("name", posixpath.basename(path))),
            "type": model.get("type") if model.get("type") in ("directory", "file", "notebook") else "file",
            "writable": bool(model.get("writable", False)),
            "created": iso(model.get("created")),
            "last_modified": iso(model.get("last_modified")),
            "size": int(size) if isinstance(size, int) and size >= 0 else None,
            "mimetype": model.get("mimetype"),
            "format": fmt,
        }

    async def _on_contents_event(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        action, path = data.get("action"), str(data.get("path", "")).strip("/")
        if action in ("rename", "delete"):
            source = str(data.get("source_path", "")).strip("/") if action == "rename" else path
            self.tables.replace("contents", [], _under(source))
        if action in ("save", "rename", "copy", "upload", "create"):
            await self._stat(path)
            parent = _parent(path)
            if parent in self.tables.rows["contents"]:
                await self._stat(parent)  # its last_modified changed

    # -- executions -------------------------------------------------------------------------

    @staticmethod
    def _execution_rows(record: dict[str, Any]) -> list[Row]:
        rows = []
        for index, cell in enumerate(record.get("cells") or []):
            error = cell.get("error") or {}
            rows.append(
                {
                    "id": f"{record['id']}/{index}",
                    "execution_id": record["id"],
                    "index": index,
                    "cell_id": str(cell.get("cell_id", "")),
                    "path": str(record.get("path", "")),
                    "kernel_id": cell.get("kernel_id"),
                    "kernel_restarts": cell.get("kernel_restarts"),
                    "status": cell.get("status", "queued"),
                    "execution_count": cell.get("execution_count"),
                    "ename": error.get("ename"),
                    "evalue": error.get("evalue"),
                    "traceback": error.get("traceback"),
                    "created": record.get("created"),
                    "started": cell.get("started"),
                    "finished": cell.get("finished"),
                }
            )
        return rows

    def _on_record(self, record: dict[str, Any]) -> None:
        execution_id = record["id"]
        self.tables.replace("executions", self._execution_rows(record), lambda key: key.startswith(execution_id + "/"))
        known = self._known_executions
        known[execution_id] = None
        known.move_to_end(execution_id)
        for old in list(known)[: max(len(known) - self.executions_limit, 0)]:
            rows = self.tables.rows["executions"]
            if any(rows[k]["status"] in ("queued", "running") for k in rows if k.startswith(old + "/")):
                continue  # unfinished work stays listed (and does not keep older finished rows listed)
            del known[old]
            self.tables.replace("executions", [], lambda key, old=old: key.startswith(old + "/"))

    # -- plumbing ---------------------------------------------------------------------------

    def _listen(self, schema_id: str, listener: Any) -> None:
        logger = self.app.event_logger
        logger.add_listener(schema_id=schema_id, listener=listener)
        self._undo.append(lambda: logger.remove_listener(schema_id=schema_id, listener=listener))

    def _wrap(self, target: Any, name: str, after: Any) -> None:
        """Shadow ``target.name`` with a wrapper that calls ``after(result)`` once it succeeded."""
        original = getattr(target, name)

        def report(result: Any) -> None:
            try:
                after(result)
            except Exception:
                log.exception("tables: the %s hook failed", name)

        if inspect.iscoroutinefunction(original):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = await original(*args, **kwargs)
                report(result)
                return result
        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                result = original(*args, **kwargs)
                if inspect.isawaitable(result):

                    async def finish() -> Any:
                        value = await result
                        report(value)
                        return value

                    return finish()
                report(result)
                return result

        wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(target, name, wrapper)
        self._undo.append(lambda: target.__dict__.pop(name, None))
