"""Awareness (presence) through the relay."""

from __future__ import annotations

AWARENESS = (1, None)


async def test_awareness_reaches_everyone_including_sender_and_goes_on_disconnect(relay, connect):
    a = await connect(relay.url + "room")
    b = await connect(relay.url + "room")
    await a.wait_synced()
    await b.wait_synced()
    a_id = a.awareness.client_id
    before = a.received.count(AWARENESS)

    a.awareness.set_local_state({"user": {"name": "Ada", "color": "#f00"}})
    await b.wait_for(lambda: b.awareness.states.get(a_id, {}).get("user", {}).get("name") == "Ada")
    await a.wait_for(lambda: a.received.count(AWARENESS) > before)  # the sender gets its own echo

    # A late joiner sees the presence of those already there.
    c = await connect(relay.url + "room")
    await c.wait_for(lambda: c.awareness.states.get(a_id, {}).get("user", {}).get("name") == "Ada")

    await a.close()
    await b.wait_for(lambda: a_id not in b.awareness.states)
    await c.wait_for(lambda: a_id not in c.awareness.states)


async def test_awareness_room_without_content_still_syncs(relay, connect):
    """JupyterLab's global awareness room carries presence only; the handshake still completes."""
    a = await connect(relay.url + "JupyterLab:globalAwareness")
    b = await connect(relay.url + "JupyterLab:globalAwareness")
    await a.wait_synced()
    await b.wait_synced()
    a.awareness.set_local_state({"current": "notebook:x.ipynb"})
    await b.wait_for(lambda: b.awareness.states.get(a.awareness.client_id, {}).get("current") == "notebook:x.ipynb")
