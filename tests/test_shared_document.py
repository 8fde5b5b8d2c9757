"""A room whose policy hands the relay an in-process writer's document, written through a direct
connection: one copy, both ways, no echo; holds and the policy's veto keep the room."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pycrdt import Doc, Text

from helpers import eventually
from rtc_relay.join_state import JoinState
from rtc_relay.local import ChannelClosed
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
    channel = relay.open_direct("owned-a", label="writer")
    channel.hold("test")
    await channel.ready(timeout=5)
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

    await client.wait_for(lambda: client.received.count(UPDATE) == 2)  # the writer's, and its own (echo)
    other = await connect(relay.url + "owned-a")
    await other.wait_synced()
    assert str(other.doc.get("t", type=Text)) == "from the file + the server + a client"
    # The room applied the client's update to the writer's document: that is not sent again as the writer's.
    assert client.received.count(UPDATE) == 2
    channel.close()


async def test_a_freed_room_stops_following_the_document(relay, connect, caplog):
    caplog.set_level(logging.ERROR, "rtc_relay.room")
    policy = WriterPolicy()
    relay.add_policy(policy)
    channel = relay.open_direct("owned-b", label="writer")
    await channel.ready(timeout=5)
    await eventually(lambda: "owned-b" not in relay.rooms.rooms, timeout=5, what="the room freed")
    assert channel.closed.is_set() and channel.close_reason == "the room was freed"
    before = relay.metrics.updates_in
    policy.docs["owned-b"].get("t", type=Text).insert(0, "after the room")  # nobody listens any more
    assert relay.metrics.updates_in == before
    assert "failed" not in caplog.text


class VetoPolicy(WriterPolicy):
    """Keeps an idle room while ``busy`` names it (as a save in flight does)."""

    def __init__(self) -> None:
        super().__init__()
        self.busy: set[str] = set()
        self.asked = 0
        self.freed: list[str] = []

    def keep(self, name: str) -> str | None:
        self.asked += 1
        return "busy" if name in self.busy else None

    def on_freed(self, name: str) -> None:
        self.freed.append(name)


async def test_holds_and_the_policys_veto_keep_an_idle_room_and_never_hang(relay, connect):
    policy = VetoPolicy()
    relay.add_policy(policy)
    async with relay.open_direct("owned-c", label="writer") as direct:
        direct.hold("execution queued")
        client = await connect(relay.url + "owned-c")
        await client.wait_synced()
        await client.close()
        await asyncio.sleep(0)  # (the room's cleanup is not even scheduled while held)
        assert relay.rooms.rooms["owned-c"].cleanup is None and direct.holds == {"execution queued": 1}

        policy.busy.add("owned-c")
        direct.release("execution queued")  # no hold left: the policy is asked, and vetoes
        await eventually(lambda: policy.asked >= 2, timeout=5, what="the policy asked twice")
        assert "owned-c" in relay.rooms.rooms and not direct.closed.is_set()

        policy.busy.clear()  # its save landed: the next check frees the room
        await asyncio.wait_for(direct.wait_closed(), 5)
        assert policy.freed == ["owned-c"] and "owned-c" not in relay.rooms.rooms
        with pytest.raises(ValueError, match="no hold"):
            direct.release("execution queued")

    # A second load of the same room does not wait for anything: the first is gone.
    async with relay.open_direct("owned-c", label="writer again") as again:
        assert str(again.doc.get("t", type=Text)) == "from the file"


async def test_a_room_has_one_direct_connection(relay):
    relay.add_policy(WriterPolicy())
    async with relay.open_direct("owned-d", label="first") as first:
        second = relay.open_direct("owned-d", label="second")
        with pytest.raises(ChannelClosed, match="direct connection already"):
            await second.ready(timeout=5)
        assert not first.closed.is_set()


async def writer_room(relay, connect, name: str, clients: int = 1):
    """Room ``name`` held by an in-process writer's direct connection, and ``clients`` synced clients:
    ``(channel, the writer's document, clients)``."""
    policy = WriterPolicy()
    relay.add_policy(policy)
    channel = relay.open_direct(name, label="writer")
    channel.hold("test")
    await channel.ready(timeout=5)
    synced = [await connect(relay.url + name) for _ in range(clients)]
    for client in synced:
        await client.wait_synced()
    return channel, policy.docs[name], synced


def update_made_elsewhere(doc: Doc, write) -> bytes:
    """The update ``write(text)`` makes in a copy of ``doc`` (another document: a stage of a load)."""
    elsewhere = Doc()
    elsewhere.apply_update(doc.get_update())
    before = elsewhere.get_state()
    write(elsewhere.get("t", type=Text))
    return elsewhere.get_update(before)


async def test_an_update_made_elsewhere_reaches_the_clients_as_it_is_and_once(relay, connect):
    """``apply``: an update built in another document (a stage of a load) goes into the room's
    document and to each client once, the very bytes; the writer's own transactions still go out."""
    channel, doc, (client,) = await writer_room(relay, connect, "owned-e")
    text = client.doc.get("t", type=Text)

    stage = update_made_elsewhere(doc, lambda t: t.insert(len("from the file"), " + a stage"))
    channel.apply(stage)
    assert str(doc.get("t", type=Text)) == "from the file + a stage"
    await client.wait_for(lambda: str(text) == "from the file + a stage")
    doc.get("t", type=Text).insert(0, "> ")  # the writer's transactions are still followed
    await client.wait_for(lambda: str(text) == "> from the file + a stage")
    assert client.received.count(UPDATE) == 2  # the stage once, then the writer's edit

    with pytest.raises(ValueError):
        channel.apply(b"not an update")
    doc.get("t", type=Text).insert(0, "!")  # a refused update leaves the connection following
    await client.wait_for(lambda: str(text) == "!> from the file + a stage")
    channel.close()
    assert not channel.following
    with pytest.raises(RuntimeError):
        channel.apply(stage)


async def test_a_large_update_of_the_writer_reaches_every_client_whole(relay, connect):
    """An update of a megabyte or more goes out as its frame's head and the update itself (not copied
    into one buffer): each client gets one well-formed message holding it, before what follows."""
    channel, doc, clients = await writer_room(relay, connect, "owned-f", clients=2)
    big = "".join(f"line {i:07d} of a long log\n" for i in range(120_000))  # ~3 MB
    doc.get("t", type=Text).insert(0, big)  # the writer's transaction
    channel.apply(update_made_elsewhere(doc, lambda t: t.insert(0, big)))  # an update made elsewhere, as large
    doc.get("t", type=Text).insert(0, "> ")  # a small one after them
    expected = str(doc.get("t", type=Text))
    assert len(expected) > 6_000_000
    for client in clients:
        text = client.doc.get("t", type=Text)
        await client.wait_for(lambda text=text: str(text) == expected, timeout=10)
        assert client.received.count(UPDATE) == 3
    channel.close()


SYNC_STEP2 = (0, 1)


async def joined(relay, connect, name: str, doc: Doc):
    """A new client of room ``name``, once its text is that of ``doc``."""
    client = await connect(relay.url + name)
    text, expected = client.doc.get("t", type=Text), str(doc.get("t", type=Text))
    await client.wait_for(lambda: str(text) == expected, timeout=5)
    return client


def synced_by(client) -> list:
    """The document's messages the client received (SyncStep2 and updates), in order."""
    return [kind for kind in client.received if kind in (SYNC_STEP2, UPDATE)]


async def test_a_joiner_with_nothing_gets_the_encoding_kept_for_an_earlier_one_and_the_writers_updates(
    relay, connect
):
    """The first client's SyncStep2 is kept; the writer's transactions and updates made elsewhere (a load's
    stages) are added to it: the next joiner gets it and them as they were sent, no encoding, and ends with
    the document; a client's edit, a mere deletion included, makes the next joiner's SyncStep2 encoded anew."""
    channel, doc, (first,) = await writer_room(relay, connect, "owned-j")
    kept = relay.metrics.joins_from_kept_state
    text = doc.get("t", type=Text)
    text.insert(0, "> ")  # the writer's transaction
    channel.apply(update_made_elsewhere(doc, lambda t: t.insert(len(str(t)), " + a stage")))
    second = await joined(relay, connect, "owned-j", doc)
    assert relay.metrics.joins_from_kept_state == kept + 1
    assert synced_by(second) == [SYNC_STEP2, UPDATE, UPDATE]
    assert str(second.doc.get("t", type=Text)) == str(text) == "> from the file + a stage"

    mine = first.doc.get("t", type=Text)
    await first.wait_for(lambda: str(mine) == str(text))
    del mine[0:2]  # a client's deletion: the document's state vector does not move
    await eventually(lambda: str(text) == "from the file + a stage", timeout=5)
    third = await joined(relay, connect, "owned-j", doc)
    assert relay.metrics.joins_from_kept_state == kept + 1  # encoded anew
    assert synced_by(third) == [SYNC_STEP2] and str(third.doc.get("t", type=Text)) == "from the file + a stage"
    text.insert(0, "# ")
    fourth = await joined(relay, connect, "owned-j", doc)  # kept again since the third
    assert relay.metrics.joins_from_kept_state == kept + 2
    assert synced_by(fourth) == [SYNC_STEP2, UPDATE]
    assert str(fourth.doc.get("t", type=Text)) == "# from the file + a stage"

    channel.close()  # nobody follows the document: nothing is kept
    text.insert(0, "unseen ")
    fifth = await joined(relay, connect, "owned-j", doc)
    assert relay.metrics.joins_from_kept_state == kept + 2
    assert str(fifth.doc.get("t", type=Text)) == "unseen # from the file + a stage"


async def test_what_is_kept_for_joiners_is_bounded():
    state = JoinState(max_state=100, max_updates=2)
    state.seed(b"s" * 101)
    assert state.parts() is None  # too large to keep
    state.grew(b"u")
    assert state.parts() is None
    state.seed(b"s" * 100)
    state.grew(b"a")
    state.grew(b"b")
    assert state.parts() == [b"s" * 100, b"a", b"b"]
    state.grew(b"c")
    state.grew(b"d")
    assert state.parts() is None  # more updates than max_updates
    state.seed(b"s" * 100)
    state.grew(b"x" * (64 << 10))
    assert state.parts() == [b"s" * 100, b"x" * (64 << 10)]
    state.grew(b"y")
    assert state.parts() is None  # the updates outweigh the encoding (and 64 KiB)
    state.seed(b"s" * 100)  # updates the writer holds anyway (a staged load's) count against no bound
    stages = [b"o" * (1 << 20) for _ in range(3)]
    for stage in stages:
        state.grew(stage, held=True)
    state.grew(b"a")
    state.grew(b"b")
    assert state.parts() == [b"s" * 100, *stages, b"a", b"b"] and state.parts()[1] is stages[0]  # not copied
    state.grew(b"c")
    assert state.parts() is None  # the writer's own updates still do
    state.seed(b"s")
    state.stale()
    assert state.parts() is None

    brief = JoinState(keep_for=0.05)  # kept for a while after the encoding, then dropped
    brief.seed(b"s")
    assert brief.parts() == [b"s"]
    await eventually(lambda: brief.parts() is None, timeout=5, what="the encoding dropped")
