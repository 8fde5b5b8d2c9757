"""The supernode as a jupyter_server extension.

It needs the ``rtc_relay`` extension (it registers its document policy on the
relay published in the tornado settings) and ``jupyter_server_fileid``.
"""

from __future__ import annotations

import asyncio
import contextlib

from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from jupyter_core.paths import jupyter_data_dir
from nbformat.validator import get_validator
from rtc_common.prometheus import add_source, remove_source
from rtc_common.server_log import join_server_log
from rtc_common.server_signals import restore_sigint, stop_cleanly_on_sigint

from . import jc_settings, nbmodel, rtc_info
from .classroom_handlers import HANDLERS as CLASSROOM_HANDLERS
from .classroom_remote import RemoteClassrooms
from .classroom_remote_handlers import handlers as classroom_remote_handlers
from .classroom_store import ClassroomStore
from .classroom_tickets import ClassroomTickets
from .classrooms import Classrooms
from .documents import DocumentManager
from .events import DocumentEvents
from .execution_events import ExecutionEvents
from .execution_handlers import HANDLERS as EXECUTION_HANDLERS
from .executions import ExecutionManager
from .fork_handlers import HANDLERS as FORK_HANDLERS
from .kernel_handlers import HANDLERS as KERNEL_HANDLERS
from .forks import ForkManager
from .handlers import SessionHandler, SpecHandler
from .jc_rooms import RoomLookup
from .journal import ExecutionJournal
from .load_cache import LoadCache
from .kernel_queries import KernelQueries
from .notebook_feed_handlers import HANDLERS as NOTEBOOK_FEED_HANDLERS
from .notebook_feeds import NotebookFeeds
from .notebook_files import NotebookFiles
from .notebook_file_handlers import HANDLERS as NOTEBOOK_FILE_HANDLERS
from .mcp_backend import LiveBackend
from .mcp_handler import HANDLERS as MCP_HANDLERS
from .mcp_handler import McpService
from .notebook_handlers import HANDLERS as NOTEBOOK_HANDLERS
from .options import SupernodeOptions
from .output_log import OutputLog
from .rename_guard import guard_renames
from .reverts import revert_watch
from .table_feeds import TableFeeds
from .table_handlers import HANDLERS as TABLE_HANDLERS
from .tables import SharedTables
from .timeline import Timelines
from rtc_common.tasks import TaskSet, first_set

__all__ = ["SupernodeExtension"]

_VALIDATOR_WARM_DELAY = 5.0  # seconds after the start before nbformat's validator is compiled
_START_DELAY = 1.0  # seconds after the start before the journal, the tables and the classrooms start (if unneeded)


async def _compile_validator(delay: float) -> None:
    """Compile nbformat's validator (on a worker thread) ``delay`` seconds from now."""
    await asyncio.sleep(delay)
    await asyncio.to_thread(get_validator, version=4, version_minor=5)


