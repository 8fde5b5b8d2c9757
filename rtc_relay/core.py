"""The transport-free heart of a relay: rooms, store, policies, metrics.

A :class:`RelayCore` is shared by every way of reaching the rooms: the standalone
TCP server (:class:`rtc_relay.Relay`), the jupyter_server websocket handler
(:mod:`rtc_relay.jupyter`), and in-process clients (:meth:`RelayCore.open_local`).

Resource handling: ``async with RelayCore(config)`` opens the store; leaving it
frees every room (compacting what changed), stops the relay's tasks, and flushes
and closes the store. With ``config.redis_url`` the store is a
:class:`~rtc_relay.cluster.Cluster` (rooms shared with the other relays of that Redis);
entering raises :class:`~rtc_relay.store.StoreUnavailable` when Redis does not answer.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .catalogue import CloseCode
from .config import RelayConfig
from .direct import DirectConnection
from .limits import AttemptLimiter
from .local import LocalChannel
from .manager import RoomManager
from .metrics import Metrics
from .outbox import Flusher
from .policy import RoomLoadError, RoomPolicy
from .store import Store, open_store
from .webhooks import Webhooks
from rtc_common.tasks import TaskSet

__all__ = ["RelayCore"]

log = logging.getLogger("rtc_relay")


class RelayCore:
    """Rooms and their store, reachable through any transport."""

    def __init__(self, config: RelayConfig | None = None, *, store: Store | None = None) -> None:
        self.config = config or RelayConfig()
        self.config.check()
        if store is None and self.config.redis_url:
            from .cluster import Cluster  # only a relay that scales out needs the redis package

            store = Cluster(self.config.redis_url, timeout=self.config.redis_timeout)
        self.store: Store = store if store is not None else open_store(self.config.store_spec())
        self.bus = store if hasattr(store, "publish_awareness") else None
        self.metrics = Metrics()
        self.attempts = AttemptLimiter(self.config.connections_per_minute, self.metrics.refused)
        self.started = time.time()
        self.tasks = TaskSet("relay")
        self.policies: list[RoomPolicy] = []
        self.webhooks = Webhooks(self.config)  # sends nothing without --webhook
        self.serving = False
        self._starting: asyncio.Future[None] | None = None
        self.loop: asyncio.AbstractEventLoop
        self.flusher: Flusher
        self.rooms: RoomManager

    async def __aenter__(self) -> RelayCore:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def ensure_started(self) -> None:
        """Start the core unless it is started (for hosts whose start-up order is not ours)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.start())
        await asyncio.shield(self._starting)

    async def start(self) -> None:
        """Open the store; rooms can be joined from now on."""
        if self.serving:
            return
        self.loop = asyncio.get_running_loop()
        self.flusher = Flusher(self.loop)
        self.rooms = RoomManager(
            store=self.store,
            metrics=self.metrics,
            flusher=self.flusher,
            tasks=self.tasks,
            policy_for=self.policy_for,
            cleanup_delay=self.config.cleanup_delay,
            compact_after_bytes=self.config.compact_after_bytes,
            bus=self.bus,
            presence_renewal=self.config.presence_renewal,
            echo=self.config.echo,
            events=self.webhooks if self.webhooks.endpoints else None,
        )
        if self.bus is not None:
            self.bus.attach(self.rooms.rooms.get)
        await self.store.__aenter__()
        try:
            await self.webhooks.start(self.tasks)
        except BaseException:
            await self.store.__aexit__(None, None, None)
            raise
        self.serving = True

    async def stop(self) -> None:
        """Free every room (local clients are closed, changes compacted), stop tasks, close the store."""
        if not self.serving:
            return
        self.serving = False
        self.rooms.stop()
        await self.webhooks.stop(self.config.webhook_timeout)  # the last events (room.freed) get a chance
        await self.tasks.stop()
        await self.store.__aexit__(None, None, None)

    # -- policies ----------------------------------------------------------------------

    def add_policy(self, policy: RoomPolicy) -> None:
        """Let ``policy`` govern the rooms it claims (policies added first win)."""
        self.policies.append(policy)

    def policy_for(self, name: str) -> RoomPolicy:
        for policy in self.policies:
            if policy.claims(name):
                return policy
        return _DEFAULT

    # -- in-process clients --------------------------------------------------------------

    def open_direct(self, name: str, *, label: str = "writer") -> DirectConnection:
        """Join room ``name`` as its in-process writer; see :class:`~rtc_relay.direct.DirectConnection`."""
        return DirectConnection(self, name, label=label)

    def open_local(self, name: str, *, label: str = "local", keeps_room: bool = False) -> LocalChannel:
        """Join room ``name`` as an in-process client; see :class:`LocalChannel`.

        ``keeps_room``: while this client is in the room, the room is never freed.
        """
        return LocalChannel(self, name, label=label, keeps_room=keeps_room)

    async def load_room(self, name: str) -> None:
        """Make sure room ``name`` is loaded (freed again after the cleanup delay if nobody joins).

        An idle room's pending cleanup starts again: whoever asked (a session request) joins next, and
        the room must still be the same load when it does.
        Raises :class:`RoomLoadError` if it cannot be loaded.
        """
        await self.ensure_started()
        room = self.rooms.open(name)
        await asyncio.shield(room.ready)
        self.rooms.postpone_cleanup(room)
        if room.failed is not None:
            if hasattr(room.failed, "close_code"):
                raise room.failed
            raise RoomLoadError(CloseCode.ROOM_ERROR, "the room could not be loaded") from room.failed

    # -- observability ----------------------------------------------------------------

    def client_count(self) -> int:
        """Remote clients currently in rooms."""
        if not self.serving:
            return 0
        return sum(room.remote_members for room in self.rooms.rooms.values())

    def health(self) -> tuple[bool, dict[str, object]]:
        """``(ok, body)``: status ``ok``; ``degraded`` while serving with a failing store (SQLite writes
        failing, or Redis unreachable: connected clients are still served) or after a background loop
        stopped (``"stopped"`` names it and why); ``unavailable`` when stopped."""
        healthy = self.store.healthy
        stopped = {**self.tasks.failed, **getattr(getattr(self.store, "tasks", None), "failed", {})}
        ok = self.serving and healthy and not stopped
        body: dict[str, object] = {
            "status": "ok" if ok else ("degraded" if self.serving else "unavailable"),
            "serving": self.serving,
            "store": "ok" if healthy else "failing",
        }
        problem = getattr(self.store, "problem", None)
        if problem:
            body["store_error"] = problem
        if stopped:
            body["stopped"] = stopped
        if self.bus is not None:
            body["redis"] = "connected" if getattr(self.store, "connected", healthy) else "unreachable"
        body.update(rooms=len(self.rooms), clients=self.client_count())
        return ok, body

    def render_metrics(self) -> str:
        """The relay's metrics as Prometheus text (``GET /metrics``)."""
        return self.metrics.render(self._gauges(), self.webhooks.samples())

    def metric_samples(self) -> list:
        """The relay's metrics as :data:`rtc_relay.metrics.Sample` tuples (for a host's own registry)."""
        return self.metrics.samples(self._gauges()) + self.webhooks.samples()

    def _gauges(self) -> dict:
        return {
            "rooms": ("Rooms in memory.", lambda: len(self.rooms) if self.serving else 0),
            "clients": ("Websocket clients in rooms.", self.client_count),
            "store_bytes": ("Size of the store (bytes on disk, or in memory).", self.store.size_bytes),
            "store_backlog_bytes": (
                "Bytes accepted and not yet written to the store.",
                lambda: self.store.backlog_bytes,
            ),
            "uptime_seconds": ("Seconds since the relay started.", lambda: round(time.time() - self.started, 3)),
            **(
                {"redis_connected": ("1 while Redis answers, 0 while it is unreachable.", self._redis_up)}
                if self.bus is not None
                else {}
            ),
        }

    def _redis_up(self) -> int:
        return int(self.store.healthy)


_DEFAULT = RoomPolicy()
