"""Notebook documents served by our extensions in a real jupyter_server."""

from __future__ import annotations


import pytest
from jupyter_ydoc import YNotebook

from helpers import eventually
from jupyter_helpers import Collab, disk_sources, server_config, write_notebook


@pytest.fixture
def jp_server_config():
    return server_config()


@pytest.fixture
def collab(jp_serverapp, jp_fetch, jp_http_port, jp_base_url, jp_auth_header, jp_asyncio_loop):
    clients: list = []
    yield Collab(jp_fetch, jp_http_port, jp_base_url, jp_auth_header, clients)
    for client in clients:
        jp_asyncio_loop.run_until_complete(client.close())


async def test_session_endpoint_indexes_the_file_and_opens_its_room(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "a.ipynb", ["print(1)", "x = 2"])
    first = await collab.session(path)
    assert first.status == 201
    again = await collab.session(path)
    assert again.status == 200
    assert (again.file_id, again.session_id) == (first.file_id, first.session_id)

    client = await collab.join(first.room, first.session_id)
    await client.wait_synced()
    nb = YNotebook(client.doc)
    assert [c["source"] for c in nb.get()["cells"]] == ["print(1)", "x = 2"]
    state = client.doc.get("state", type=__import__("pycrdt").Map)
    assert state["dirty"] is False and state["path"] == path and state["hash"]


async def test_session_for_a_missing_file_is_404(collab):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as err:
        await collab.session("nope.ipynb")
    assert err.value.code == 404


async def test_two_clients_edit_and_the_file_is_saved(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "b.ipynb", ["a = 1", "b = 2"])
    alice, session = await collab.open(path)
    bob = await collab.join(session.room, session.session_id)
    await bob.wait_synced()
    source = YNotebook(alice.doc).ycells[0]["source"]
    source += "  # alice"
    bob_cell = YNotebook(bob.doc).ycells[1]["source"]
    await bob.wait_for(lambda: str(YNotebook(bob.doc).ycells[0]["source"]) == "a = 1  # alice")
    bob_cell += "  # bob"
    await eventually(
        lambda: disk_sources(jp_root_dir, path) == ["a = 1  # alice", "b = 2  # bob"],
        timeout=10,
        what="both edits saved to disk",
    )
    await alice.wait_for(lambda: alice.doc.get("state", type=__import__("pycrdt").Map)["dirty"] is False)
