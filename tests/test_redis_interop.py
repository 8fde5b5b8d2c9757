"""Node Yjs clients and pycrdt clients joined to different relays of one Redis converge.

Real ``redis-server``, real ``python -m rtc_relay --redis-url`` processes, real node clients
(``clients/js/yclient.mjs``, driven as in test_interop_node.py) and pycrdt clients.
"""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Map, Text

from test_interop_node import NodeClient

pytestmark = pytest.mark.timeout(60)

DEADLINE = 10.0


@pytest.fixture
def node_clients(jp_asyncio_loop):
    clients: list[NodeClient] = []

    async def start(url: str, room: str) -> NodeClient:
        client = await NodeClient.start(url, room)
        clients.append(client)
        return client

    yield start
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.kill())


async def test_node_and_pycrdt_clients_on_different_relays_converge(redis_server, relay_process, connect, node_clients):
    relays = await asyncio.gather(*(relay_process("--redis-url", redis_server.url) for _ in range(3)))
    room = "interop-cluster"
    n0, n1 = await node_clients(relays[0].url, room), await node_clients(relays[1].url, room)
    p1, p2 = await connect(relays[1].url + room), await connect(relays[2].url + room)
    await asyncio.gather(n0.wait_synced(), n1.wait_synced(), p1.wait_synced(), p2.wait_synced())
    t1, t2 = p1.doc.get("t", type=Text), p2.doc.get("t", type=Text)
    m1, m2 = p1.doc.get("m", type=Map), p2.doc.get("m", type=Map)

    words = ["héllo 😀 中文", "ça va? ñ", "𝄞 music", "plain ascii"]
    inserts = {who: [f"<{who}:{i}:{w}>" for i, w in enumerate(words)] for who in ("n0", "n1", "p1", "p2")}
    pending = []
    for i in range(len(words)):  # every edit fired before any answer: all concurrent
        for node, who in ((n0, "n0"), (n1, "n1")):
            pending.append((node, node.send({"cmd": "insert", "name": "t", "index": 0, "text": inserts[who][i]})))
            pending.append((node, node.send({"cmd": "map_set", "name": "m", "key": f"{who}-{i}", "value": i})))
        for text, m, who in ((t1, m1, "p1"), (t2, m2, "p2")):
            text.insert(0 if i % 2 else len(text), inserts[who][i])
            m[f"{who}-{i}"] = i
    for node, request_id in pending:
        await node.answer(request_id)

    everything = [s for strings in inserts.values() for s in strings]
    keys = {f"{who}-{i}" for who in inserts for i in range(len(words))}
    await p2.wait_for(lambda: all(s in str(t2) for s in everything) and set(m2.keys()) == keys, DEADLINE)
    final_text, final_map = str(t2), m2.to_py()
    assert len(final_text) == len("".join(everything)), "an edit shows twice"
    await asyncio.gather(
        n0.wait_text("t", final_text, DEADLINE),
        n1.wait_text("t", final_text, DEADLINE),
        n0.wait_map("m", final_map, DEADLINE),
        p1.wait_for(lambda: str(t1) == final_text and m1.to_py() == final_map, DEADLINE),
    )

    # Presence of a node client on relay 0 reaches a pycrdt client on relay 2, and leaves with it.
    node_id = await n0.client_id()
    await n0.request({"cmd": "awareness", "state": {"user": "n0"}})
    await p2.wait_for(lambda: p2.awareness.states.get(node_id) == {"user": "n0"}, DEADLINE)
    assert await n0.close() == 0
    await p2.wait_for(lambda: node_id not in p2.awareness.states, DEADLINE)
