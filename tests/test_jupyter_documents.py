"""Notebook documents served by our extensions in a real jupyter_server."""

from __future__ import annotations

import asyncio


import pytest
from jupyter_ydoc import YNotebook

from helpers import eventually
from jupyter_helpers import disk_sources, read_notebook, server_config, write_notebook


@pytest.fixture
def jp_server_config():
    return server_config()


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


async def test_concurrent_opens_load_the_file_once_and_agree(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "c.ipynb", [f"cell {i}" for i in range(20)])
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    opened_before = relay.metrics.rooms_opened
    results = await asyncio.gather(*(collab.open(path) for _ in range(6)))
    assert relay.metrics.rooms_opened == opened_before + 1
    assert len({session.session_id for _, session in results}) == 1
    for client, _ in results:
        assert [c["source"] for c in YNotebook(client.doc).get()["cells"]] == [f"cell {i}" for i in range(20)]


async def test_a_rebuild_is_deterministic_so_old_history_merges_without_duplicates(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "d.ipynb", ["one", "two", "three"])
    first, session = await collab.open(path)
    kept = first.doc.get_update()
    await first.close()
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    await eventually(lambda: session.room not in relay.rooms.rooms, timeout=10, what="room freed")

    again = await collab.session(path)
    assert again.session_id != session.session_id  # a new load
    from pycrdt import Doc

    old = Doc()
    old.apply_update(kept)
    merged = await collab.join(again.room, again.session_id)
    await merged.wait_synced()
    merged.doc.apply_update(kept)  # what a client holding the old history would bring
    # The relay answers a save request after every message sent before it: the old history is in.
    merged.save(9)
    await merged.wait_for(lambda: any(n.get("responseTo") == 9 for n in merged.notices))
    observer = await collab.join(again.room, again.session_id)
    await observer.wait_synced()
    # Count the shared cells themselves: YNotebook.get() would hide duplicates (it dedupes by id).
    assert [str(c["source"]) for c in YNotebook(observer.doc).ycells] == ["one", "two", "three"]


async def test_saves_are_debounced_but_never_later_than_the_max_wait(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "e.ipynb", ["start"])
    client, _ = await collab.open(path)
    source = YNotebook(client.doc).ycells[0]["source"]
    seen_on_disk: set[int] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4.0
    typed = 0
    while loop.time() < deadline:  # a change every 0.1 s: the 0.2 s quiet period never comes
        source += "."
        typed += 1
        await asyncio.sleep(0.1)
        on_disk = disk_sources(jp_root_dir, path)
        if on_disk is not None:
            seen_on_disk.add(on_disk[0].count("."))
    # With a 1 s max wait the file was written several times while typing went on.
    assert len({n for n in seen_on_disk if 0 < n < typed}) >= 2, sorted(seen_on_disk)
    try:
        await eventually(lambda: disk_sources(jp_root_dir, path) == ["start" + "." * typed], timeout=5)
    except AssertionError:
        documents = jp_serverapp.web_app.settings["supernode_documents"]
        server_side = [str(live.document.ycells[0]["source"]).count(".") for live in documents.live.values()]
        on_disk = (disk_sources(jp_root_dir, path) or [""])[0].count(".")
        raise AssertionError(
            f"typed {typed}, client {str(source).count('.')}, server {server_side}, disk {on_disk}"
        ) from None


async def test_a_save_request_is_answered_and_writes_the_file(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "f.ipynb", ["x"])
    client, _ = await collab.open(path)
    source = YNotebook(client.doc).ycells[0]["source"]
    source += "yz"
    client.save(41)
    await client.wait_for(lambda: any(n.get("responseTo") == 41 for n in client.notices))
    assert {"type": "save", "responseTo": 41, "status": "success"} in client.notices
    assert disk_sources(jp_root_dir, path) == ["xyz"]


async def test_many_save_requests_at_once_write_the_file_at_most_twice(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "ctrl-s.ipynb", ["x"])
    client, _ = await collab.open(path)
    writes: list[str] = []

    def count(model, path, contents_manager, **kwargs):  # every write of the file goes through here
        if path.endswith("ctrl-s.ipynb"):
            writes.append(path)

    jp_serverapp.contents_manager.register_pre_save_hook(count)
    source = YNotebook(client.doc).ycells[0]["source"]
    source += "yz"
    for request in range(50):  # Ctrl+S held down: 50 requests in one burst
        client.save(request)
    await client.wait_for(lambda: sum(n.get("type") == "save" for n in client.notices) == 50, timeout=20)
    answers = {n["responseTo"]: n["status"] for n in client.notices if n.get("type") == "save"}
    assert answers == {request: "success" for request in range(50)}
    assert 1 <= len(writes) <= 2, writes  # one save in flight, one queued: not one save per request
    assert disk_sources(jp_root_dir, path) == ["xyz"]


