"""The timeline, undo/redo and forks (jupyter-collaboration's endpoints) on a real jupyter_server.

Clients are real: pycrdt room clients that do what the stock frontend does (the same document
joins the timeline's fork room, then the document's room again), and Yjs clients in node.
"""

from __future__ import annotations

import json
from typing import Any

import nbformat
import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_ydoc import YNotebook, YUnicode

from helpers import eventually
from jupyter_helpers import disk_sources, live_document, server_config, write_notebook
from rtc_client import RoomClient
from supernode.forks import FORK_EVENTS
from supernode.snapshot import snapshot
from supernode.timeline import Encoded, Timeline

pytestmark = pytest.mark.timeout(120)

WAIT = 10.0


class ReadOnlyAuthorizer(Authorizer):
    """Every user may read, nobody may write."""

    def is_authorized(self, handler, user, action, resource) -> bool:
        return action == "read"


@pytest.fixture
def jp_server_config(tmp_path, request):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    if request.node.get_closest_marker("read_only"):
        config["ServerApp"]["authorizer_class"] = ReadOnlyAuthorizer
    return config


@pytest.fixture
def node(yjs_client):
    """A Yjs client in node joined to a room of the test's server (see ``yjs_client``)."""
    return yjs_client


async def call(fetch, method: str, *parts: str, body: Any = None, **query: Any) -> tuple[int, Any]:
    """(status, JSON answer or None) of a request to the server; never raises on an error status."""
    kwargs: dict[str, Any] = {"method": method, "raise_error": False}
    if query:
        kwargs["params"] = {k: str(v) for k, v in query.items()}
    if method in ("PUT", "POST"):
        kwargs["body"] = body if isinstance(body, str) else json.dumps(body if body is not None else {})
    response = await fetch(*parts, **kwargs)
    text = response.body.decode() if response.body else ""
    return response.code, (json.loads(text) if text else None)


def source_of(doc) -> list[str]:
    return [str(cell["source"]) for cell in YNotebook(doc).ycells]


def labels(serverapp, room: str) -> list[str]:
    timeline = serverapp.web_app.settings["supernode_forks"].timelines.of(room)
    return [v.label for v in timeline.versions] if timeline else []


async def edit_and_save(client: RoomClient, root, path: str, text: str, serverapp, room: str) -> None:
    """Append ``text`` to the first cell, and wait until the file and a "saved" version hold it."""
    cell = YNotebook(client.doc).ycells[0]["source"]
    cell += text
    want = str(cell)
    await eventually(lambda: disk_sources(root, path) == [want], WAIT, f"{path} saved with {want!r}")
    timelines = serverapp.web_app.settings["supernode_forks"].timelines
    await eventually(
        lambda: (
            timelines.of(room) is not None and timelines.of(room).versions[-1].content["cells"][0]["source"] == want
        ),
        WAIT,
        "a version of the save",
    )


