"""Closed-loop update traffic of one run: writers send, receivers check and time what arrives.

A writer keeps at most ``window`` updates in flight. An update completes when every other client of
its room has received it; completing frees one slot and the writer sends its next update at once.

Receivers identify an update by its message bytes through the shared registry of the workload
(message -> (writer, seq)). Anything unexpected is counted in ``errors`` rather than raised, so a
misbehaving relay still yields a report. A writer receiving its own update is no error: a relay that
echoes (the reference y-websocket server, ours by default) sends it back; ``echoes`` counts those that
arrive while ``measuring`` is on, apart from ``deliveries``. The errors:
- ``cross_room``: an update reached a client of another room;
- ``duplicate``: the same update reached the same client twice (or arrived after a later one);
- ``out_of_order``: a client got a writer's update while an earlier one is still missing;
- ``unknown_update``: an update message whose bytes match no sent update (re-encoded or merged).

Units: ``send_times`` and receive times are ``time.perf_counter()`` seconds; ``latencies`` holds
seconds, only for deliveries that arrive while ``measuring`` is on; ``deliveries`` counts those.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from time import perf_counter

from ydata import UpdateStream
from wsclient import WsClient


class Writer:
    __slots__ = ("index", "room", "stream", "client", "expected", "send_times", "remaining", "next_seq", "inflight")

    def __init__(self, index: int, room: int, stream: UpdateStream, expected: int) -> None:
        if expected < 1:
            raise ValueError("a writer needs at least one other client in its room")
        self.index = index
        self.room = room
        self.stream = stream
        self.client: WsClient | None = None
        self.expected = expected  # receivers per update = clients in the room - 1
        self.send_times = [0.0] * len(stream)
        self.remaining = [0] * len(stream)
        self.next_seq = 0
        self.inflight = 0


class Traffic:
    """Owns the per-run send/receive state; ``sink`` is the ``WsClient`` update callback.

    ``limit``: if set, each writer sends exactly that many updates and ``done`` resolves when all of
    them completed; if None, writers send until ``stop()`` and streams are extended when they run dry
    (``refills`` counts it: raise the workload's budget if it is not 0).
    """

    def __init__(self, writers: list[Writer], window: int, limit: int | None = None) -> None:
        self.writers = writers
        self.window = window
        self.limit = limit
        self.registry = writers[0].stream.registry if writers else {}
        self.running = False
        self.measuring = False
        self.deliveries = 0
        self.echoes = 0
        self.latencies: list[float] = []
        self.sent = 0
        self.completed = 0
        self.refills = 0
        self.errors: Counter[str] = Counter()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        self.running = True
        for writer in self.writers:
            self._pump(writer)

    def stop(self) -> None:
        self.running = False

    def sink(self, client: WsClient, message: bytes, now: float) -> None:
        ref = self.registry.get(message)
        if ref is None:
            self.errors["unknown_update"] += 1
            return
        w, seq = ref
        if w == client.writer_index:
            if self.measuring:
                self.echoes += 1
            return
        writer = self.writers[w]
        if writer.room != client.room_index:
            self.errors["cross_room"] += 1
            return
        last = client.last_seq.get(w, -1)
        if seq <= last:
            self.errors["duplicate"] += 1
            return
        if seq != last + 1:
            self.errors["out_of_order"] += 1
        client.last_seq[w] = seq
        if self.measuring:
            self.deliveries += 1
            self.latencies.append(now - writer.send_times[seq])
        left = writer.remaining[seq] - 1
        writer.remaining[seq] = left
        if left == 0:
            writer.inflight -= 1
            self.completed += 1
            if self.running:
                self._pump(writer)
            if self.limit is not None and self.completed == self.limit * len(self.writers):
                if not self.done.done():
                    self.done.set_result(None)

    def _pump(self, writer: Writer) -> None:
        start = writer.next_seq
        end = start + self.window - writer.inflight
        if self.limit is not None:
            end = min(end, self.limit)
        if end <= start:
            return
        if end > len(writer.stream):
            self._refill(writer, end)
        now = perf_counter()
        send_times, remaining, expected = writer.send_times, writer.remaining, writer.expected
        for seq in range(start, end):
            send_times[seq] = now
            remaining[seq] = expected
        frames = writer.stream.frames
        # One write for the whole batch: fewer syscalls keep the loadgen cheap.
        writer.client.transport.write(frames[start] if end - start == 1 else b"".join(frames[start:end]))
        writer.inflight += end - start
        writer.next_seq = end
        self.sent += end - start

    def _refill(self, writer: Writer, needed: int) -> None:
        stream = writer.stream
        # Small top-ups (~6 ms of pycrdt work each): a long one would stall every client mid-window.
        stream.extend(max(needed - len(stream), 2000))
        grow = len(stream) - len(writer.send_times)
        writer.send_times.extend([0.0] * grow)
        writer.remaining.extend([0] * grow)
        self.refills += 1