async def test_edits_on_disk_are_merged_keeping_concurrent_edits_of_other_cells(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "g.ipynb", ["alpha", "beta", "gamma"])
    client, _ = await collab.open(path)
    await eventually(lambda: client.doc.get("state", type=__import__("pycrdt").Map).get("hash"), what="hash")
    # Someone edits cell 1 on disk (another program), while a collaborator edits cell 0 in the room.
    nb = read_notebook(jp_root_dir, path)
    nb.cells[1].source = "beta (edited on disk)"
    nb.cells.append(__import__("nbformat").v4.new_markdown_cell("added on disk"))
    source = YNotebook(client.doc).ycells[0]["source"]
    source += " (edited live)"
    (jp_root_dir / path).write_text(__import__("nbformat").writes(nb), encoding="utf-8")

    expected = ["alpha (edited live)", "beta (edited on disk)", "gamma", "added on disk"]
    await client.wait_for(lambda: [c["source"] for c in YNotebook(client.doc).get()["cells"]] == expected, timeout=10)
    await eventually(lambda: disk_sources(jp_root_dir, path) == expected, timeout=10, what="merged result saved")


async def test_a_renamed_file_is_followed(collab, jp_root_dir, jp_fetch):
    import json

    path = write_notebook(jp_root_dir, "h.ipynb", ["keep"])
    client, _ = await collab.open(path)
    await jp_fetch("api", "contents", path, method="PATCH", body=json.dumps({"path": "renamed.ipynb"}))
    state = client.doc.get("state", type=__import__("pycrdt").Map)
    await client.wait_for(lambda: state.get("path") == "renamed.ipynb", timeout=10)
    source = YNotebook(client.doc).ycells[0]["source"]
    source += "!"
    await eventually(lambda: disk_sources(jp_root_dir, "renamed.ipynb") == ["keep!"], timeout=10)
    assert not (jp_root_dir / path).exists()


async def test_a_failed_save_is_reported_and_the_room_keeps_its_content(collab, jp_root_dir, caplog):
    path = write_notebook(jp_root_dir, "i.ipynb", ["precious"])
    client, _ = await collab.open(path)
    (jp_root_dir / path).unlink()
    (jp_root_dir / path).mkdir()  # the path now names a directory: every write fails
    source = YNotebook(client.doc).ycells[0]["source"]
    source += " work"
    client.save(5)
    await client.wait_for(lambda: any(n.get("responseTo") == 5 for n in client.notices))
    assert {"type": "save", "responseTo": 5, "status": "failed"} in client.notices
    state = client.doc.get("state", type=__import__("pycrdt").Map)
    await client.wait_for(lambda: state.get("dirty") is True)
    assert "saving i.ipynb failed" in caplog.text
    other = await collab.join(client.url.rsplit("/", 1)[-1].split("?")[0])
    await other.wait_synced()
    assert YNotebook(other.doc).get()["cells"][0]["source"] == "precious work"


async def test_a_failed_autosave_is_tried_again_until_it_succeeds(collab, jp_root_dir, jp_serverapp, caplog):
    import logging

    from tornado import web

    caplog.set_level(logging.INFO, "supernode.documents")
    path = write_notebook(jp_root_dir, "retry.ipynb", ["precious"])
    client, _ = await collab.open(path)
    state = client.doc.get("state", type=__import__("pycrdt").Map)
    await client.wait_for(lambda: state.get("hash"), timeout=10)
    full = {"disk": True}

    def quota(model, path, contents_manager, **kwargs):  # a pre-save hook may refuse a save
        if full["disk"]:
            raise web.HTTPError(507, "quota exceeded")

    jp_serverapp.contents_manager.register_pre_save_hook(quota)
    source = YNotebook(client.doc).ycells[0]["source"]
    source += " work"
    await eventually(lambda: "quota exceeded" in caplog.text, timeout=10, what="a refused autosave")
    assert "trying again in" in caplog.text
    await client.wait_for(lambda: state.get("dirty") is True)
    full["disk"] = False
    # No further edit: only the retry can save it.
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["precious work"], timeout=15, what="the retry")
    await eventually(lambda: "saved retry.ipynb again after" in caplog.text, timeout=5, what="the log of the retry")
    await client.wait_for(lambda: state.get("dirty") is False, timeout=10)


