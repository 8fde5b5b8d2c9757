"""What a client is told when something fails: a close frame it can read, with the catalogued code.

- A client that stops reading gets the close frame 4429 behind what it left unread (standalone relay and
  Jupyter), not a TCP reset; in Jupyter the limit is ``RelayExtension.max_outbox``.
- A fault in the server's own code while it handles a client's update is 1011 and a log line that
  says so, not 4400 (which blames the client's bytes).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import socket
from collections.abc import Mapping

import pytest
from pycrdt import Doc, Text

from helpers import eventually, masked_frame, read_server_frames_until_close
from jupyter_helpers import server_config
from rtc_client import RoomClient
from rtc_client.wire import var_uint8array
from rtc_relay import CloseCode
from rtc_relay.policy import RoomPolicy

STEP1 = bytes((0, 0, 1, 0))  # SyncStep1 with an empty state vector


async def stuck_client(
    port: int, path: str, headers: Mapping[str, str] | None = None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A websocket opened by hand that sends SyncStep1 and then reads nothing until the test reads.

    Its receive buffer is small and its reader stops taking bytes from the socket past 32 KiB, so the
    server's writes back up quickly.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=16 * 1024)
    key = base64.b64encode(os.urandom(16)).decode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    writer.write(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        ).encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 101"), head
    writer.write(masked_frame(STEP1))
    await writer.drain()
    return reader, writer


async def write_until(writer: RoomClient, done, timeout: float = 60.0) -> None:
    """Append 20 kB to the writer's text, letting it send, until ``done()``; fail after ``timeout`` s."""
    text = writer.doc.get("t", type=Text)
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "the stuck client was never dropped"
        text += "y" * 20_000
        await writer.wait_for(lambda: not writer._outgoing, timeout=30)


# -- slow consumer: standalone relay ------------------------------------------------------------------


async def test_a_client_that_stops_reading_reads_a_4429_close_frame_when_it_reads_again(start_relay, connect, caplog):
    relay = await start_relay(max_outbox=64 * 1024)
    writer = await connect(relay.url + "room")
    await writer.wait_synced()
    writer.doc.get("t", type=Text).insert(0, "z" * 8_000_000)  # a room far bigger than the limit
    await writer.flush()
    reader, raw = await stuck_client(relay.port, "/room")
    await eventually(lambda: len(relay.rooms.rooms["room"].subscribers) == 2, what="stuck client subscribed")
    # Its first sync (one 8 MB message) is not held against it while it is on its way ...
    writer.doc.get("t", type=Text).insert(0, "a")
    await writer.flush()  # the update went to the stuck client behind its first sync
    backlogs = [conn._transport.get_write_buffer_size() for conn in relay.connections if conn._transport]
    assert max(backlogs) > 1_000_000 and relay.metrics.closed["slow_consumer"] == 0
    # ... what queues up behind it is.
    await write_until(writer, lambda: relay.metrics.closed["slow_consumer"] == 1)
    assert "closing with 4429 slow_consumer" in caplog.text
    # It reads again: the messages it had not read, then the close frame.
    assert await read_server_frames_until_close(reader, timeout=10) == CloseCode.SLOW_CONSUMER
    raw.close()
    # The writer was never affected.
    late = await connect(relay.url + "room")
    await late.wait_synced()
    assert str(late.doc.get("t", type=Text)) == str(writer.doc.get("t", type=Text))


# -- slow consumer and loading rooms: Jupyter -------------------------------------------------------------


