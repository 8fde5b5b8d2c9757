"""A room is the whole URL path after the prefix, as the reference y-websocket server takes it:
real pycrdt and node y-websocket clients in rooms with slashes, and the names the relay refuses."""

from __future__ import annotations

import asyncio
import json
import logging
import re

import pytest
from pycrdt import Text

from helpers import close_code_of, http_get, raw_ws
from rtc_common.schema import schema_path
from rtc_relay.catalogue import CloseCode
from rtc_relay.names import MAX_ROOM_NAME, check_room_name, room_name_from_path

pytestmark = pytest.mark.timeout(30)


def text(client) -> str:
    return str(client.doc.get("t", type=Text))


async def test_rooms_with_slashes_are_distinct_and_every_prefix_reaches_them(relay, connect):
    base = relay.url.rstrip("/")
    team = await connect(f"{base}/team/doc-1")
    other = await connect(f"{base}/other/doc-1")
    bare = await connect(f"{base}/doc-1")
    for client in (team, other, bare):
        await client.wait_synced()
    team.doc.get("t", type=Text).insert(0, "team")
    other.doc.get("t", type=Text).insert(0, "other")
    bare.doc.get("t", type=Text).insert(0, "bare")

    # The same room through the Jupyter prefix, percent-encoded, and with a query string.
    for url in (
        f"{base}/api/collaboration/room/team/doc-1",
        f"{base}/team%2Fdoc-1",
        f"{base}/team/doc-1?sessionId=x&other=1",
    ):
        joiner = await connect(url)
        await joiner.wait_for(lambda joiner=joiner: text(joiner) == "team")
    assert text(other) == "other" and text(bare) == "bare"
    assert set(relay.rooms.rooms) == {"team/doc-1", "other/doc-1", "doc-1"}

    status, body = await http_get(f"http://127.0.0.1:{relay.port}/api/rtc/rooms")
    assert status == 200
    assert {"team/doc-1", "other/doc-1", "doc-1"} <= {room["name"] for room in json.loads(body)["rooms"]}


async def test_unicode_and_deep_paths_are_rooms(relay, connect):
    base = relay.url.rstrip("/")
    name = "org/équipe/2026 plan ✓.md"
    encoded = "org/%C3%A9quipe/2026%20plan%20%E2%9C%93.md"
    a = await connect(f"{base}/{encoded}")
    await a.wait_synced()
    a.doc.get("t", type=Text).insert(0, "deep")
    b = await connect(f"{base}/api/collaboration/room/{encoded}")
    await b.wait_for(lambda: text(b) == "deep")
    assert name in relay.rooms.rooms


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "invalid room name: empty"),
        ("api/collaboration/room/", "invalid room name: empty"),
        ("x" * (MAX_ROOM_NAME + 1), f"invalid room name: longer than {MAX_ROOM_NAME} characters"),
        ("team/doc%01", "invalid room name: control character U+0001"),
        ("team/doc%0A", "invalid room name: control character U+000A"),
        ("team/%C2%85", "invalid room name: control character U+0085"),
        ("team/%FF%FE", "invalid room name: not UTF-8 once percent-decoded"),
    ],
)
async def test_what_cannot_be_a_room_is_refused_with_4400_a_reason_and_a_log_line(relay, connect, caplog, path, reason):
    caplog.set_level(logging.INFO, "rtc_relay")
    ws = await raw_ws(relay.url + path)
    assert await close_code_of(ws) == CloseCode.BAD_MESSAGE
    assert ws.protocol.close_rcvd.reason == reason
    logged = [r.getMessage() for r in caplog.records if "closing with 4400" in r.getMessage()]
    assert len(logged) == 1 and reason in logged[0] and "path '/" in logged[0], logged
    assert not relay.rooms.rooms
    # The longest name there may be is a room.
    ok = await connect(relay.url + "x" * MAX_ROOM_NAME)
    await ok.wait_synced()


def test_the_schema_and_the_code_agree():
    with open(schema_path("room-name.json"), encoding="utf-8") as f:
        spec = json.load(f)
    pattern = re.compile(spec["pattern"])
    assert spec["maxLength"] == MAX_ROOM_NAME
    for example in spec["examples"]:
        assert check_room_name(example) == example and pattern.fullmatch(example)
    for bad in ("a\x00b", "a\x1fb", "a\x7fb", "a\x9fb"):
        assert pattern.fullmatch(bad) is None
        with pytest.raises(Exception, match="control character"):
            check_room_name(bad)
    assert room_name_from_path("/api/collaboration/room/json:notebook:abc") == "json:notebook:abc"
    assert room_name_from_path("/json%3Anotebook%3Aabc") == "json:notebook:abc"
    assert room_name_from_path("//lead") == "/lead"  # as the reference server: everything after the first /
    # A client that sends the path's UTF-8 unencoded (the head is read as latin-1): the same room.
    raw = "/team/café".encode().decode("latin-1")
    assert room_name_from_path(raw) == room_name_from_path("/team/caf%C3%A9") == "team/café"


async def test_node_y_websocket_clients_in_rooms_with_slashes(relay, connect, node_client):
    n_team = await node_client(relay.url, "team/doc-1")
    n_other = await node_client(relay.url, "other/doc-1")
    p_team = await connect(relay.url + "team/doc-1")
    await asyncio.gather(n_team.wait_synced(), n_other.wait_synced(), p_team.wait_synced())
    await n_team.request({"cmd": "insert", "name": "t", "index": 0, "text": "from node"})
    await n_other.request({"cmd": "insert", "name": "t", "index": 0, "text": "elsewhere"})
    await p_team.wait_for(lambda: text(p_team) == "from node")
    p_team.doc.get("t", type=Text).insert(0, "python + ")
    await n_team.wait_text("t", "python + from node")
    assert await n_other.text("t") == "elsewhere"
    assert set(relay.rooms.rooms) == {"team/doc-1", "other/doc-1"}
