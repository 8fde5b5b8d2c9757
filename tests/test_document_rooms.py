"""Document rooms and their direct connection in a real jupyter_server: when a room may be freed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nbformat
import pytest
from jupyter_server.services.contents.filecheckpoints import AsyncFileCheckpoints
from jupyter_ydoc import YNotebook
from pycrdt import Map

from helpers import close_code_of, eventually, raw_ws
from jupyter_helpers import disk_sources, server_config, write_notebook
from supernode.notebook_writer import writes_plain_files


@pytest.fixture
def jp_server_config():
    # No autosave within a test (only freeing or a request saves), and the file poll far away.
    return server_config(save_delay=30.0, save_max_wait=60.0, file_poll_interval=30.0)


async def test_an_idle_room_is_freed_only_once_its_file_holds_every_edit(collab, jp_root_dir, jp_serverapp):
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    path = write_notebook(jp_root_dir, "kept.ipynb", ["a = 1"])
    alice, session = await collab.open(path)
    saves: list[bool] = []  # for each save: was the room still in memory?
    jp_serverapp.contents_manager.register_post_save_hook(
        lambda model, os_path, contents_manager, **kw: saves.append(session.room in relay.rooms.rooms)
    )
    source = YNotebook(alice.doc).ycells[0]["source"]
    source += "  # typed, then the tab closed"
    await alice.flush()
    await alice.wait_for(lambda: alice.doc.get("state", type=Map)["dirty"] is True)
    await alice.close()

    await eventually(lambda: session.room not in relay.rooms.rooms, timeout=10, what="the room freed")
    assert disk_sources(jp_root_dir, path) == ["a = 1  # typed, then the tab closed"]
    assert saves == [True]  # saved while the room was kept, not after it was gone

    again, reopened = await collab.open(path)  # a new load, at once: nothing of the old one to wait for
    assert reopened.session_id != session.session_id
    assert [c["source"] for c in YNotebook(again.doc).get()["cells"]] == ["a = 1  # typed, then the tab closed"]


async def test_an_execution_holds_the_room_through_its_direct_connection(collab, jp_root_dir, jp_serverapp):
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    supernode = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    path = write_notebook(jp_root_dir, "held.ipynb", ["a = 1"])
    live = await supernode.documents.document_for_path(path)
    connection = relay.rooms.rooms[f"json:notebook:{live.key.file_id}"].direct
    live.hold(True)
    assert connection.holds == {"execution queued or running": 1}
    live.hold(False)
    assert connection.holds == {}


async def test_a_save_right_after_a_rename_goes_to_the_new_path(collab, jp_root_dir, jp_fetch):
    path = write_notebook(jp_root_dir, "before.ipynb", ["x = 1"])
    alice, session = await collab.open(path)
    source = YNotebook(alice.doc).ycells[0]["source"]
    source += "  # typed before the rename"
    await alice.flush()
    await jp_fetch("api", "contents", path, method="PATCH", body='{"path": "after.ipynb"}')
    alice.save(7)  # Ctrl+S at once: the poll (every 30 s here) has not run
    await alice.wait_for(lambda: any(n.get("responseTo") == 7 for n in alice.notices), timeout=10)
    answer = next(n for n in alice.notices if n.get("responseTo") == 7)
    assert answer["status"] == "success", answer
    assert disk_sources(jp_root_dir, "after.ipynb") == ["x = 1  # typed before the rename"]
    assert not (jp_root_dir / "before.ipynb").exists()
    assert alice.doc.get("state", type=Map)["path"] == "after.ipynb"


async def test_a_rename_waits_for_the_save_in_flight_and_the_old_path_never_comes_back(
    collab, jp_root_dir, jp_fetch, jp_serverapp
):
    """The save has chosen its path and is inside the contents manager (held there by a gate on Jupyter's own
    save) when the rename arrives: the rename waits for it, and the next save goes to the new path."""
    path = write_notebook(jp_root_dir, "held.ipynb", ["x = 1"])
    alice, _ = await collab.open(path)
    cm = jp_serverapp.contents_manager
    entered, gate = asyncio.Event(), asyncio.Event()
    original = cm.save

    async def gated_save(model, path):
        entered.set()
        await gate.wait()
        return await original(model, path)

    cm.save = gated_save
    try:
        source = YNotebook(alice.doc).ycells[0]["source"]
        source += "  # saved while renamed"
        await alice.flush()
        alice.save(1)
        await asyncio.wait_for(entered.wait(), 10)
        rename = asyncio.ensure_future(
            jp_fetch("api", "contents", path, method="PATCH", body='{"path": "moved.ipynb"}')
        )
        await asyncio.sleep(0.2)  # time for the rename to reach the contents manager, were it not held off
        assert not rename.done() and (jp_root_dir / "held.ipynb").exists()
        gate.set()
        assert (await asyncio.wait_for(rename, 10)).code == 200
    finally:
        cm.save = original
    state = alice.doc.get("state", type=Map)
    await alice.wait_for(lambda: state.get("path") == "moved.ipynb", timeout=5)
    source += " and after"
    await alice.flush()
    alice.save(2)
    await alice.wait_for(lambda: any(n.get("responseTo") == 2 for n in alice.notices), timeout=10)
    assert disk_sources(jp_root_dir, "moved.ipynb") == ["x = 1  # saved while renamed and after"]
    assert not (jp_root_dir / "held.ipynb").exists()


async def test_a_folder_renamed_moves_the_documents_inside(collab, jp_root_dir, jp_fetch):
    (jp_root_dir / "old").mkdir()
    path = write_notebook(jp_root_dir / "old", "n.ipynb", ["y = 2"])
    alice, _ = await collab.open(f"old/{path}")
    await jp_fetch("api", "contents", "old", method="PATCH", body='{"path": "new"}')
    state = alice.doc.get("state", type=Map)
    await alice.wait_for(lambda: state.get("path") == "new/n.ipynb", timeout=2)


@pytest.mark.parametrize(
    ("name", "content", "fmt", "kind"),
    [
        ("latin1.txt", "caf\xe9\n".encode("latin-1"), "text", "file"),  # not UTF-8
        ("broken.ipynb", b'{"cells": "not a notebook"', "json", "notebook"),  # not a notebook
    ],
)
async def test_a_file_that_cannot_be_opened_gets_the_frontends_load_error(
    collab, jp_root_dir, caplog, name, content, fmt, kind
):
    (jp_root_dir / name).write_bytes(content)
    session = await collab.session(name, fmt, kind)  # answered, as the stock frontend expects
    assert session.status in (200, 201) and session.session_id
    ws = await raw_ws(collab.url(session.room, session.session_id), additional_headers=collab.auth_header)
    code = await close_code_of(ws, timeout=10)
    assert code == 4400, code
    assert ws.protocol.close_rcvd.reason  # the dialog shows why
    told = [r for r in caplog.records if r.name == "supernode.documents" and "cannot be opened" in r.getMessage()]
    # One line per load: the session's, and the join's when it came after that one had failed (the session
    # is answered without waiting for its load, so the join may find it still under way).
    assert 1 <= len(told) <= 2 and name in told[0].getMessage()
    assert all(r.exc_info is None for r in caplog.records if r.levelname in ("WARNING", "ERROR"))


async def test_document_events_on_the_servers_event_bus(collab, jp_root_dir, jp_serverapp, jp_fetch):
    from supernode.events import DOCUMENT_EVENTS, JC_SESSION_EVENTS

    seen: list[tuple[str, dict]] = []

    async def listener(logger, schema_id, data):
        seen.append((schema_id, dict(data)))

    for schema_id in (DOCUMENT_EVENTS, JC_SESSION_EVENTS):
        jp_serverapp.event_logger.add_listener(schema_id=schema_id, listener=listener)
    path = write_notebook(jp_root_dir, "evented.ipynb", ["a = 1"])
    alice, session = await collab.open(path)
    source = YNotebook(alice.doc).ycells[0]["source"]
    source += "  # typed"
    await alice.flush()
    alice.save(1)
    await alice.wait_for(lambda: any(n.get("responseTo") == 1 for n in alice.notices), timeout=10)
    write_notebook(jp_root_dir, "evented.ipynb", ["b = 2"])  # another program writes the file
    alice.save(2)  # (no poll in this module: the save takes the disk's change in first)
    await alice.wait_for(lambda: str(YNotebook(alice.doc).ycells[0]["source"]) == "b = 2", timeout=10)
    await jp_fetch("api", "contents", path, method="PATCH", body='{"path": "moved.ipynb"}')
    await alice.close()
    await eventually(lambda: any(d["action"] == "freed" for _, d in seen), timeout=10, what="the freed event")

    ours = [d for s, d in seen if s == DOCUMENT_EVENTS]
    actions = [d["action"] for d in ours]
    assert actions[0] == "loaded" and ours[0]["room"] == session.room and ours[0]["path"] == path
    assert "saved" in actions and "merged_from_disk" in actions and actions[-1] == "freed"
    renamed = next(d for d in ours if d["action"] == "renamed")
    assert renamed == {"action": "renamed", "room": session.room, "path": "moved.ipynb", "old_path": path}
    jc = [(d["action"], d["level"]) for s, d in seen if s == JC_SESSION_EVENTS]
    assert jc[0] == ("initialize", "INFO") and ("save", "INFO") in jc and ("overwrite", "INFO") in jc
    assert jc[-1] == ("clean", "INFO")


class WritesInTheInstant(AsyncFileCheckpoints):
    """jupyter_server's checkpoints, asked for between the contents manager's write of a file and its stat:
    there "another program" writes the file (once, when armed), in the instant a save cannot see."""

    foreign: tuple[Path, str] | None = None

    async def list_checkpoints(self, path):
        if self.foreign is not None:
            target, text = self.foreign
            self.foreign = None
            target.write_text(text, encoding="utf-8")
        return await super().list_checkpoints(path)


@pytest.mark.parametrize("size", ["same size", "other size"])
async def test_a_file_written_by_someone_else_right_after_our_save_is_merged(
    collab, jp_root_dir, jp_serverapp, caplog, size
):
    """The stat after our write takes their file for ours; the read-back (our bytes' hash, then the cells)
    finds their edit and merges it, with no file watcher to help (it polls every 30 s here)."""
    cm = jp_serverapp.contents_manager
    # The server's default manager, as the extensions leave it (our contents feed wraps its get), saves
    # through supernode's own writer: the hash compared is that of the bytes it wrote.
    assert writes_plain_files(cm)
    cm.checkpoints = checkpoints = WritesInTheInstant(**cm.checkpoints_kwargs)
    path = write_notebook(jp_root_dir, "raced.ipynb", ["a = 1", "b = 2"])
    alice, _ = await collab.open(path)
    type_in = YNotebook(alice.doc).ycells[0]["source"]
    type_in += "  # ours"
    await alice.flush()
    theirs = "b = 2  # mine" if size == "other size" else "b = 3"
    foreign = nbformat.reads((jp_root_dir / path).read_text(encoding="utf-8"), as_version=4)
    foreign.cells[0].source = "a = 1  # ours"
    foreign.cells[1].source = theirs
    checkpoints.foreign = (jp_root_dir / path, nbformat.writes(foreign))
    alice.save(1)
    await alice.wait_for(lambda: any(n.get("responseTo") == 1 for n in alice.notices), timeout=10)
    assert checkpoints.foreign is None  # written in the instant
    sources = lambda: [str(cell["source"]) for cell in YNotebook(alice.doc).ycells]  # noqa: E731
    await alice.wait_for(lambda: sources() == ["a = 1  # ours", theirs], timeout=10)
    assert "written by someone else right after our save" in caplog.text


async def test_a_save_read_back_takes_our_own_file_for_ours(collab, jp_root_dir, caplog):
    """After each save the file is read back (a program writing in that instant is merged): cells of
    several lines, which the file holds as lists of lines, are not mistaken for someone else's write."""
    path = write_notebook(jp_root_dir, "lines.ipynb", ["a = 1\nb = 2\nc = 3", "# one line"])
    alice, _ = await collab.open(path)
    source = YNotebook(alice.doc).ycells[0]["source"]
    source += "\nd = 4"
    await alice.flush()
    for request in (1, 2):  # the second save waits for the first one's read-back (it holds the save lock)
        alice.save(request)
        await alice.wait_for(lambda r=request: any(n.get("responseTo") == r for n in alice.notices), timeout=10)
    assert disk_sources(jp_root_dir, path) == ["a = 1\nb = 2\nc = 3\nd = 4", "# one line"]
    assert "written by someone else" not in caplog.text


async def test_the_heap_a_large_notebooks_load_freed_is_given_back(collab, jp_root_dir, jp_serverapp):
    """glibc keeps what a load frees (about twice a 50 MB notebook's size): once a large file's load and its
    background work are done, the heap is trimmed; a small file's load does not trim."""
    import nbformat

    supernode = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    heap = supernode.documents.heap
    small = write_notebook(jp_root_dir, "small.ipynb", ["a = 1"])
    await collab.open(small)
    documents = supernode.documents
    await eventually(lambda: not documents._keeping, timeout=20, what="the small load's background work done")
    big = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(text)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="0123456789abcde\n" * 100_000)]
    big.cells = [cell]
    nbformat.write(big, str(jp_root_dir / "big.ipynb"))
    assert heap.trims == 0
    client, _ = await collab.open("big.ipynb")
    await eventually(lambda: heap.trims == 1, timeout=20, what="the heap trimmed after the large load")
    assert "".join(YNotebook(client.doc).get()["cells"][0]["outputs"][0]["text"]).count("\n") == 100_000