async def test_the_timeline_moves_a_fork_among_versions_and_restores_one_into_the_live_document(
    collab, jp_fetch, jp_root_dir, jp_serverapp, node
):
    path = write_notebook(jp_root_dir, "story.ipynb", ["a = 1"])
    alice, session = await collab.open(path)
    room = session.room
    await edit_and_save(alice, jp_root_dir, path, "  # two", jp_serverapp, room)
    await edit_and_save(alice, jp_root_dir, path, "  # three", jp_serverapp, room)
    bob = await node(room)  # a Yjs client in the document's room all along
    await bob.request({"cmd": "insert_at", "path": ["cells", 0, "source"], "index": 0, "text": "# bob\n"})
    now = "# bob\na = 1  # two  # three"
    await alice.wait_for(lambda: source_of(alice.doc) == [now], WAIT)

    code, timeline = await call(
        jp_fetch, "GET", "api", "collaboration", "timeline", path, format="json", type="notebook"
    )
    assert code == 200, timeline
    assert timeline["roomId"] == room and timeline["sessionId"] == session.session_id
    assert len(timeline["forkRoom"]) == 32
    versions = timeline["versions"]
    assert [v["timestamp"] for v in versions] == timeline["timestamps"] == sorted(timeline["timestamps"])
    assert versions[0]["label"] == "opened" and versions[0]["changed"] == []
    assert [v["label"] for v in versions].count("saved") >= 2
    cell_id = YNotebook(alice.doc).ycells[0]["id"]
    assert cell_id in versions[1]["changed"] and cell_id in versions[-1]["changed"]
    assert versions[-1]["users"]  # who was in the room since the version before

    # As the stock frontend: the document's own Doc leaves its room and joins the fork's.
    await alice.close()
    viewer = RoomClient(collab.url(timeline["forkRoom"], session.session_id), doc=alice.doc, headers=collab.auth_header)
    await viewer.__aenter__()
    collab._clients.append(viewer)
    await viewer.wait_synced()

    def undo_redo(action: str, steps: int, fork: str = timeline["forkRoom"]):
        return call(
            jp_fetch, "PUT", "api", "collaboration", "undo_redo", room, action=action, steps=steps, forkRoom=fork
        )

    assert await undo_redo("undo", len(versions) - 1) == (200, {"status": "undone", "position": 0})
    await viewer.wait_for(lambda: source_of(viewer.doc) == ["a = 1"], WAIT)
    await bob.request({"cmd": "wait_at", "path": ["cells", 0, "source"], "equals": now})
    assert (await undo_redo("undo", 1))[1]["error"] == "No more undo operations available"

    saved_two = next(i for i, v in enumerate(versions) if v["label"] == "saved")
    assert (await undo_redo("redo", saved_two))[1]["status"] == "redone"
    await viewer.wait_for(lambda: source_of(viewer.doc) == ["a = 1  # two"], WAIT)

    code, restored = await undo_redo("restore", 0)
    assert code == 200 and restored["code"] == 200 and restored["status"] == "Document restored successfully"
    # A normal change of the live document: the other client sees it, and the file gets it.
    await bob.request({"cmd": "wait_at", "path": ["cells", 0, "source"], "equals": "a = 1  # two"}, WAIT)
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["a = 1  # two"], WAIT, "the restore saved")
    assert labels(jp_serverapp, room)[-1].startswith("restored saved")

    # The frontend's Doc goes back to the document's room: nothing doubles.
    await viewer.close()
    back = RoomClient(collab.url(room, session.session_id), doc=alice.doc, headers=collab.auth_header)
    await back.__aenter__()
    collab._clients.append(back)
    await back.wait_synced()
    await back.flush()
    fresh, _ = await collab.open(path)  # joins after everything the returning Doc sent
    assert source_of(fresh.doc) == source_of(back.doc) == ["a = 1  # two"]

    # The timeline fork is gone with the restore.
    assert (await undo_redo("undo", 1))[0] == 404


