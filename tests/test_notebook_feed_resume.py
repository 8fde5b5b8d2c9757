"""The change feed resumes: a client that reconnects gets every event it missed, exactly once, or a clear
``resync`` with the whole notebook; a slow subscriber is bounded; a room freed and loaded again is no gap."""

from __future__ import annotations

import asyncio
import socket

import pytest

from feed_helpers import Follower, Model
from helpers import eventually
from jupyter_helpers import server_config, write_notebook

DEADLINE = 30.0


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    config["NotebookFeeds"] = {"heartbeat": 0.5, "linger": 30.0}
    return config


def feeds_of(jp_serverapp):
    return jp_serverapp.web_app.settings["supernode_notebook_feeds"]


async def read_events(events, count: int) -> list[dict]:
    got = []
    async for event in events:
        got.append(event)
        if len(got) == count:
            return got
    return got


def model_cells(nb) -> list[dict]:
    cells = []
    for cell in nb.cells:
        data = cell.to_dict()
        data["id"] = cell.id
        if data["cell_type"] == "code":
            data["execution_state"] = cell.execution_state or "idle"
        cells.append(data)
    return cells


async def test_a_client_that_reconnects_with_last_event_id_gets_exactly_the_events_it_missed(
    server, collab, jp_root_dir
):
    path = write_notebook(jp_root_dir, "resume.ipynb", ["a", "b"])
    async with await server.open_notebook(path) as nb:
        first = nb.cells[0]
        async with server.notebook_events(path, reconnect=False) as events:
            (snapshot,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
            model = Model()
            model.apply(snapshot)
            first.insert(1, "1")
            (seen,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
            model.apply(seen)
        # Disconnected: these happen while nobody listens.
        for ch in "éx😀":
            first.insert(len(first.source), ch)
        nb.append_cell("c")
        await nb.flush()
        missed = 4
        async with server.notebook_events(path, since=seen["id"], reconnect=False) as events:
            resumed = await asyncio.wait_for(read_events(events, missed), DEADLINE)
            first.insert(0, "!")
            (live,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
        assert [e["id"] for e in resumed] == list(range(seen["id"] + 1, seen["id"] + 1 + missed))
        assert [e["event"] for e in resumed] == ["source_changed"] * 3 + ["cell_added"]
        assert live["id"] == resumed[-1]["id"] + 1
        for event in [*resumed, live]:
            model.apply(event)  # asserts the ids follow each other: no gap, no duplicate
        assert model.cells == model_cells(nb)


async def test_the_client_resumes_by_itself_after_the_connection_drops(server, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "drop.ipynb", ["a"])
    async with await server.open_notebook(path) as nb:
        events = server.notebook_events(path)
        follower = Follower(events)
        try:
            await follower.until(lambda e: e["event"] == "snapshot")
            cell = nb.cells[0]
            cell.insert(1, "1")
            await follower.until(lambda e: e["event"] == "source_changed")
            events._writer.transport.abort()  # the network drops the connection
            for ch in "234":
                cell.insert(len(cell.source), ch)
            await follower.until(lambda e: e["event"] == "source_changed" and e["data"]["edits"][0]["text"] == "4")
            assert events.connections == 2
        finally:
            await follower.close()
        model = Model()
        for event in follower.events:
            model.apply(event)  # ids contiguous across the reconnection
        assert model.cells == model_cells(nb)
        assert len(follower.of("snapshot")) == 1 and not follower.of("resync")


async def test_events_too_old_to_resume_from_get_a_resync_with_the_notebook(server, collab, jp_root_dir, jp_serverapp):
    from rtc_client.errors import BadRequest

    feeds_of(jp_serverapp).max_events = 5
    path = write_notebook(jp_root_dir, "old.ipynb", ["a"])
    async with await server.open_notebook(path) as nb:
        async with server.notebook_events(path, reconnect=False) as events:
            (snapshot,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
        cell = nb.cells[0]
        for i in range(20):
            cell.insert(len(cell.source), str(i % 10))
        await nb.flush()
        await eventually(
            lambda: (
                feeds_of(jp_serverapp).feeds
                and all(f.ring.head >= snapshot["id"] + 20 for f in feeds_of(jp_serverapp).feeds.values())
            ),
            DEADLINE,
            "the edits in the feed",
        )
        async with server.notebook_events(path, since=snapshot["id"], reconnect=False) as events:
            (resync,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
        assert resync["event"] == "resync" and resync["data"]["reason"] == "too_old"
        assert [c["source"] for c in resync["data"]["notebook"]["cells"]] == ["a" + "0123456789" * 2]
        assert resync["id"] == snapshot["id"] + 20
        async with server.notebook_events(path, since=resync["id"] + 1000, reconnect=False) as events:
            (unknown,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
        assert unknown["event"] == "resync" and unknown["data"]["reason"] == "unknown"
        with pytest.raises(BadRequest):
            async with server.notebook_events(path, since=-1, reconnect=False) as events:
                await read_events(events, 1)


async def test_a_slow_subscriber_gets_resync_instead_of_growing_the_servers_memory(
    server, collab, jp_root_dir, jp_serverapp, jp_http_port, jp_base_url
):
    feeds = feeds_of(jp_serverapp)
    feeds.max_bytes = 256 * 1024
    code = "import sys, time\nfor i in range(300):\n    sys.stdout.write(str(i) + ' ' + 'x' * 100_000 + '\\n')\n    time.sleep(0.002)"
    path = write_notebook(jp_root_dir, "slow.ipynb", [code])
    # A subscriber that stops reading: a tiny receive buffer, nothing read until the cell has printed 30 MB.
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", jp_http_port))
        token = jp_serverapp.identity_provider.token
        request = (
            f"GET {jp_base_url}api/rtc/notebooks/{path}/events HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
            f"Authorization: token {token}\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        assert (await asyncio.wait_for(loop.sock_recv(sock, 100), DEADLINE)).startswith(b"HTTP/1.1 200")
        await _read_slowly(server, feeds, path, sock)
    finally:
        sock.close()


async def _read_slowly(server, feeds, path, sock) -> None:
    loop = asyncio.get_running_loop()
    (feed,) = feeds.feeds.values()
    first = feed.ring.head
    execution = await server.execute(path)
    await execution.wait(DEADLINE, check=True)
    produced = sum(len(e.data) for e in feed.ring._events)  # what the ring still holds: bounded
    assert feed.ring.size <= 256 * 1024 + 120_000 and produced == feed.ring.size
    assert feed.ring.head - first > 5
    # Now read it all: the subscriber finds itself behind and is told so, with the notebook as it is.
    received = 0
    text = b""
    deadline = loop.time() + DEADLINE
    told = b'event: resync\ndata: {"reason":"behind","notebook":'
    while told not in text:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), max(0.1, deadline - loop.time()))
        assert chunk, "the stream ended"
        received += len(chunk)
        text = (text + chunk)[-(2 << 20) :]
    async with await server.open_notebook(path) as nb:
        # A room loaded again (progressive loading) sends an output this large after the cells, a million
        # characters at a time.
        def whole() -> bool:
            outputs = nb.cells[0].outputs
            return bool(outputs) and len(outputs[0]["text"]) > 30_000_000

        await nb.wait_for(whole, DEADLINE)
    assert received < 30_000_000  # the 30 MB printed were not all queued for it


async def test_a_room_freed_and_loaded_again_is_no_gap(server, collab, jp_root_dir, jp_serverapp):
    import nbformat

    documents = jp_serverapp.web_app.settings["supernode_documents"]
    path = write_notebook(jp_root_dir, "reload.ipynb", ["a"])
    follower = Follower(server.notebook_events(path))
    try:
        snapshot = await follower.until(lambda e: e["event"] == "snapshot")
        room = next(iter(feeds_of(jp_serverapp).feeds))
        # The feed does not keep the room: with no client it is freed, and the feed lets its document go.
        await eventually(lambda: room not in documents.live, DEADLINE, "the room to be freed")
        async with await server.open_notebook(path) as nb:  # loaded again, unchanged: nothing to tell
            nb.cells[0].insert(1, "1")
            await follower.until(lambda e: e["event"] == "source_changed")
        assert not follower.of("resync")
        await eventually(lambda: room not in documents.live, DEADLINE, "the room to be freed again")
        # Changed on disk while no room holds it: the next load tells the subscribers with a resync.
        notebook = nbformat.reads((jp_root_dir / path).read_text(), as_version=4)
        notebook.cells.append(nbformat.v4.new_code_cell("written on disk"))
        (jp_root_dir / path).write_text(nbformat.writes(notebook))
        async with await server.open_notebook(path) as nb:
            resync = await follower.until(lambda e: e["event"] == "resync")
            assert resync["data"]["reason"] == "reloaded"
            assert [c["source"] for c in resync["data"]["notebook"]["cells"]] == ["a1", "written on disk"]
            nb.cells[1].insert(0, "# ")
            await follower.until(lambda e: e["event"] == "source_changed" and e["data"]["cell_id"] == nb.cells[1].id)
    finally:
        await follower.close()
    model = Model()
    for event in follower.events:
        model.apply(event)
    assert [c["source"] for c in model.cells] == ["a1", "# written on disk"]
    assert follower.events[0] is snapshot


async def test_a_subscriber_that_takes_in_nothing_is_disconnected(
    server, collab, jp_root_dir, jp_serverapp, jp_http_port, jp_base_url, caplog
):
    feeds = feeds_of(jp_serverapp)
    feeds.write_timeout = 1.0
    code = "import sys, time\nfor i in range(100):\n    sys.stdout.write(str(i) + ' ' + 'x' * 100_000 + '\\n')\n    time.sleep(0.002)"
    path = write_notebook(jp_root_dir, "stalled.ipynb", [code])
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", jp_http_port))
        token = jp_serverapp.identity_provider.token
        request = (
            f"GET {jp_base_url}api/rtc/notebooks/{path}/events HTTP/1.1\r\nHost: 127.0.0.1:{jp_http_port}\r\n"
            f"Authorization: token {token}\r\n\r\n"
        )
        await loop.sock_sendall(sock, request.encode())
        assert (await asyncio.wait_for(loop.sock_recv(sock, 100), DEADLINE)).startswith(b"HTTP/1.1 200")
        (feed,) = feeds.feeds.values()
        execution = await server.execute(path)
        await execution.wait(DEADLINE, check=True)
        await eventually(lambda: feed.subscribers == 0, DEADLINE, "the stalled subscriber to be disconnected")
        assert any("took more than 1.0s to take in its events" in r.getMessage() for r in caplog.records)
        received = 0
        while chunk := await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), DEADLINE):
            received += len(chunk)
        assert received < 10_000_000  # the connection ended: what was written before, then nothing
    finally:
        sock.close()


async def test_the_stream_ends_with_not_found_once_a_deleted_notebook_s_room_is_freed(server, collab, jp_root_dir):
    from rtc_client.errors import NotFound

    path = write_notebook(jp_root_dir, "doomed.ipynb", ["a"])
    events = server.notebook_events(path)
    follower = Follower(events)
    try:
        await follower.until(lambda e: e["event"] == "snapshot")
        await server.rest.request("DELETE", f"api/contents/{path}")
        await eventually(lambda: follower.error is not None, DEADLINE, "the stream to end")
        assert isinstance(follower.error, NotFound) and "was deleted" in str(follower.error)
    finally:
        await follower.close()
    with pytest.raises(NotFound):
        async with server.notebook_events(path, reconnect=False) as again:
            await read_events(again, 1)


async def test_an_id_of_a_feed_that_has_ended_gets_a_resync_from_the_next_one(
    server, collab, jp_root_dir, jp_serverapp
):
    feeds = feeds_of(jp_serverapp)
    feeds.linger = 0.1
    path = write_notebook(jp_root_dir, "ended.ipynb", ["a"])
    async with server.notebook_events(path, reconnect=False) as events:
        (snapshot,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
    await eventually(lambda: not feeds.feeds, DEADLINE, "the feed to end after its linger")
    async with server.notebook_events(path, since=snapshot["id"], reconnect=False) as events:
        (resync,) = await asyncio.wait_for(read_events(events, 1), DEADLINE)
    assert resync["event"] == "resync" and resync["data"]["reason"] == "too_old"
    assert resync["id"] > snapshot["id"]  # numbers only grow, from one feed of a notebook to the next
