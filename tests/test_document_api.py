"""The HTTP document API of the standalone relay (``/api/rtc/rooms/{room}/update`` and ``/json``): real
relays on port 0, real pycrdt (rtc_client) and node y-websocket clients, SQLite and Redis stores."""

from __future__ import annotations

import base64
import json

import pytest
from pycrdt import Array, Doc, Map, Text

from helpers import eventually, http_request
from rtc_relay.tokens import mint

pytestmark = pytest.mark.timeout(60)

SECRET = "a-secret-of-32-characters-000000"


def api(relay, room: str, action: str = "update", query: str = "") -> str:
    return f"http://127.0.0.1:{relay.port}/api/rtc/rooms/{room}/{action}{query}"


def update_of(**roots) -> bytes:
    doc = Doc()
    for name, value in roots.items():
        doc[name] = value
    return doc.get_update()


async def test_an_update_posted_reaches_every_client_and_the_document_reads_back(
    start_relay, connect, node_client, tmp_path
):
    relay = await start_relay(store=str(tmp_path / "rooms.sqlite"))
    room = "team/doc-1"
    py = await connect(relay.url + room)
    node = await node_client(relay.url, room)
    await py.wait_synced()
    await node.wait_synced()

    status, _, body = await http_request("POST", api(relay, room), update_of(t=Text("from http")))
    assert (status, body) == (204, b"")
    await py.wait_for(lambda: str(py.doc.get("t", type=Text)) == "from http")
    await node.wait_text("t", "from http")

    await node.request({"cmd": "map_set", "name": "m", "key": "k", "value": [1, "two", {"x": 3.5}]})
    await node.request({"cmd": "array_push", "name": "a", "values": [1, 2]})
    await py.wait_for(lambda: "a" in py.doc.keys() and "m" in py.doc.keys())
    status, kind, body = await http_request("GET", api(relay, room, "json"))
    assert (status, kind) == (200, "application/json")
    assert json.loads(body) == {"a": [1, 2], "m": {"k": [1, "two", {"x": 3.5}]}, "t": "from http"}
    status, _, body = await http_request("GET", api(relay, room, "json", "?types=t:array,m:map"))
    assert json.loads(body)["t"] == list("from http")

    status, kind, whole = await http_request("GET", api(relay, room))
    assert (status, kind) == (200, "application/octet-stream")
    copy = Doc()
    copy.apply_update(whole)
    assert str(copy.get("t", type=Text)) == "from http"
    state = copy.get_state()
    await node.request({"cmd": "insert", "name": "t", "index": 0, "text": "node: "})
    await py.wait_for(lambda: str(py.doc.get("t", type=Text)).startswith("node: "))
    sv = base64.urlsafe_b64encode(state).decode().rstrip("=")
    status, _, missing = await http_request("GET", api(relay, room, query=f"?sv={sv}"))
    assert status == 200 and len(missing) < len(whole)
    copy.apply_update(missing)
    assert str(copy.get("t", type=Text)) == "node: from http"
    assert copy.get("m", type=Map).to_py() == py.doc.get("m", type=Map).to_py()

    # Stored like a client's update: after everyone left and the relay restarted, it is all there.
    await py.close()
    await node.close()
    await eventually(lambda: room not in relay.rooms.rooms, what="the room freed")
    await relay.stop()
    again = await start_relay(store=str(tmp_path / "rooms.sqlite"))
    status, _, body = await http_request("GET", api(again, room, "json", "?types=t:text"))
    assert json.loads(body)["t"] == "node: from http"
    assert (await http_request("GET", api(again, "other/doc-1", "json")))[2] == b"{}"  # rooms stay distinct


