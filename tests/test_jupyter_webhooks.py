"""Webhooks inside jupyter_server (``RelayExtension.webhook``): the same signed events, with Jupyter's user names."""

from __future__ import annotations

import pytest
from pycrdt import Text

from jupyter_helpers import server_config
from rtc_relay.webhooks import verify_signature
from webhook_helpers import WebhookReceiver

pytestmark = pytest.mark.timeout(60)

SECRET = "webhook-secret-of-32-characters0"


@pytest.fixture
def receiver(jp_asyncio_loop):
    r = jp_asyncio_loop.run_until_complete(WebhookReceiver().start())
    yield r
    jp_asyncio_loop.run_until_complete(r.stop())


@pytest.fixture
def jp_server_config(receiver):
    config = server_config()
    config["RelayExtension"].update(webhook=[receiver.url], webhook_secret=SECRET, webhook_debounce=0.2)
    return config


async def test_a_room_joined_through_jupyter_is_reported_with_the_jupyter_user(collab, receiver, jp_serverapp):
    await jp_serverapp.extension_manager.start_all_extensions()
    client = await collab.join("team/notes")
    await client.wait_synced(timeout=10)
    client.doc.get("t", type=Text).insert(0, "hello")
    room = "team/notes"
    await receiver.wait_for(lambda: receiver.of("document.changed", room))
    await client.close()
    await receiver.wait_for(lambda: receiver.of("room.freed", room))
    kinds = [e["type"] for e in receiver.events if e["room"] == room]  # (the supernode's own rooms report too)
    assert kinds == ["room.loaded", "client.joined", "document.changed", "client.left", "room.freed"], kinds
    joined = receiver.of("client.joined", room)[0]
    assert joined["client"]["user"] and joined["client"]["connection"].startswith("#j")
    assert joined["clients"] == 1
    for headers, body in receiver.requests:
        verify_signature(SECRET, headers["x-rtc-signature"], body)