async def test_forks_are_created_kept_in_sync_merged_back_and_deleted(
    collab, jp_fetch, jp_root_dir, jp_serverapp, node
):
    path = write_notebook(jp_root_dir, "forked.ipynb", ["x = 1"])
    alice, session = await collab.open(path)
    room = session.room
    events: list[dict] = []

    async def listener(logger, schema_id, data):
        events.append(data)

    jp_serverapp.event_logger.add_listener(schema_id=FORK_EVENTS, listener=listener)

    code, created = await call(
        jp_fetch,
        "PUT",
        "api",
        "collaboration",
        "fork",
        room,
        body={"title": "idea", "description": "try", "synchronize": True},
    )
    assert code == 201, created
    fork = created["fork_roomid"]
    info = {"root_roomid": room, "synchronize": True, "title": "idea", "description": "try"}
    assert created == {"sessionId": session.session_id, "fork_roomid": fork, "fork_info": info}
    assert await call(jp_fetch, "GET", "api", "collaboration", "fork", room) == (200, {fork: info})
    await eventually(lambda: [e["action"] for e in events] == ["create"], WAIT, "the create event")
    assert events[0]["fork_roomid"] == fork and events[0]["fork_info"] == info and events[0]["username"]

    in_fork = await node(fork)
    await in_fork.request({"cmd": "wait_at", "path": ["cells", 0, "source"], "equals": "x = 1"})
    # Kept in sync: the root's change flows into the fork.
    cell = YNotebook(alice.doc).ycells[0]["source"]
    cell += " + 1"
    await in_fork.request({"cmd": "wait_at", "path": ["cells", 0, "source"], "equals": "x = 1 + 1"}, WAIT)
    # The fork's change stays in the fork until it is merged.
    await in_fork.request({"cmd": "insert_at", "path": ["cells", 0, "source"], "index": 0, "text": "# fork\n"})
    live = await live_document(jp_serverapp, room)
    forked = jp_serverapp.web_app.settings["supernode_forks"].forks[fork].document.ydoc
    await eventually(lambda: source_of(forked) == ["# fork\nx = 1 + 1"], WAIT, "the fork's edit in the fork")
    assert source_of(live.document.ydoc) == ["x = 1 + 1"]

    code, deleted = await call(jp_fetch, "DELETE", "api", "collaboration", "fork", fork, merge="true")
    assert code == 200 and deleted == {"fork_roomid": fork, "fork_info": info, "merged": True}
    await alice.wait_for(lambda: source_of(alice.doc) == ["# fork\nx = 1 + 1"], WAIT)
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["# fork\nx = 1 + 1"], WAIT, "the merge saved")
    await eventually(lambda: [e["action"] for e in events] == ["create", "delete"], WAIT, "the delete event")
    assert await call(jp_fetch, "GET", "api", "collaboration", "fork", room) == (200, {})
    assert (await call(jp_fetch, "DELETE", "api", "collaboration", "fork", fork))[0] == 404

    # Not synchronized, deleted without merging: root and fork stay apart, the root keeps its content.
    code, created = await call(jp_fetch, "PUT", "api", "collaboration", "fork", room, body={})
    assert code == 201 and created["fork_info"] == {**info, "synchronize": False, "title": "", "description": ""}
    other = await node(created["fork_roomid"])
    cell += "  # root only"
    await other.request({"cmd": "insert_at", "path": ["cells", 0, "source"], "index": 0, "text": "# dropped\n"})
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["# fork\nx = 1 + 1  # root only"], WAIT, "saved")
    value = (await other.request({"cmd": "get_at", "path": ["cells", 0, "source"]}))["value"]
    assert value == "# dropped\n# fork\nx = 1 + 1"
    code, deleted = await call(
        jp_fetch, "DELETE", "api", "collaboration", "fork", created["fork_roomid"], merge="false"
    )
    assert code == 200 and deleted["merged"] is False
    assert source_of(live.document.ydoc) == ["# fork\nx = 1 + 1  # root only"]
    jp_serverapp.event_logger.remove_listener(schema_id=FORK_EVENTS, listener=listener)


async def test_unknown_rooms_paths_and_forks_are_404_and_bad_requests_400(collab, jp_fetch, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "e.ipynb", ["e"])
    _, session = await collab.open(path)
    room = session.room

    # The stock slider asks for the session of "/{path}": the same file, the same room.
    code, same = await call(
        jp_fetch, "PUT", "api", "collaboration", "session", "/" + path, body={"format": "json", "type": "notebook"}
    )
    assert code == 200 and same["fileId"] == session.file_id

    def timeline(p: str, **query: str):
        return call(jp_fetch, "GET", "api", "collaboration", "timeline", p, **query)

    code, body = await timeline("missing.ipynb", format="json", type="notebook")
    assert code == 404 and body["error"] == "not_found" and "missing.ipynb" in body["message"]
    assert (await timeline(path, format="json"))[0] == 400
    assert (await timeline(path, format="yaml", type="notebook"))[0] == 400

    code, opened = await timeline(path, format="json", type="notebook")
    assert code == 200
    fork = opened["forkRoom"]

    def undo_redo(**query: Any):
        return call(jp_fetch, "PUT", "api", "collaboration", "undo_redo", room, **query)

    assert (await undo_redo(action="rewind", steps=1, forkRoom=fork))[0] == 400
    assert (await undo_redo(action="undo", steps="two", forkRoom=fork))[0] == 400
    assert (await undo_redo(action="undo", steps=-1, forkRoom=fork))[0] == 400
    assert (await undo_redo(action="undo", steps=1))[0] == 400
    code, body = await undo_redo(action="undo", steps=1, forkRoom="0" * 32)
    assert code == 404 and body["error"] == "not_found"
    assert (
        await call(
            jp_fetch,
            "PUT",
            "api",
            "collaboration",
            "undo_redo",
            "json:notebook:other",
            action="undo",
            steps=1,
            forkRoom=fork,
        )
    )[0] == 404

    def fork_put(target: str, body: Any):
        return call(jp_fetch, "PUT", "api", "collaboration", "fork", target, body=body)

    code, body = await fork_put("json:notebook:no-such-file", {})
    assert code == 404 and body["error"] == "not_found"
    assert (await fork_put("not-a-document", {}))[0] == 404
    assert (await fork_put(room, "{not json"))[0] == 400
    assert (await fork_put(room, "[1]"))[0] == 400
    assert (await fork_put(room, {"synchronize": "yes"}))[0] == 400
    assert (await fork_put(room, {"title": 3}))[0] == 400
    assert (await call(jp_fetch, "DELETE", "api", "collaboration", "fork", "0" * 32))[0] == 404
    code, created = await fork_put(room, {})
    assert (await call(jp_fetch, "DELETE", "api", "collaboration", "fork", created["fork_roomid"], merge="maybe"))[
        0
    ] == 400
    # A timeline fork is not a fork of the fork API.
    assert (await call(jp_fetch, "DELETE", "api", "collaboration", "fork", fork))[0] == 404
    # A timeline fork nobody is in goes after the relay's cleanup delay, and with it its hold on the document.
    forks = jp_serverapp.web_app.settings["supernode_forks"]
    await eventually(lambda: fork not in forks.forks, WAIT, "the unused timeline fork to go")
    assert (await undo_redo(action="undo", steps=1, forkRoom=fork))[0] == 404