class SlowLoad(RoomPolicy):
    """Rooms named ``slow-*`` load only once ``release`` is set (a store that takes its time)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.loading = asyncio.Event()

    def claims(self, name: str) -> bool:
        return name.startswith("slow-")

    async def load(self, name: str) -> None:
        self.loading.set()
        await asyncio.wait_for(self.release.wait(), 30)
        return None


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    config["RelayExtension"].update(max_outbox=64 * 1024, store="memory")
    return config


async def test_jupyter_drops_a_client_past_max_outbox_with_a_4429_it_can_read(
    collab, jp_serverapp, jp_http_port, jp_base_url, jp_auth_header, caplog
):
    core = jp_serverapp.web_app.settings["rtc_relay"]
    assert core.config.max_outbox == 64 * 1024  # the documented setting, not raised behind its back
    writer = await collab.join("plain-room")
    await writer.wait_synced()
    writer.doc.get("t", type=Text).insert(0, "z" * 8_000_000)  # a room far bigger than the limit
    await writer.flush()
    path = f"{jp_base_url}api/collaboration/room/plain-room"
    reader, raw = await stuck_client(jp_http_port, path, jp_auth_header)
    room = core.rooms.rooms["plain-room"]
    await eventually(lambda: len(room.subscribers) == 2, what="stuck client subscribed")
    # Its first sync (one 8 MB message) is not held against it while it is on the wire ...
    writer.doc.get("t", type=Text).insert(0, "a")
    await writer.flush()  # the update went to the stuck client's stream behind its first sync
    assert max(getattr(peer, "_unwritten", 0) for peer in room.members) > 1_000_000
    assert core.metrics.closed["slow_consumer"] == 0
    # ... what queues up behind it is.
    await write_until(writer, lambda: core.metrics.closed["slow_consumer"] == 1)
    assert "closing with 4429 slow_consumer" in caplog.text
    assert await read_server_frames_until_close(reader, timeout=10) == CloseCode.SLOW_CONSUMER
    raw.close()
    late = await collab.join("plain-room")
    await late.wait_synced()
    assert str(late.doc.get("t", type=Text)) == str(writer.doc.get("t", type=Text))


def text_updates(count: int, size: int) -> list[bytes]:
    """``count`` update messages, each appending ``size`` characters to the text ``t``."""
    doc = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(bytes((0, 2)) + var_uint8array(event.update)))
    text = doc.get("t", type=Text)
    for _ in range(count):
        text += "x" * size
    return updates


async def test_jupyter_reads_no_further_message_while_the_room_loads(
    collab, jp_serverapp, jp_http_port, jp_base_url, jp_auth_header
):
    from websockets.asyncio.client import connect as ws_connect

    core = jp_serverapp.web_app.settings["rtc_relay"]
    policy = SlowLoad()
    core.policies.insert(0, policy)  # a real policy of the relay, whose load waits
    url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/collaboration/room/slow-room"
    size, count = 100_000, 100  # 10 MB sent while the room loads
    async with ws_connect(url, additional_headers=jp_auth_header, max_size=None, ping_interval=None) as ws:
        await asyncio.wait_for(policy.loading.wait(), 10)
        before = core.metrics.bytes_in

        messages = text_updates(count, size)

        async def send(some: list[bytes]) -> None:
            for message in some:
                await ws.send(message)

        async def read() -> None:  # the client reads what comes back (its echoed updates: 10 MB > max_outbox)
            async for _ in ws:
                pass

        await send(messages[:2])
        pong = await ws.ping()
        sender = asyncio.ensure_future(send(messages[2:]))
        reader = asyncio.ensure_future(read())
        try:
            # Until the room is loaded the server takes one message and then reads nothing, not even a ping.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(pong), 1.0)
            assert core.metrics.bytes_in - before <= size + 100
            policy.release.set()
            await asyncio.wait_for(pong, 10)
            await asyncio.wait_for(sender, 30)
        finally:
            policy.release.set()
            sender.cancel()
        # Every message was handled, in order, once the room was loaded.
        assert not reader.done(), "the sender was closed"
        watcher = await collab.join("slow-room")
        await watcher.wait_synced()
        await watcher.wait_for(lambda: len(str(watcher.doc.get("t", type=Text))) == count * size, timeout=10)
        await eventually(lambda: core.metrics.bytes_in - before >= count * size, what="every message handled")
        reader.cancel()


# -- a fault in the server's code is the server's -------------------------------------------------------------


class ObservedRoom(RoomPolicy):
    """Rooms named ``observed-*`` use a document an in-process writer observes; its observer has a bug."""

    def __init__(self) -> None:
        self.docs: dict[str, Doc] = {}

    def claims(self, name: str) -> bool:
        return name.startswith("observed-")

    async def load(self, name: str) -> Doc:
        doc = self.docs[name] = Doc()
        doc.observe(self._on_change)
        return doc

    def _on_change(self, event) -> None:
        raise KeyError("the observer's own bug")


class BuggyHook(RoomPolicy):
    """Rooms named ``hooked-*``: the custom-message hook has a bug (an IndexError of its own)."""

    def claims(self, name: str) -> bool:
        return name.startswith("hooked-")

    def on_custom(self, name, text, payload, reply, writer) -> bool:
        return [][0]


async def test_an_observer_that_raises_is_an_internal_error_not_a_bad_message(start_relay, connect, caplog):
    caplog.set_level(logging.INFO, logger="rtc_relay")
    relay = await start_relay()
    policy = ObservedRoom()
    relay.add_policy(policy)
    watcher = await connect(relay.url + "observed-1")
    await watcher.wait_synced()
    editor = await connect(relay.url + "observed-1")
    await editor.wait_synced()
    caplog.clear()

    editor.doc.get("t", type=Text).insert(0, "hello")
    assert await editor.wait_closed() == CloseCode.INTERNAL_ERROR
    assert "internal error (a bug in the server, not in the client's message)" in caplog.text
    assert "the observer's own bug" in caplog.text  # the traceback names the bug
    assert "bad_message" not in caplog.text
    # The update is in the room's document: the others got it.
    await watcher.wait_for(lambda: str(watcher.doc.get("t", type=Text)) == "hello")
    assert str(policy.docs["observed-1"].get("t", type=Text)) == "hello"


async def test_a_policy_hook_that_raises_is_an_internal_error_not_a_bad_message(start_relay, connect, caplog):
    caplog.set_level(logging.INFO, logger="rtc_relay")
    relay = await start_relay()
    relay.add_policy(BuggyHook())
    client = await connect(relay.url + "hooked-1")
    await client.wait_synced()
    client.save(1)
    assert await client.wait_closed() == CloseCode.INTERNAL_ERROR
    assert "internal error (a bug in the server, not in the client's message)" in caplog.text
    assert "bad_message" not in caplog.text


async def test_jupyter_closes_with_1011_when_a_document_observer_raises(collab, jp_serverapp, caplog):
    caplog.set_level(logging.INFO, logger="rtc_relay")
    core = jp_serverapp.web_app.settings["rtc_relay"]
    core.policies.insert(0, ObservedRoom())
    watcher = await collab.join("observed-j")
    await watcher.wait_synced()
    editor = await collab.join("observed-j")
    await editor.wait_synced()
    editor.doc.get("t", type=Text).insert(0, "hello")
    assert await editor.wait_closed() == CloseCode.INTERNAL_ERROR
    assert "internal error (a bug in the server, not in the client's message)" in caplog.text
    await watcher.wait_for(lambda: str(watcher.doc.get("t", type=Text)) == "hello")


# -- Ctrl+S held down: save requests coalesce ------------------------------------------------------------------


async def test_many_save_requests_at_once_cost_at_most_two_store_flushes(connect, tmp_path):
    from rtc_relay import Relay, RelayConfig
    from rtc_relay.sqlite_store import SQLiteStore

    class CountingStore(SQLiteStore):  # the real SQLite store, counting the flushes asked of it
        flushes = 0

        async def flush(self, **kw) -> None:
            self.flushes += 1
            await super().flush(**kw)

    store = CountingStore(tmp_path / "relay.sqlite")
    async with Relay(RelayConfig(port=0), store=store) as relay:
        client = await connect(relay.url + "ctrl-s")
        await client.wait_synced()
        store.flushes = 0  # (whatever loading the room asked of it)
        client.doc.get("t", type=Text).insert(0, "keep me")
        for request in range(50):  # Ctrl+S held down: 50 requests in one burst
            client.save(request)
        await client.wait_for(lambda: sum(n.get("type") == "save" for n in client.notices) == 50, timeout=20)
        answers = {n["responseTo"]: n["status"] for n in client.notices if n.get("type") == "save"}
        assert answers == {request: "success" for request in range(50)}
        assert 1 <= store.flushes <= 2  # one flush in flight, one queued: not one per request
        await client.close()
