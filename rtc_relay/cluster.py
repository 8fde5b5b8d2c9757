"""Scale-out: the relay's link to Redis, shared by every relay serving the same rooms.

A :class:`Cluster` is the store of a relay started with ``--redis-url`` (it implements
:class:`rtc_relay.store.Store`) and its bus to the other relays:

* **Durable log.** Every update a client of this relay sends is appended to the room's stream
  (``redis_log.py``); one writer task sends everything queued in one pipeline, one entry per room
  (``redis_writer.py``).
  A relay opening a room loads the snapshot and the entries after it. Compaction writes a snapshot
  and trims the stream in one script.
* **Live fan-out** (``redis_reader.py``). One reader task blocks on ``XREAD`` over the streams of
  the rooms open here, from the last entry it read, and hands other relays' updates to the rooms
  (its own entries are skipped by origin id). Reading the stream rather than pub/sub gives order, and catch-up after an
  outage, for free. If another relay trimmed entries this one had not read yet, the compaction
  marker says so and the reader applies the snapshot (updates are idempotent: nothing duplicates).
* **Awareness** is ephemeral: published on the room's channel, never stored; one pattern
  subscription receives every room's and drops those not open here. At most
  ``MAX_AWARENESS`` messages wait for the writer; beyond, the oldest are dropped (a later
  state of the same client supersedes them anyway).

Hangs: every Redis call is bounded by ``timeout`` seconds (connecting, sending, and waiting for
the answer; a blocking ``XREAD`` gets ``timeout`` on top of its block time), and a heartbeat sends
a ``PING`` every ``HEARTBEAT_S`` seconds while Redis is up, so a Redis that stops answering (a
stopped process, a network stall) counts as unreachable within ``timeout + HEARTBEAT_S`` seconds
even when no client writes, exactly as a refused connection does. No loop waits on Redis longer
than that: a timed-out call raises, and its loop waits for the recovery.

Outage: when a Redis call fails or times out, the relay keeps serving its clients, keeps their
updates (merged per room when they pile up, so memory stays bounded), says ``unreachable`` in
``/health`` and logs it once. A recovery task pings with back-off (``retry_delay`` doubling up to
``max_retry_delay`` seconds), each attempt on fresh connections (a timed-out call may leave a pooled
connection mid-command); once Redis answers, queued updates are written, the reader catches
up from where it stopped, local presence is published again, and if Redis restarted (a new
``run_id``: it may have lost data) every open room's whole state is appended once more.

Resource handling: ``async with Cluster(url)`` pings Redis (raising :class:`StoreUnavailable`,
naming the URL, when it does not answer) and starts the tasks; leaving it writes what is queued
(for at most ``flush_timeout`` seconds: what Redis did not get by then is logged as lost) and
closes every connection. Error handling: a bad entry in the log is logged and skipped; a room's
failure never stops the reader.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .config import redact
from .redis_log import AWARENESS_PATTERN, RoomLog
from .redis_reader import RedisReader
from .redis_writer import RedisWriter
from .store import StoreUnavailable
from rtc_common.tasks import Ready, TaskSet

if TYPE_CHECKING:
    from .room import Room

__all__ = ["Cluster"]

log = logging.getLogger("rtc_relay.cluster")

_FAILURES = (RedisError, OSError, asyncio.TimeoutError)
HEARTBEAT_S = 0.5  # seconds between PINGs while Redis is up: a hang is seen within timeout + this


class Cluster:
    """This relay's store and bus in Redis. See the module docstring for the contract.

    ``timeout``: seconds any Redis call may take before Redis counts as unreachable (a hang);
    ``block_ms`` bounds one ``XREAD`` wait (its socket waits ``block_ms / 1000 + timeout``);
    durations otherwise in seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retry_delay: float = 0.1,
        max_retry_delay: float = 1.0,
        block_ms: int = 5000,
        flush_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.id = uuid.uuid4().bytes
        self.connected = False
        self.timeout = timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._block_ms = block_ms
        self._flush_timeout = flush_timeout
        self._room_of: Callable[[str], Room | None] = lambda name: None
        self._writes = RedisWriter(self.id)  # what Redis has not got yet
        self._run_id = ""
        self._follower: RedisReader | None = None
        self.tasks = TaskSet(f"redis {redact(url)}")
        self.tasks.on_death.append(self._loop_died)
        self._dead: str | None = None  # a background loop that stopped, and why
        self._closing = False
        self._recovering: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Cluster:
        no_retry = Retry(NoBackoff(), 0)
        timeout = self.timeout
        self._redis = Redis.from_url(self.url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=no_retry)
        # A blocked XREAD answers after block_ms at the latest: its socket may wait that long plus the timeout.
        self._reader = Redis.from_url(
            self.url, socket_connect_timeout=timeout, socket_timeout=self._block_ms / 1000 + timeout, retry=no_retry
        )
        self._log = RoomLog(self._redis)
        self._follower = RedisReader(self.id, self._room_of, self._log, self._block_ms)
        self._wake = asyncio.Event()
        self._up = asyncio.Event()
        self._progress = asyncio.Event()
        try:
            self._run_id = (await self._redis.info("server"))["run_id"]
            self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.psubscribe(AWARENESS_PATTERN)
        except _FAILURES as exc:
            await self._close_clients()
            raise StoreUnavailable(f"cannot reach Redis at {redact(self.url)}: {exc}") from None
        self._set_up()
        try:
            for name, loop_fn in (
                ("redis writer", self._write_loop),
                ("redis reader", self._read_loop),
                ("redis awareness", self._awareness_loop),
                ("redis heartbeat", self._heartbeat_loop),
            ):
                await self.tasks.start(loop_fn, name)
        except BaseException:
            await self.tasks.stop()
            await self._close_clients()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await asyncio.wait_for(self.flush(), self._flush_timeout)
        except (StoreUnavailable, asyncio.TimeoutError):
            if self._writes.pending_bytes:
                log.error(
                    "redis %s: stopping with %d bytes of updates of %d rooms not written (Redis unreachable); "
                    "other relays' clients may still hold them",
                    redact(self.url),
                    self._writes.pending_bytes,
                    len(self._writes.pending),
                )
        finally:
            self._closing = True
            self.tasks.cancel()
            # redis-py may swallow a cancellation during a blocking read: closing the sockets ends it.
            await self._reader.connection_pool.disconnect()
            await self._pubsub.aclose()
            await self.tasks.stop()
            await self._close_clients()

    async def _close_clients(self) -> None:
        pubsub = getattr(self, "_pubsub", None)
        if pubsub is not None:
            await pubsub.aclose()
        await self._reader.aclose()
        await self._redis.aclose()

    def attach(self, room_of: Callable[[str], Room | None]) -> None:
        """Tell the cluster how to find an open room by name (the relay's room manager)."""
        self._room_of = room_of
        if self._follower is not None:
            self._follower.room_of = room_of

    # -- health ----------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        return self.connected and self._dead is None

    @property
    def problem(self) -> str | None:
        """Why the cluster is not healthy (None when it is)."""
        if self._dead is not None:
            return self._dead
        return None if self.connected else f"Redis at {redact(self.url)} is unreachable"

    def _loop_died(self, name: str, reason: str) -> None:
        """A background loop stopped while the relay runs: unhealthy for good, and flush waiters fail now."""
        self._dead = f"{name} stopped: {reason}"
        self._notify()

    def _set_up(self) -> None:
        self.connected = True
        self._up.set()
        self._notify()

    def _lost(self, exc: BaseException) -> None:
        """A Redis call failed: say so once, and start the recovery unless it runs."""
        if self._closing:
            return
        if self.connected:
            self.connected = False
            self._up.clear()
            log.error(
                "redis %s unreachable (%s: %s); serving connected clients and keeping their updates until it is back",
                redact(self.url),
                type(exc).__name__,
                exc,
            )
            self._notify()
        if (self._recovering is None or self._recovering.done()) and not self.tasks.closed:
            self._recovering = self.tasks.spawn(self._recover(), "redis recovery")

    async def _recover(self) -> None:
        delay = self._retry_delay
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_retry_delay)
            try:
                # Connections a hang left behind may be half-way through a command: start afresh.
                await self._redis.connection_pool.disconnect()
                run_id = (await self._redis.info("server"))["run_id"]
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.psubscribe(AWARENESS_PATTERN)
                except BaseException:
                    await pubsub.aclose()
                    raise
            except _FAILURES:
                continue
            old, self._pubsub = self._pubsub, pubsub
            await old.aclose()
            break
        restarted = run_id != self._run_id
        self._run_id = run_id
        rooms = [room for room in map(self._room_of, self._follower.rooms) if room is not None]
        for room in rooms:
            if restarted:  # Redis may have lost the log: append every open room's whole state again
                self.append(room.name, room.snapshot())
            presence = room.local_awareness()
            if presence is not None:
                self.publish_awareness(room.name, presence)
        self._set_up()
        self._wake.set()
        log.warning(
            "redis %s reachable again%s; resynchronising %d open rooms",
            redact(self.url),
            " (it restarted: open rooms' state written again)" if restarted else "",
            len(rooms),
        )

    # -- Store ------------------------------------------------------------------------------

    async def load(self, room: str) -> list[bytes]:
        """The room's updates (snapshot, log, and what this relay has not written yet); from now on
        the reader follows the room's log until :meth:`forget`."""
        if not self.connected:
            raise StoreUnavailable(f"Redis at {redact(self.url)} is unreachable")
        try:
            updates, last = await self._log.load(room)
        except _FAILURES as exc:
            self._lost(exc)
            raise StoreUnavailable(f"Redis at {redact(self.url)} is unreachable") from None
        self._follower.follow(room, last)
        self._writes.wake_reader = True
        self._wake.set()
        return updates + self._writes.pending.get(room, [])

    def forget(self, room: str) -> None:
        """The room left memory: stop following its log (queued writes still go out)."""
        self._follower.forget(room)

    def append(self, room: str, update: bytes) -> None:
        self._writes.append(room, update)
        self._wake.set()

    def compact(self, room: str, snapshot: bytes) -> None:
        covered = self._follower.position(room)
        if covered is not None:
            self._writes.compact(room, covered, snapshot)  # flush() waits for it too
            self._wake.set()

    async def flush(self) -> None:
        """Return once everything queued before is in Redis; raise :class:`StoreUnavailable` while
        Redis is unreachable."""
        target = self._writes.queued_seq
        while self._writes.written_seq < target:
            if not self.healthy:
                raise StoreUnavailable(self.problem or f"Redis at {redact(self.url)} is unreachable")
            await self._progress.wait()

    def _notify(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    @property
    def backlog_bytes(self) -> int:
        return self._writes.pending_bytes

    def size_bytes(self) -> int:
        """Not measured here (Redis's ``INFO memory`` tells); 0."""
        return 0

    # -- bus -----------------------------------------------------------------------------------

    def publish_awareness(self, room: str, update: bytes) -> None:
        """Send a room's awareness update to the other relays (dropped while Redis is unreachable:
        presence is published again on recovery)."""
        if self.connected:
            self._writes.publish_awareness(room, update)
            self._wake.set()

    # -- tasks ------------------------------------------------------------------------------------

    async def _write_loop(self, ready: Ready) -> None:
        ready()
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            await self._up.wait()
            if not self._writes.waiting:
                continue
            try:
                await self._writes.write(self._redis, self._follower.wake_key)
            except _FAILURES as exc:  # what it held is queued again
                self._lost(exc)
                self._wake.set()
                continue
            self._notify()

    async def _read_loop(self, ready: Ready) -> None:
        ready()
        while not self._closing:
            await self._up.wait()
            try:
                await self._follower.read_logs(self._reader)
            except _FAILURES as exc:
                self._lost(exc)

    async def _heartbeat_loop(self, ready: Ready) -> None:
        """While Redis is up, PING it: a hang with no traffic must be seen too (the PING times out)."""
        ready()
        while not self._closing:
            await self._up.wait()
            try:
                await self._redis.ping()
            except _FAILURES as exc:
                self._lost(exc)
                continue
            await asyncio.sleep(HEARTBEAT_S)

    async def _awareness_loop(self, ready: Ready) -> None:
        ready()
        while not self._closing:
            await self._up.wait()
            pubsub = self._pubsub
            try:
                await self._follower.read_awareness(pubsub)
            except _FAILURES as exc:
                if pubsub is self._pubsub:  # (else the recovery already replaced it)
                    self._lost(exc)