async def test_a_malformed_update_is_refused_and_nothing_is_applied_or_stored(start_relay, connect):
    relay = await start_relay()
    client = await connect(relay.url + "r")
    await client.wait_synced()
    client.doc.get("t", type=Text).insert(0, "kept")
    await eventually(lambda: relay.rooms.rooms["r"].doc.get_update() != b"\x00\x00", what="the edit")
    before = (await http_request("GET", api(relay, "r")))[2]
    stored = await relay.store.load("r")
    good = update_of(t=Text("x"))
    for bad in (b"\x05garbage", good[: len(good) // 2], b""):
        status, kind, body = await http_request("POST", api(relay, "r"), bad)
        assert (status, kind) == (400, "application/json"), bad
        answer = json.loads(body)
        assert answer["error"] == "bad_request" and "does not decode" in answer["message"], answer
    assert (await http_request("GET", api(relay, "r")))[2] == before
    assert await relay.store.load("r") == stored
    assert not client.closed.is_set()
    for url, error in (
        (api(relay, "r", query="?sv=%%%"), "bad_request"),
        (api(relay, "r", query="?sv=BQ"), "bad_request"),  # base64, but no state vector
        (api(relay, "r", "json", "?types=t"), "bad_request"),
        (api(relay, "r", "nope"), "not_found"),
    ):
        status, _, body = await http_request("GET", url)
        assert json.loads(body)["error"] == error, (url, body)
    status, _, body = await http_request("DELETE", api(relay, "r"))
    assert status == 405


async def test_a_room_not_in_memory_is_loaded_for_the_request_and_freed_afterwards(start_relay, tmp_path):
    relay = await start_relay(store=str(tmp_path / "rooms.sqlite"), cleanup_delay=0.3)
    status, _, _ = await http_request("POST", api(relay, "cold/room"), update_of(m=Map({"n": 1})))
    assert status == 204
    await eventually(lambda: not relay.rooms.rooms, timeout=5, what="the room freed once idle")
    status, _, body = await http_request("GET", api(relay, "cold/room", "json"))
    assert json.loads(body) == {"m": {"n": 1}}
    await eventually(lambda: not relay.rooms.rooms, timeout=5, what="the room freed again")
    assert relay.metrics.rooms_freed == 2


async def test_tokens_guard_the_document_api_as_they_guard_the_websocket(start_relay, connect):
    relay = await start_relay(token_secret=[SECRET], read_token=["static-read"])
    room = "team/doc-1"
    write = mint(SECRET, room=room, user="app")
    read = mint(SECRET, prefix="team/", access="read")
    doc = update_of(t=Text("signed"))

    async def call(method: str, token: str | None, *, header: bool = False, body: bytes | None = None):
        query = f"?token={token}" if token and not header else ""
        headers = {"Authorization": f"Bearer {token}"} if token and header else {}
        status, _, answer = await http_request(method, api(relay, room, query=query), body, headers)
        return status, (json.loads(answer) if status >= 400 else None)

    assert await call("POST", None, body=doc) == (
        401,
        {"error": "unauthorized", "message": "a valid token is required"},
    )
    assert (await call("POST", write, header=True, body=doc))[0] == 204
    assert (await call("GET", read))[0] == 200
    assert (await call("GET", "static-read", header=True))[0] == 200
    status, answer = await call("POST", read, body=doc)
    assert status == 403 and answer["error"] == "forbidden" and "read-only" in answer["message"]
    assert (await call("POST", "static-read", body=doc))[0] == 403
    other = mint(SECRET, room="team/doc-2")
    assert await call("GET", other) == (401, {"error": "unauthorized", "message": "token not for this room"})
    expired = mint(SECRET, room=room, expires_in=-1)
    assert await call("GET", expired) == (401, {"error": "unauthorized", "message": "token expired"})
    client = await connect(relay.url + room, token=read)
    await client.wait_synced()
    assert str(client.doc.get("t", type=Text)) == "signed"


async def test_an_update_posted_to_one_relay_reaches_the_clients_of_another_through_redis(
    start_relay, connect, redis_server
):
    a = await start_relay(redis_url=redis_server.url, store="")
    b = await start_relay(redis_url=redis_server.url, store="")
    on_b = await connect(b.url + "shared/doc")
    await on_b.wait_synced()
    status, _, _ = await http_request("POST", api(a, "shared/doc"), update_of(t=Text("via a")))
    assert status == 204
    await on_b.wait_for(lambda: str(on_b.doc.get("t", type=Text)) == "via a", timeout=10)
    status, _, body = await http_request("GET", api(b, "shared/doc", "json"))
    assert json.loads(body) == {"t": "via a"}
    # Arrays of maps, as apps write them, read back as JSON lists of objects.
    status, _, _ = await http_request("POST", api(b, "shared/list"), update_of(l=Array([Map({"id": 1})])))
    status, _, body = await http_request("GET", api(a, "shared/list", "json"))
    assert json.loads(body) == {"l": [{"id": 1}]}


async def test_the_python_client_reads_and_writes_documents_over_http(start_relay, connect):
    from rtc_client import RelayClient
    from rtc_client.errors import BadRequest, Forbidden

    relay = await start_relay(token_secret=[SECRET])
    room = "team/ü doc?"
    watcher = await connect(relay.url + "team/%C3%BC%20doc%3F", token=mint(SECRET, prefix="team/"))
    await watcher.wait_synced()
    async with RelayClient(relay.url, token=mint(SECRET, prefix="team/")) as client:
        await client.apply_update(room, update_of(t=Text("über")))
        await watcher.wait_for(lambda: str(watcher.doc.get("t", type=Text)) == "über")
        assert await client.document_json(room) == {"t": "über"}
        assert await client.document_json(room, {"t": "array"}) == {"t": list("über")}
        doc = Doc()
        doc.apply_update(await client.document_update(room))
        watcher.doc.get("t", type=Text).insert(0, "+")
        await eventually(lambda: "+" in str(relay.rooms.rooms[room].doc.get("t", type=Text)), what="the edit")
        doc.apply_update(await client.document_update(room, doc.get_state()))
        assert str(doc.get("t", type=Text)) == "+über"
        with pytest.raises(BadRequest, match="does not decode"):
            await client.apply_update(room, b"\x05garbage")
    async with RelayClient(relay.url, token=mint(SECRET, prefix="team/", access="read")) as reader:
        with pytest.raises(Forbidden, match="read-only"):
            await reader.apply_update(room, update_of(t=Text("no")))