async def test_a_text_file_has_a_timeline_too(collab, jp_fetch, jp_root_dir):
    (jp_root_dir / "notes.txt").write_text("one\n")
    client, session = await collab.open("notes.txt", "text", "file")
    text = YUnicode(client.doc)._ysource
    text += "two\n"
    await eventually(lambda: (jp_root_dir / "notes.txt").read_text() == "one\ntwo\n", WAIT, "saved")
    code, timeline = await call(
        jp_fetch, "GET", "api", "collaboration", "timeline", "notes.txt", format="text", type="file"
    )
    assert code == 200 and timeline["roomId"] == session.room
    assert [v["changed"] for v in timeline["versions"]][:2] == [[], ["content"]]
    viewer = await collab.join(timeline["forkRoom"])
    await viewer.wait_synced()
    steps = len(timeline["versions"]) - 1
    code, moved = await call(
        jp_fetch,
        "PUT",
        "api",
        "collaboration",
        "undo_redo",
        session.room,
        action="undo",
        steps=steps,
        forkRoom=timeline["forkRoom"],
    )
    assert (code, moved["status"]) == (200, "undone")
    await viewer.wait_for(lambda: str(YUnicode(viewer.doc)._ysource) == "one\n", WAIT)
    assert (
        await call(
            jp_fetch,
            "PUT",
            "api",
            "collaboration",
            "undo_redo",
            session.room,
            action="restore",
            forkRoom=timeline["forkRoom"],
        )
    )[0] == 200
    await client.wait_for(lambda: str(text) == "one\n", WAIT)
    await eventually(lambda: (jp_root_dir / "notes.txt").read_text() == "one\n", WAIT, "the restore saved")


@pytest.mark.read_only
async def test_a_reader_sees_the_timeline_and_the_forks_but_changes_neither(collab, jp_fetch, jp_root_dir):
    path = write_notebook(jp_root_dir, "ro.ipynb", ["read me"])
    _, session = await collab.open(path)
    room = session.room
    code, timeline = await call(
        jp_fetch, "GET", "api", "collaboration", "timeline", path, format="json", type="notebook"
    )
    assert code == 200 and timeline["versions"][0]["label"] == "opened"
    assert await call(jp_fetch, "GET", "api", "collaboration", "fork", room) == (200, {})
    fork = timeline["forkRoom"]
    for method, parts, query in [
        ("PUT", ("undo_redo", room), {"action": "restore", "steps": 0, "forkRoom": fork}),
        ("PUT", ("fork", room), {}),
        ("DELETE", ("fork", fork), {"merge": "true"}),
    ]:
        code, body = await call(jp_fetch, method, "api", "collaboration", *parts, **query)
        assert (code, body["error"]) == (403, "forbidden") and "contents:write" in body["message"], (method, parts)