async def test_a_file_that_cannot_be_read_for_a_while_is_taken_in_once_it_can(collab, jp_root_dir, caplog):
    path = write_notebook(jp_root_dir, "junk.ipynb", ["kept"])
    client, _ = await collab.open(path)
    state = client.doc.get("state", type=__import__("pycrdt").Map)
    await client.wait_for(lambda: state.get("hash"), timeout=10)
    good = (jp_root_dir / path).read_text(encoding="utf-8")
    (jp_root_dir / path).write_text(good[: len(good) // 2], encoding="utf-8")  # caught half written
    await eventually(lambda: "cannot be read" in caplog.text, timeout=10, what="the unreadable file logged")
    assert YNotebook(client.doc).get()["cells"][0]["source"] == "kept"  # the room keeps its content
    (jp_root_dir / path).write_text(good.replace('"kept"', '"kept, then edited on disk"'), encoding="utf-8")
    await client.wait_for(
        lambda: YNotebook(client.doc).get()["cells"][0]["source"] == "kept, then edited on disk", timeout=10
    )
    assert caplog.text.count("cannot be read") == 1  # once per version of the file, not once per poll


async def test_a_session_request_restarts_an_idle_rooms_cleanup(collab, jp_root_dir, jp_serverapp):
    """The frontend asks for the session, then joins: the room it was told of must still be that load."""
    path = write_notebook(jp_root_dir, "idle.ipynb", ["x"])
    client, session = await collab.open(path)
    await client.close()
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    room = relay.rooms.rooms[session.room]
    await eventually(lambda: room.cleanup is not None, timeout=5, what="the cleanup scheduled")
    pending = room.cleanup
    again = await collab.session(path)
    assert again.session_id == session.session_id and relay.rooms.rooms.get(session.room) is room
    assert room.cleanup is not None and room.cleanup is not pending and pending.cancelled()


async def test_a_save_clears_dirty_together_with_the_new_files_hash(collab, jp_root_dir):
    """The frontend compares the file's hash with the room's before its own save: the two change at once."""
    import hashlib

    from pycrdt import Map

    path = write_notebook(jp_root_dir, "hashed.ipynb", ["a = 1"])
    client, _ = await collab.open(path)
    state = client.doc.get("state", type=Map)
    seen: list[tuple[object, object]] = []  # (dirty, hash) after each transaction that touched the state
    state.observe(lambda event: seen.append((state.get("dirty"), state.get("hash"))))
    for n in range(3):
        source = YNotebook(client.doc).ycells[0]["source"]
        source += f"  # {n}"
        want = f"a = 1{''.join(f'  # {i}' for i in range(n + 1))}"
        await eventually(lambda want=want: disk_sources(jp_root_dir, path) == [want], 10, "the edit saved")
        on_disk = hashlib.sha256((jp_root_dir / path).read_bytes()).hexdigest()
        await client.wait_for(lambda on_disk=on_disk: state.get("hash") == on_disk, timeout=10)
    cleared = [entry for entry in seen if entry[0] is False]
    assert cleared, seen
    hashes = [h for _, h in seen]
    # dirty went False only together with a hash no earlier state had (the file's new one)
    for dirty, digest in cleared:
        assert hashes.index(digest) == seen.index((dirty, digest)), seen


async def test_jupyter_collaborations_room_lookup_gives_the_live_document(collab, jp_root_dir, jp_serverapp):
    """Extensions written for jupyter-collaboration: ``ywebsocket_server.room_exists`` / ``get_room``."""
    from supernode.jc_rooms import RoomNotFound

    extension = jp_serverapp.web_app.settings["jupyter_server_ydoc"]
    path = write_notebook(jp_root_dir, "looked-up.ipynb", ["a = 1"])
    client, session = await collab.open(path)
    server = extension.ywebsocket_server
    assert server.room_exists(session.room) and not server.room_exists("json:notebook:nope")
    room = await server.get_room(session.room)
    assert (room.room_id, room.file_format, room.file_type, room.ready) == (session.room, "json", "notebook", True)
    assert room.ydoc is room._document.ydoc and room.cleaner is None
    source = room._document.ycells[0]["source"]
    source += "  # from an extension"  # the live document: it reaches clients and the file
    await client.wait_for(lambda: str(YNotebook(client.doc).ycells[0]["source"]) == "a = 1  # from an extension")
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["a = 1  # from an extension"], 10, "saved")
    with pytest.raises(RoomNotFound):
        await server.get_room("json:notebook:nope")
    with pytest.raises(LookupError):  # as jupyter-collaboration's RoomNotFound
        await server.get_room("json:notebook:nope")


async def test_a_session_is_answered_before_its_rooms_load_is_done(collab, jp_root_dir, jp_serverapp, monkeypatch):
    """The session request does not wait for the room's load (the client opens the websocket meanwhile): it
    answers the session the load will have, the same to every request while it runs; the room admits its
    clients once it is loaded."""
    documents = jp_serverapp.web_app.settings["supernode_documents"]
    release, started = asyncio.Event(), asyncio.Event()
    real_load = documents.loader.load

    async def slow_load(key, path):
        started.set()
        await release.wait()
        return await real_load(key, path)

    monkeypatch.setattr(documents.loader, "load", slow_load)
    path = write_notebook(jp_root_dir, "slow.ipynb", ["print(1)", "x = 2"])
    first = await asyncio.wait_for(collab.session(path), 5)  # answered while the load waits
    await asyncio.wait_for(started.wait(), 5)
    again = await collab.session(path)
    assert first.session_id == again.session_id and first.room not in documents.live
    client = await collab.join(first.room, first.session_id)
    synced = asyncio.ensure_future(client.wait_synced())
    done, _ = await asyncio.wait({synced}, timeout=0.2)
    assert not done  # admitted once the room is loaded
    release.set()
    await asyncio.wait_for(synced, 10)
    assert documents.live[first.room].epoch == first.session_id  # the session it was told is the load's
    assert [c["source"] for c in YNotebook(client.doc).get()["cells"]] == ["print(1)", "x = 2"]
    assert (await collab.session(path)).session_id == first.session_id
