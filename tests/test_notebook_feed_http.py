"""The change feed on the wire: Server-Sent Events as ``curl -N`` sees them (heartbeats, ``?timeout=``),
the websocket variant, and the permissions and errors of every feed endpoint."""

from __future__ import annotations

import asyncio
import json

import pytest
from jupyter_server.auth.authorizer import Authorizer
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from feed_helpers import Model
from jupyter_helpers import server_config, write_notebook

DEADLINE = 30.0


class PickyAuthorizer(Authorizer):
    """Allows everything but the (action, resource) pairs in ``denied``."""

    denied: set[tuple[str, str]] = set()

    def is_authorized(self, handler, user, action, resource) -> bool:
        return (action, resource) not in self.denied


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    config["ServerApp"]["authorizer_class"] = PickyAuthorizer
    config["NotebookFeeds"] = {"heartbeat": 0.3}
    return config


@pytest.fixture(autouse=True)
def allow_all():
    PickyAuthorizer.denied = set()
    yield
    PickyAuthorizer.denied = set()


@pytest.fixture
def urls(jp_serverapp, jp_http_port, jp_base_url):
    token = jp_serverapp.identity_provider.token
    http = f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/rtc/notebooks/"
    return http, http.replace("http://", "ws://"), {"Authorization": f"token {token}"}


async def test_sse_as_curl_sees_it_with_heartbeats_and_an_end(server, collab, jp_root_dir, urls):
    path = write_notebook(jp_root_dir, "curl.ipynb", ["print('hi')"])
    http, _, headers = urls
    chunks: list[bytes] = []
    started = asyncio.get_running_loop().time()
    response = await AsyncHTTPClient().fetch(
        HTTPRequest(
            f"{http}{path}/events?timeout=1.2",
            headers=headers,
            streaming_callback=chunks.append,
            request_timeout=DEADLINE,
        )
    )
    took = asyncio.get_running_loop().time() - started
    assert 1.2 <= took < 10
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-cache"
    body = b"".join(chunks).decode()
    blocks = [b for b in body.split("\n\n") if b]
    assert blocks[0].startswith(": ")
    event = next(b for b in blocks if not b.startswith(":"))
    lines = event.split("\n")
    assert lines[0].startswith("id: ") and lines[1] == "event: snapshot" and lines[2].startswith("data: {")
    data = json.loads(lines[2][len("data: ") :])
    (cell,) = data["notebook"]["cells"]
    assert cell["source"] == "print('hi')" and cell["execution_state"] == "idle" and cell["outputs"] == []
    assert sum(1 for b in blocks if b == ": heartbeat") >= 2  # every 0.3 s while nothing happens


async def test_the_same_events_over_a_websocket(server, collab, jp_root_dir, urls):
    path = write_notebook(jp_root_dir, "ws.ipynb", ["a"])
    _, ws, headers = urls
    async with await server.open_notebook(path) as nb:
        async with connect(f"{ws}{path}/events/ws", additional_headers=headers) as socket:
            snapshot = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE))
            assert snapshot["event"] == "snapshot" and isinstance(snapshot["id"], int)
            model = Model()
            model.apply(snapshot)
            nb.cells[0].insert(1, "é")
            changed = json.loads(await asyncio.wait_for(socket.recv(), DEADLINE))
            assert changed["event"] == "source_changed" and changed["id"] == snapshot["id"] + 1
            model.apply(changed)
        nb.cells[0].insert(2, "😀")  # while disconnected
        nb.append_cell("b")
        async with connect(
            f"{ws}{path}/events/ws?since={changed['id']}&timeout=1", additional_headers=headers
        ) as socket:
            missed = [json.loads(m) async for m in socket]
            assert socket.close_code == 1000
        assert [m["event"] for m in missed] == ["source_changed", "cell_added"]
        for message in missed:
            model.apply(message)
        assert [c["source"] for c in model.cells] == ["aé😀", "b"]


async def expect_error(url: str, headers: dict, status: int, code: str) -> None:
    with pytest.raises(HTTPClientError) as caught:
        await AsyncHTTPClient().fetch(url, headers=headers, request_timeout=DEADLINE)
    assert caught.value.code == status
    body = json.loads(caught.value.response.body)
    assert body["error"] == code and body["message"]


async def test_permissions_and_errors(server, collab, jp_root_dir, urls):
    path = write_notebook(jp_root_dir, "perm.ipynb", ["a"])
    http, ws, headers = urls
    await expect_error(f"{http}nope.ipynb/events", headers, 404, "not_found")
    await expect_error(f"{http}nope.ipynb/kernel-messages", headers, 404, "not_found")
    await expect_error(f"{http}{path}/events?since=abc", headers, 400, "bad_request")
    await expect_error(f"{http}{path}/events?timeout=0", headers, 400, "bad_request")
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{ws}nope.ipynb/events/ws", additional_headers=headers)
    assert refused.value.response.status_code == 404

    PickyAuthorizer.denied = {("read", "contents")}
    await expect_error(f"{http}{path}/events", headers, 403, "forbidden")
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{ws}{path}/events/ws", additional_headers=headers)
    assert refused.value.response.status_code == 403
    # The raw kernel messages need kernels:read, not contents:read.
    response = await AsyncHTTPClient().fetch(f"{http}{path}/kernel-messages?timeout=0.2", headers=headers)
    assert response.code == 200 and response.headers["Content-Type"].startswith("text/event-stream")

    PickyAuthorizer.denied = {("read", "kernels")}
    await expect_error(f"{http}{path}/kernel-messages", headers, 403, "forbidden")
    response = await AsyncHTTPClient().fetch(f"{http}{path}/events?timeout=0.2", headers=headers)
    assert response.code == 200
    with pytest.raises(HTTPClientError) as caught:
        await AsyncHTTPClient().fetch(f"{http}{path}/events", request_timeout=DEADLINE)  # no token
    assert caught.value.code == 403


async def test_the_kernel_message_feed_says_when_messages_were_missed(server, collab, jp_root_dir, urls):
    path = write_notebook(jp_root_dir, "raw.ipynb", ["1"])
    http, _, headers = urls
    response = await AsyncHTTPClient().fetch(
        f"{http}{path}/kernel-messages?timeout=0.3", headers={**headers, "Last-Event-ID": "1"}, request_timeout=DEADLINE
    )
    events = [b for b in response.body.decode().split("\n\n") if b.startswith("id: ")]
    (resync,) = events
    assert resync.split("\n")[1:] == ["event: resync", 'data: {"reason":"too_old"}']