async def test_an_execution_that_ends_is_a_version(collab, jp_fetch, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "run.ipynb", ["print('ran')"])
    client, session = await collab.open(path)
    code, record = await call(jp_fetch, "POST", "api", "rtc", "executions", body={"path": path})
    assert code == 202, record
    timelines = jp_serverapp.web_app.settings["supernode_forks"].timelines

    def executed():
        timeline = timelines.of(session.room)
        return timeline is not None and any(
            "executed" in v.label.split(", ") and v.content["cells"][0]["outputs"] for v in timeline.versions
        )

    await eventually(executed, 60, "a version labelled executed, with the cell's output")
    code, answer = await call(jp_fetch, "GET", "api", "collaboration", "timeline", path, format="json", type="notebook")
    first, last = answer["versions"][0], answer["versions"][-1]
    assert first["label"] == "opened" and "executed" in last["label"]
    assert last["changed"] == [YNotebook(client.doc).ycells[0]["id"]]


def test_a_timeline_is_bounded_by_count_and_size_and_keeps_no_repeats():
    timeline = Timeline(max_versions=3, max_bytes=10_000)
    nb = {"metadata": {}, "cells": [{"id": "a", "source": "1"}]}
    assert timeline.record("opened", nb) is not None
    assert timeline.record("saved", nb) is None  # the same content again: not kept, named
    assert [v.label for v in timeline.versions] == ["opened, saved"]
    timeline.joined("ada")
    for i in range(5):
        timeline.record(
            f"saved {i}", {"metadata": {}, "cells": [{"id": "a", "source": "1"}, {"id": "b", "source": str(i)}]}
        )
    assert [v.label for v in timeline.versions] == ["saved 2", "saved 3", "saved 4"]
    assert timeline.versions[-1].changed == ["b"] and timeline.versions[-1].users == ["ada"]
    timeline.left("ada")
    assert timeline.record("text", "x" * 50).users == []

    small = Timeline(max_versions=100, max_bytes=120)
    for i in range(10):
        small.record(str(i), "y" * 50 + str(i))
    assert [v.label for v in small.versions] == ["8", "9"]  # 2 x 53 bytes fit, 3 do not
    alone = Timeline(max_versions=100, max_bytes=10)
    alone.record("big", "z" * 100)
    assert [v.label for v in alone.versions] == ["big"]  # the newest always stays


def write_large_outputs(root, name: str, cells: int, size: int) -> str:
    """A notebook of ``cells`` code cells, each with a stream output of ``size`` characters."""
    nb = nbformat.v4.new_notebook()
    for i in range(cells):
        cell = nbformat.v4.new_code_cell(f"print_big({i})", execution_count=i + 1)
        cell.outputs = [
            nbformat.v4.new_output("stream", name="stdout", text=(f"{i} " + "x" * 60 + "\n") * (size // 64))
        ]
        nb.cells.append(cell)
    (root / name).write_text(nbformat.writes(nb), encoding="utf-8")
    return name


@pytest.mark.parametrize("hooked", [False, True], ids=["plain", "pre-save hook"])
async def test_a_saved_version_of_large_outputs_is_the_content_the_save_wrote(
    collab, jp_root_dir, jp_serverapp, hooked
):
    """No encoding of the whole document for a save of large outputs: the version is the data written, the
    same content as the document's; with a pre-save hook (which may change it) the document is encoded."""
    if hooked:
        jp_serverapp.contents_manager.register_pre_save_hook(lambda model, **kw: None)
    path = write_large_outputs(jp_root_dir, "big.ipynb", cells=3, size=64 * 1024)
    alice, session = await collab.open(path)
    room = session.room
    live = await live_document(jp_serverapp, room)
    timelines = jp_serverapp.web_app.settings["supernode_forks"].timelines
    cell = YNotebook(alice.doc).ycells[0]["source"]
    cell += "  # edited"
    await eventually(lambda: (disk_sources(jp_root_dir, path) or [None])[0] == str(cell), WAIT, "the save")
    await eventually(lambda: timelines.of(room).versions[-1].label == "saved", WAIT, "a version of the save")
    version = timelines.of(room).versions[-1]
    assert version.content["cells"][0]["source"] == str(cell)
    assert isinstance(version.held, Encoded) is hooked
    assert version.content == snapshot(live.key, live.document)
    on_disk = (jp_root_dir / path).read_text(encoding="utf-8")
    assert on_disk == nbformat.writes(nbformat.from_dict(version.content)) + "\n"
    if not hooked:
        assert version.held is live.saved_content()[0]
        assert version.size == (jp_root_dir / path).stat().st_size
    # Once the document changes, the saved content is no version of it.
    cell = YNotebook(alice.doc).ycells[1]["source"]
    cell += "  # after"
    await eventually(lambda: live.saved_content() is None, WAIT, "the change to reach the server")
