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
- ``unknown_update``: an update message whose bytes match no sent update and hold no marker of one.

A relay that merges the updates of a loop turn (Hocuspocus; rtc_relay) sends one message holding
several: its updates are found by their markers (``ydata.markers``), each counted as delivered when the
message arrives. ``received_messages`` counts the update messages that brought deliveries while
``measuring`` (deliveries / received_messages: updates per message).

Units: ``send_times`` and receive times are ``time.perf_counter()`` seconds; ``latencies`` holds
seconds, only for deliveries that arrive while ``measuring`` is on; ``deliveries`` counts those.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from time import perf_counter

from wsframe import OP_BINARY, encode_frame
from ydata import UpdateStream, markers
from wsclient import WsClient


class Writer:
    __slots__ = (
        "index",
        "room",
        "stream",
        "client",
        "expected",
        "send_times",
        "remaining",
        "next_seq",
        "inflight",
        "frames",
        "prefix",
    )

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
        self.frames = stream.frames  # what is written for update seq: frames[seq]
        self.prefix = b""

    def address(self, prefix: bytes) -> None:
        """Write each update as a message starting with ``prefix`` (Hocuspocus's ``varString(document)``)."""
        self.prefix = prefix
        self.frames = [encode_frame(OP_BINARY, prefix + m, mask=True) for m in self.stream.messages]


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
        self.received_messages = 0
        self._freed: list[Writer] | None = None  # writers with slots freed by the message being read
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
        if ref is not None:
            if self._deliver(client, ref[0], ref[1], now) and self.measuring:
                self.received_messages += 1
            return
        refs = markers(message)
        if not refs:
            self.errors["unknown_update"] += 1
            return
        delivered = False
        self._freed = freed = []
        try:
            for w, seq in refs:
                if w >= len(self.writers):
                    self.errors["unknown_update"] += 1
                    break
                delivered = self._deliver(client, w, seq, now) or delivered
        finally:
            self._freed = None
        if delivered and self.measuring:
            self.received_messages += 1
        for writer in dict.fromkeys(freed):  # one write per writer for what the whole message freed
            self._pump(writer)

    def _deliver(self, client: WsClient, w: int, seq: int, now: float) -> bool:
        """Count update ``seq`` of writer ``w`` as received by ``client``; True if it is a delivery."""
        if w == client.writer_index:
            if self.measuring:
                self.echoes += 1
            return False
        writer = self.writers[w]
        if writer.room != client.room_index:
            self.errors["cross_room"] += 1
            return False
        last = client.last_seq.get(w, -1)
        if seq <= last:
            self.errors["duplicate"] += 1
            return False
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
                if self._freed is not None:
                    self._freed.append(writer)
                else:
                    self._pump(writer)
            if self.limit is not None and self.completed == self.limit * len(self.writers):
                if not self.done.done():
                    self.done.set_result(None)
        return True

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
        frames = writer.frames
        # One write for the whole batch: fewer syscalls keep the loadgen cheap.
        writer.client.transport.write(frames[start] if end - start == 1 else b"".join(frames[start:end]))
        writer.inflight += end - start
        writer.next_seq = end
        self.sent += end - start

    def _refill(self, writer: Writer, needed: int) -> None:
        stream = writer.stream
        # Small top-ups (~6 ms of pycrdt work each): a long one would stall every client mid-window.
        had = len(stream)
        stream.extend(max(needed - len(stream), 2000))
        if writer.prefix:
            writer.frames += [encode_frame(OP_BINARY, writer.prefix + m, mask=True) for m in stream.messages[had:]]
        grow = len(stream) - len(writer.send_times)
        writer.send_times.extend([0.0] * grow)
        writer.remaining.extend([0] * grow)
        self.refills += 1
