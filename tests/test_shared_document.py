"""A room whose policy hands the relay an in-process writer's document: one copy, both ways, no echo."""

from __future__ import annotations

import logging

from pycrdt import Doc, Text

from helpers import eventually
from rtc_relay.policy import RoomPolicy

UPDATE = (0, 2)


class WriterPolicy(RoomPolicy):
    """Rooms ``owned-*``: the content is this process's own document (as the supernode's notebooks)."""

    persist = False

    def __init__(self) -> None:
        self.docs: dict[str, Doc] = {}

    def claims(self, name: str) -> bool:
        return name.startswith("owned-")

    async def load(self, name: str) -> Doc:
        doc = self.docs[name] = Doc()
        doc.get("t", type=Text).insert(0, "from the file")
        return doc


async def test_the_room_uses_the_writers_document_both_ways_without_echo(relay, connect):
    policy = WriterPolicy()
    relay.add_policy(policy)
    channel = relay.open_local("owned-a", label="writer", keeps_room=True)
    await relay.load_room("owned-a")
    room = relay.rooms.rooms["owned-a"]
    doc = policy.docs["owned-a"]
    assert room.doc is doc  # one copy

    client = await connect(relay.url + "owned-a")
    await client.wait_synced()
    text = client.doc.get("t", type=Text)
    assert str(text) == "from the file"

    doc.get("t", type=Text).insert(len("from the file"), " + the server")  # the writer's transaction
    await client.wait_for(lambda: str(text) == "from the file + the server")
    text += " + a client"
    await eventually(lambda: str(doc.get("t", type=Text)) == "from the file + the server + a client", timeout=5)

    other = await connect(relay.url + "owned-a")
    await other.wait_synced()
    assert str(other.doc.get("t", type=Text)) == "from the file + the server + a client"
    assert client.received.count(UPDATE) == 1  # the writer's one update; its own never came back
    await channel.close()


async def test_a_freed_room_stops_following_the_document(relay, connect, caplog):
    caplog.set_level(logging.ERROR, "rtc_relay.room")
    policy = WriterPolicy()
    relay.add_policy(policy)
    channel = relay.open_local("owned-b", label="writer")
    await relay.load_room("owned-b")
    room = relay.rooms.rooms["owned-b"]
    await channel.close()
    await eventually(lambda: "owned-b" not in relay.rooms.rooms, timeout=5, what="the room freed")
    before = relay.metrics.updates_in
    policy.docs["owned-b"].get("t", type=Text).insert(0, "after the room")  # nobody listens any more
    assert relay.metrics.updates_in == before
    assert room._shared is None
    assert "failed" not in caplog.text
