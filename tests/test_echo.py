"""Echo: each document update goes back to its sender too (the default, as the reference y-websocket
server does), which y-websocket 4 needs to count a local edit as confirmed; ``--no-echo`` turns it off.

Real providers in node: y-websocket 1.x (npm alias ``y-websocket-1``), 3.x, and the 4.0 release
candidate (``clients/js/vendor/y-websocket-4.0.0-rc.2``, on Yjs 14), with pycrdt clients beside them.
"""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Text

from rtc_relay.cli import config_from_args

pytestmark = pytest.mark.timeout(40)

UPDATE = (0, 2)
DEADLINE = 10.0
CONFIRMED = {"localUpdatesSynced": True, "status": "green"}


def text(client) -> str:
    return str(client.doc.get("t", type=Text))


async def test_every_y_websocket_version_edits_sees_the_others_and_4_reports_green(relay, connect, node_client):
    room = "team/versions"
    nodes = {v: await node_client(relay.url, room, version=v) for v in ("1", "3", "4")}
    py = await connect(relay.url + room)
    await asyncio.gather(py.wait_synced(), *(n.wait_synced(DEADLINE) for n in nodes.values()))

    tags = {v: f"[y-websocket {v}]" for v in nodes} | {"py": "[pycrdt]"}
    pending = [(n, n.send({"cmd": "insert", "name": "t", "index": 0, "text": tags[v]})) for v, n in nodes.items()]
    py.doc.get("t", type=Text).insert(0, tags["py"])
    for node, request_id in pending:
        await node.answer(request_id)

    await py.wait_for(lambda: all(tag in text(py) for tag in tags.values()), timeout=DEADLINE)
    final = text(py)
    assert len(final) == sum(len(tag) for tag in tags.values())
    await asyncio.gather(*(n.wait_text("t", final, DEADLINE) for n in nodes.values()))
    # y-websocket 4 got its own edit back: confirmed, green.
    status = await nodes["4"].request(
        {"cmd": "wait_sync_status", "equals": CONFIRMED, "timeout": DEADLINE}, DEADLINE + 1
    )
    assert status["value"]["connected"] and status["value"]["receivedInitialSync"]

    # A later edit of 4 turns it yellow (unconfirmed) and green again once echoed.
    since = len(nodes["4"].events)
    await nodes["4"].request({"cmd": "insert", "name": "t", "index": 0, "text": "again "})
    await nodes["4"].wait_event(
        lambda e: e["event"] == "sync_status" and not e["value"]["localUpdatesSynced"], DEADLINE, since
    )
    await nodes["4"].request({"cmd": "wait_sync_status", "equals": CONFIRMED, "timeout": DEADLINE}, DEADLINE + 1)
    await asyncio.gather(*(n.wait_text("t", "again " + final, DEADLINE) for n in nodes.values()))


async def test_without_echo_y_websocket_4_never_confirms_and_others_still_converge(start_relay, node_client):
    relay = await start_relay(echo=False)
    v4 = await node_client(relay.url, "no-echo", version="4")
    v3 = await node_client(relay.url, "no-echo", version="3")
    await asyncio.gather(v4.wait_synced(DEADLINE), v3.wait_synced(DEADLINE))
    await v4.request({"cmd": "insert", "name": "t", "index": 0, "text": "four"})
    await v3.wait_text("t", "four", DEADLINE)
    # v3's edit is relayed after v4's was: once v4 has it, an echo of its own would have come first.
    await v3.request({"cmd": "insert", "name": "t", "index": 4, "text": "+three"})
    await v4.wait_text("t", "four+three", DEADLINE)
    state = await v4.request({"cmd": "get", "text": ["t"]})
    assert state["sync_status"]["localUpdatesSynced"] is False, state


@pytest.mark.parametrize("echo", [True, False])
async def test_pycrdt_clients_get_their_own_update_back_only_with_echo(start_relay, connect, echo):
    relay = await start_relay(echo=echo)
    a = await connect(relay.url + "room")
    b = await connect(relay.url + "room")
    await asyncio.gather(a.wait_synced(), b.wait_synced())
    a.doc.get("t", type=Text).insert(0, "from a")
    await b.wait_for(lambda: text(b) == "from a")
    b.doc.get("t", type=Text).insert(6, " / b")
    await a.wait_for(lambda: text(a) == "from a / b")
    await b.wait_for(lambda: b.received.count(UPDATE) == (2 if echo else 1))
    # Each got the other's update, and its own back only with echo; an echo changes nothing.
    assert a.received.count(UPDATE) == (2 if echo else 1)
    assert text(a) == text(b) == "from a / b"
    assert relay.metrics.updates_in == 2


async def test_a_read_only_clients_dropped_update_is_not_echoed(start_relay, connect):
    relay = await start_relay(token=["w"], read_token=["r"])
    reader = await connect(relay.url + "ro", token="r")
    writer = await connect(relay.url + "ro", token="w")
    await asyncio.gather(reader.wait_synced(), writer.wait_synced())
    reader.doc.get("t", type=Text).insert(0, "dropped")
    await reader.wait_for(lambda: any(n.get("type") == "denied" for n in reader.notices))
    writer.doc.get("t", type=Text).insert(0, "kept")
    await reader.wait_for(lambda: "kept" in text(reader))
    await writer.wait_for(lambda: writer.received.count(UPDATE) == 1)  # its own, echoed
    assert reader.received.count(UPDATE) == 1  # the writer's; its own dropped one never came back
    assert text(writer) == "kept"


def test_echo_is_on_by_default_and_no_echo_turns_it_off():
    assert config_from_args([]).echo is True
    assert config_from_args(["--no-echo"]).echo is False
    assert config_from_args(["--echo"]).echo is True