class SupernodeExtension(ExtensionApp, SupernodeOptions):
    """Owns the documents of collaboration rooms: load once, save, reload out-of-band edits. Its settings
    are :class:`~supernode.options.SupernodeOptions`'s."""

    name = "supernode"

    def initialize_settings(self) -> None:
        _import_ahead()
        join_server_log("supernode", self.serverapp.log)
        stop_cleanly_on_sigint(self.serverapp)  # a hub stops servers with SIGINT: our documents save first
        jc_settings.adopt(self)
        for name, instead in jc_settings.unhonoured(self.config).items():
            jc_settings.log.warning("jupyter-rtc: YDocExtension.%s is not honoured: %s", name, instead)
        relay = self.settings.get("rtc_relay")
        self.documents: DocumentManager | None = None
        if relay is None:
            self.log.error("supernode: the rtc_relay extension is not enabled; documents are not served")
            return
        enabled = getattr(self.serverapp, "jpserver_extensions", {}) or {}
        if enabled.get("jupyter_server_ydoc"):
            self.log.error("supernode: jupyter_server_ydoc is enabled and serves documents; supernode stays off")
            return
        file_ids = self.settings.get("file_id_manager")
        if file_ids is None:
            self.log.error("supernode: jupyter_server_fileid is not enabled; documents are not served")
            return
        self.tasks = TaskSet("supernode")
        self._start_now = asyncio.Event()  # the start-up work is needed now (see _start_services)
        self._starting: asyncio.Task[None] | None = None
        self.settings["supernode_services_started"] = self.services_started
        self.load_store = (
            LoadCache(
                self.load_cache_path or f"{jupyter_data_dir()}/jupyter_rtc/loads.sqlite",
                max_bytes=int(self.load_cache_size_mb * 1024 * 1024),
            )
            if self.load_cache
            else None
        )
        self.documents = DocumentManager(
            relay=relay,
            contents_manager=self.serverapp.contents_manager,
            file_ids=file_ids,
            save_delay=self.save_delay,
            save_max_wait=self.save_max_wait,
            save_share=self.save_share,
            file_poll_interval=self.file_poll_interval,
            tasks=self.tasks,
            events=DocumentEvents(self.serverapp.event_logger),
            delay_outputs_above=(
                int(self.output_delay_threshold_mb * 1024 * 1024)
                if self.load_progressively and self.output_delay_threshold_mb is not None
                else None
            ),
            load_cache=self.load_store,
        )
        relay.add_policy(self.documents)
        self.documents.loader.prepare()  # not inside the first open after a start
        # A fenced tab's "Revert" (Edit Conflict dialog) reloads the file: it gets the reload dialog at once.
        self.serverapp.web_app.add_transform(revert_watch(self.documents, self.serverapp.base_url))
        # Extensions written for jupyter-collaboration find its API at this key: ours answers them.
        self.serverapp.web_app.settings.setdefault("jupyter_server_ydoc", self)
        self._unfollow_renames = self.documents.follow_renames(self.serverapp.event_logger)
        self._unguard_renames = guard_renames(self.serverapp.contents_manager, self.documents)
        self.settings["supernode_documents"] = self.documents
        self.timelines = Timelines(
            self.documents.live, max_versions=self.timeline_versions, max_bytes=self.timeline_max_bytes
        )
        self._unfollow_timelines = self.timelines.listen(self.serverapp.event_logger)
        self.forks = ForkManager(relay, self.documents, self.timelines, self.serverapp.event_logger)
        relay.add_policy(self.forks)
        self.settings["supernode_forks"] = self.forks
        journal_path = self.journal_path or f"{jupyter_data_dir()}/jupyter_rtc/executions.sqlite"
        journal = ExecutionJournal(journal_path, limit=self.journal_limit)
        # Beside the journal: executions.sqlite -> executions.outputs/ (none for an in-memory journal).
        output_log = OutputLog(Path(journal_path).with_suffix(".outputs")) if journal_path != ":memory:" else None
        self.executions = ExecutionManager(
            documents=self.documents,
            session_manager=self.serverapp.session_manager,
            kernel_manager=self.serverapp.kernel_manager,
            journal=journal,
            record_interval=self.save_max_wait,
            output_interval=self.output_interval,
            output_log=output_log,
            tasks=self.tasks,
            event_logger=getattr(self.serverapp, "event_logger", None),
        )
        self.settings["supernode_executions"] = self.executions
        notebook_files = NotebookFiles(
            self.documents, self.serverapp.session_manager, getattr(self.serverapp, "kernel_spec_manager", None)
        )
        self.settings["supernode_notebook_files"] = notebook_files
        self.settings["supernode_kernel_queries"] = KernelQueries(
            notebook_files, self.serverapp.kernel_manager, timeout=self.kernel_query_timeout
        )
        classroom_path = self.classroom_store_path or (
            ":memory:" if journal_path == ":memory:" else str(Path(journal_path).with_name("classrooms.sqlite"))
        )
        self.classrooms = Classrooms(relay, self.documents, ClassroomStore(classroom_path))
        relay.add_policy(self.classrooms)
        self.settings["supernode_classrooms"] = self.classrooms
        self.classroom_tickets = ClassroomTickets(
            self.classrooms,
            enabled=lambda: self.classroom_remote_join,
            lifetime=self.classroom_ticket_lifetime,
            failures_per_minute=self.classroom_ticket_failures_per_minute,
        )
        self.settings["supernode_classroom_tickets"] = self.classroom_tickets
        self.remote_classrooms = RemoteClassrooms(
            self.classrooms,
            relay,
            self.tasks,
            timeout=self.classroom_remote_timeout,
            give_up=self.classroom_remote_give_up,
        )
        self.settings["supernode_remote_classrooms"] = self.remote_classrooms
        self.executions.watchers.append(ExecutionEvents(self.serverapp.event_logger))
        self.executions.watchers.append(nbmodel.StopOnError(self.executions))
        self.notebook_feeds = NotebookFeeds(
            documents=self.documents,
            executions=self.executions,
            tasks=self.tasks,
            event_logger=self.serverapp.event_logger,
            parent=self,
        )
        self.settings["supernode_notebook_feeds"] = self.notebook_feeds
        self.mcp = McpService(
            LiveBackend(self.documents, self.executions, self.serverapp.contents_manager),
            self.tasks,
            idle_timeout=self.mcp_idle_timeout,
            renew_interval=self.mcp_renew_interval,
            session_timeout=self.mcp_session_timeout,
            lease_hold=self.mcp_lease_hold,
        )
        self.settings["supernode_mcp"] = self.mcp
        self.shared_tables: SharedTables | None = None
        self.feeds: TableFeeds | None = None
        if self.tables:
            self.shared_tables = SharedTables(relay)
            self.shared_tables.on_demand = self._start_now.set
            relay.add_policy(self.shared_tables)
            self.feeds = TableFeeds(
                self.shared_tables,
                self.serverapp,
                self.executions,
                poll_interval=self.tables_poll_interval,
                executions_limit=self.tables_executions_limit,
                tasks=self.tasks,
            )
        add_source(self, self._metric_samples)  # in the server's /metrics, as jupyter_rtc_supernode_*
        page_config = self.serverapp.web_app.settings.setdefault("page_config_data", {})
        if self.server_side_execution:
            page_config["serverSideExecution"] = True
        if (self.config.get(jc_settings.JC_SECTION) or {}).get("disable_rtc"):
            page_config.setdefault("disableRTC", True)
        else:
            rtc_info.announce(self.serverapp.web_app.settings)

    def initialize_handlers(self) -> None:
        if getattr(self, "documents", None) is not None:
            self.handlers.append((r"/api/collaboration/session/(.*)", SessionHandler))
            self.handlers.append((r"/api/rtc/spec\.json", SpecHandler))
            self.handlers.extend(EXECUTION_HANDLERS)
            self.handlers.extend(KERNEL_HANDLERS)
            self.handlers.extend(FORK_HANDLERS)
            self.handlers.extend(TABLE_HANDLERS)
            self.handlers.extend(classroom_remote_handlers(self.classroom_tickets))  # before /classrooms/{id}
            self.handlers.extend(CLASSROOM_HANDLERS)
            self.handlers.extend(NOTEBOOK_FEED_HANDLERS)
            self.handlers.extend(NOTEBOOK_HANDLERS)
            self.handlers.extend(NOTEBOOK_FILE_HANDLERS)  # last: /api/rtc/notebooks/{path} takes any path
            self.handlers.extend(MCP_HANDLERS)

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        if getattr(self, "documents", None) is not None and not self.serverapp.web_app.settings.get(
            "page_config_data", {}
        ).get("disableRTC"):
            rtc_info.announce(self.serverapp.web_app.settings)  # an extension loaded after ours may have reset it
        if getattr(self, "tasks", None) is None:
            return
        # nbformat compiles its validator on first use (~40 ms of CPU, holding the GIL): compiled ahead
        # of the first validation, but after the opens that follow a start (JupyterLab restoring its tabs).
        self.tasks.spawn(_compile_validator(_VALIDATOR_WARM_DELAY), "compile the validator")
        self._starting = self.tasks.spawn(self._start_services(), "start the journal, the tables and the classrooms")

    async def _start_services(self) -> None:
        """The start-up work of the journal, the shared tables and the classrooms, ``_START_DELAY`` seconds
        after the server starts, or as soon as something needs it (:meth:`services_started`). The server
        answers requests from the moment it starts: a notebook opened then (JupyterLab restoring its tabs, a
        script) would otherwise share the event loop and the CPU with this work (in a probe, a re-open of a
        1,000-cell notebook took 28–46 ms in the first requests, 16–18 once it was done)."""
        await first_set(self._start_now, timeout=_START_DELAY)
        await self.executions.ensure_open()  # (an execution's request opens it itself if it is first)
        if self.feeds is not None:
            assert self.shared_tables is not None
            await self.shared_tables.start()
            await self.feeds.start()
            self.serverapp.web_app.settings["supernode_tables"] = self.feeds
        await self.classrooms.restore()  # the sessions of the previous process: students reconnect to them

    async def services_started(self) -> None:
        """Run the start-up work now if it still waits, and wait for it (a failure was logged: what it
        started is then not there, which each of its users reports)."""
        self._start_now.set()
        starting = self._starting
        if starting is not None and not starting.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(starting)

    @property
    def ywebsocket_server(self) -> RoomLookup:
        """jupyter-collaboration's room lookup (``room_exists``, ``get_room``), see :mod:`supernode.jc_rooms`."""
        return RoomLookup(self.documents)

    async def get_document(self, **kwargs):
        """See :meth:`supernode.documents.DocumentManager.get_document`."""
        if self.documents is None:
            return None
        return await self.documents.get_document(**kwargs)

    def _metric_samples(self) -> list:
        """The supernode's metrics (see :mod:`rtc_common.prometheus`)."""
        documents = self.documents
        samples: list = [
            ("supernode_documents_open", "gauge", "Documents held in collaboration rooms.", {}, len(documents.live)),
        ]
        if self.load_store is not None:
            help_ = "Opens of a notebook that looked in the load cache, by outcome."
            samples += [
                ("supernode_load_cache_total", "counter", help_, {"outcome": "hit"}, self.load_store.hits),
                ("supernode_load_cache_total", "counter", help_, {"outcome": "miss"}, self.load_store.misses),
            ]
        samples += [
            ("supernode_document_events_total", "counter", "Document events, by action.", {"action": a}, n)
            for a, n in sorted(documents.events.counts.items())
        ]
        executors = list(self.executions.executors.values())
        running = sum(1 for e in executors if e.current is not None)
        queued = sum(len(e.queue) for e in executors)
        help_ = "Executions waiting or running now."
        samples += [
            ("supernode_executions", "gauge", help_, {"status": "queued"}, queued),
            ("supernode_executions", "gauge", help_, {"status": "running"}, running),
        ]
        return samples

    async def stop_extension(self) -> None:
        restore_sigint(self.serverapp)
        remove_source(self)
        starting, self._starting = getattr(self, "_starting", None), None
        if starting is not None:  # (stopped before the start-up work ran, or during it)
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
        if getattr(self, "feeds", None) is not None:
            await self.feeds.stop()
            await self.shared_tables.stop()
        if self.documents is not None:
            self._unfollow_renames()
            self._unguard_renames()
            self._unfollow_timelines()
            self.remote_classrooms.stop()
            self.classrooms.stop()
            self.notebook_feeds.stop()
            await self.executions.stop()
            await self.documents.stop()
            await self.tasks.stop()
            if self.load_store is not None:
                self.load_store.close()


def _import_ahead() -> None:
    """Import now, while the server loads its extensions, what the first use of a shared document imports
    lazily: pycrdt's documents take an anyio lock, whose first use imports anyio's asyncio backend (15 ms,
    the module holding the GIL), which would otherwise fall inside the first requests the server answers
    (a notebook's open right after a start)."""
    try:
        import anyio._backends._asyncio  # noqa: F401
    except ImportError:  # another anyio: its first lock imports what it needs then
        pass
