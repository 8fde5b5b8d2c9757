"""Conflicts the user must see, in a real jupyter_server with real clients.

1. A stale client (it edited offline while the room was rebuilt from a file changed on disk) gets the
   stock frontend's ``{"type": "conflict"}`` message (JupyterLab's Edit Conflict dialog), its edits are
   kept in a conflict copy, and nothing of its history reaches the room; a client that does not
   understand the message is fenced off (its edits dropped) and closed with 1003 when it asks to save.
2. A cell changed on disk while a collaborator typed in it: the typed text is kept in a conflict copy,
   the connected clients are told, the log says so once; every other change merges as before.
3. A notebook without cell ids on disk: a cell inserted above another, or a cell edited and shifted,
   is matched by content, never turned into a delete plus an add.

And the relay's seam behind the first, on the standalone relay: a policy's refusal with a notice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import jsonschema
import nbformat
import pytest
from pycrdt import Awareness, Doc, Map, Text
from jupyter_ydoc import YNotebook

from helpers import close_code_of, eventually, raw_ws
from jupyter_helpers import read_notebook, server_config, write_notebook
from rtc_client import RoomClient, SessionExpired
from rtc_relay.lib0 import read_var_string, read_var_uint8array, var_string, var_uint, var_uint8array

DEADLINE = 10
NOTICE_SCHEMA = json.loads((Path(__file__).parent.parent / "schema" / "relay-notice.json").read_text())


def conflict_notices(client: RoomClient) -> list[dict]:
    """The conflict notices ``client`` received, each checked against ``schema/relay-notice.json``."""
    found = [n for n in client.notices if n.get("type") == "conflict"]
    for notice in found:
        jsonschema.validate(notice, NOTICE_SCHEMA)
    return found


@pytest.fixture
def jp_server_config():
    # Saves wait: an edit typed in the room stays unsaved while "another program" writes the file.
    return server_config(save_delay=30.0, save_max_wait=60.0)


def type_in(cell: Map, text: str) -> None:
    """Append ``text`` to a shared cell's source (the Text itself: assigning a new one would replace it)."""
    source = cell["source"]
    source += text


def copies(root, stem: str) -> list:
    return sorted(root.glob(f"{stem}.conflict-*.ipynb"))


async def stale_doc(collab, jp_serverapp, jp_root_dir, path: str, *, typed: str | None, disk: list[str]):
    """A client's document from an earlier load of ``path``: the room is freed, the file rewritten with
    ``disk`` by another program, the room loaded again; offline, the client typed ``typed`` in a new cell."""
    client, session = await collab.open(path)
    doc = client.doc
    await client.close()
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    await eventually(lambda: session.room not in relay.rooms.rooms, timeout=DEADLINE, what="room freed")
    write_notebook(jp_root_dir, path, disk)
    if typed is not None:
        YNotebook(doc).append_cell({"cell_type": "code", "source": typed, "metadata": {}, "outputs": []})
    fresh, fresh_session = await collab.open(path)
    assert fresh_session.session_id != session.session_id
    return doc, session, fresh


# -- 1. a stale client ------------------------------------------------------------------------------


async def test_a_stale_client_with_offline_edits_is_told_and_its_edits_kept(collab, jp_root_dir, jp_serverapp, caplog):
    caplog.set_level(logging.INFO)
    path = write_notebook(jp_root_dir, "s.ipynb", ["shared"])
    doc, session, fresh = await stale_doc(
        collab, jp_serverapp, jp_root_dir, path, typed="typed while away", disk=["changed on disk"]
    )
    stale = RoomClient(collab.url(session.room, session.session_id), doc=doc, headers=collab.auth_header)
    await stale.__aenter__()
    try:
        await stale.wait_closed(timeout=DEADLINE)
        # the stock frontend's Edit Conflict dialog (it looks at "type" alone)
        assert conflict_notices(stale) == [{"type": "conflict", "reason": "unknown_session"}]
        assert isinstance(stale.error, SessionExpired) and stale.error.conflict
    finally:
        await stale.close()
    # Nothing of the stale history reached the room...
    assert [str(c["source"]) for c in YNotebook(fresh.doc).ycells] == ["changed on disk"]
    # ...its edits are in one conflict copy beside the notebook, and the log says where.
    (kept,) = copies(jp_root_dir, "s")
    assert [c.source for c in read_notebook(jp_root_dir, kept.name).cells] == ["shared", "typed while away"]
    assert f"kept it in {kept.name} and told the client" in caplog.text
    assert 'fenced off the document (told {"type": "conflict", "reason": "unknown_session"})' in caplog.text


async def test_a_client_that_does_not_understand_the_notice_is_fenced_then_closed_when_it_saves(
    collab, jp_root_dir, jp_serverapp
):
    path = write_notebook(jp_root_dir, "f.ipynb", ["shared"])
    doc, session, fresh = await stale_doc(collab, jp_serverapp, jp_root_dir, path, typed="offline", disk=["new"])
    # A plain y-protocol client: answers the relay's SyncStep1, sends presence, knows no notice.
    ws = await raw_ws(collab.url(session.room, session.session_id), additional_headers=collab.auth_header)
    presence = Awareness(doc)
    presence.set_local_state({"user": {"name": "stale"}})
    received: list[bytes] = []

    async def next_message() -> bytes:
        message = await asyncio.wait_for(ws.recv(), DEADLINE)
        received.append(message)
        return message

    message = await next_message()
    assert message[:2] == bytes((0, 0)), message[:4]  # the relay asks for the whole document
    await ws.send(bytes((0, 1)) + var_uint8array(doc.get_update(read_var_uint8array(message, 2)[0])))
    await ws.send(bytes((0, 0)) + var_uint8array(doc.get_state()))  # its own SyncStep1: never answered
    while True:
        message = await next_message()
        if message[0] == 2:
            assert json.loads(read_var_string(message, 1)[0]) == {"type": "conflict", "reason": "unknown_session"}
            break
    # Fenced: its presence comes back to it alone, and the room's edits do not reach it.
    source = YNotebook(fresh.doc).ycells[0]["source"]
    source += " + live edit"
    await fresh.flush()
    await ws.send(bytes((1,)) + var_uint8array(presence.encode_awareness_update([doc.client_id])))
    while (message := await next_message())[0] != 1:
        pass
    assert all(m[0] != 0 for m in received[1:]), "the room's document reached a fenced client"
    assert doc.client_id not in fresh.awareness.states  # its presence stayed with it
    # Its edits are dropped; its save request closes it the plain way (the reload dialog of the frontend).
    type_in(YNotebook(doc).ycells[0], "!")
    await ws.send(bytes((0, 2)) + var_uint8array(doc.get_update(read_var_uint8array(received[0], 2)[0])))
    await ws.send(bytes((2,)) + var_string("save") + var_uint(7))
    assert await close_code_of(ws, timeout=DEADLINE) == 1003
    assert json.loads(ws.protocol.close_rcvd.reason)["reason"] == "unknown_session"
    assert [str(c["source"]) for c in YNotebook(fresh.doc).ycells] == ["new + live edit"]
    assert len(copies(jp_root_dir, "f")) == 1


async def test_revert_in_the_fenced_tabs_browser_closes_it_with_the_reload_dialog(
    collab, jp_root_dir, jp_serverapp, jp_fetch
):
    """The Edit Conflict dialog's Revert (JupyterLab's docmanager:reload) lists the file's checkpoints: from
    the fenced tab's browser (same Jupyter cookies) that closes the tab with 1003; from another, nothing."""
    path = write_notebook(jp_root_dir, "r.ipynb", ["shared"])
    doc, session, fresh = await stale_doc(collab, jp_serverapp, jp_root_dir, path, typed="offline", disk=["new"])
    mine, theirs = "username-127-0-0-1-8888=alice-browser", "username-127-0-0-1-8888=bob-browser"
    ws = await raw_ws(
        collab.url(session.room, session.session_id), additional_headers={**collab.auth_header, "Cookie": mine}
    )
    message = await asyncio.wait_for(ws.recv(), DEADLINE)
    await ws.send(bytes((0, 1)) + var_uint8array(doc.get_update(read_var_uint8array(message, 2)[0])))
    while (message := await asyncio.wait_for(ws.recv(), DEADLINE))[0] != 2:
        pass  # until the conflict notice: fenced
    presence = Awareness(doc)
    presence.set_local_state({"user": {"name": "stale"}})

    async def still_open() -> bool:  # its presence comes back to a fenced tab: a round trip, no sleep
        await ws.send(bytes((1,)) + var_uint8array(presence.encode_awareness_update([doc.client_id])))
        while (await asyncio.wait_for(ws.recv(), DEADLINE))[0] != 1:
            pass
        return True

    for cookie in (theirs, None):  # another browser, a script: the tab stays
        headers = {"Cookie": cookie} if cookie else {}
        await jp_fetch("api", "contents", path, "checkpoints", headers=headers)
        assert await still_open()
    await jp_fetch("api", "contents", path, "checkpoints", headers={"Cookie": mine})
    assert await close_code_of(ws, timeout=DEADLINE) == 1003
    reason = json.loads(ws.protocol.close_rcvd.reason)
    assert (reason["reason"], reason["reloadable"]) == ("unknown_session", True)  # the reload dialog
    assert [str(c["source"]) for c in YNotebook(fresh.doc).ycells] == ["new"]


async def test_a_stale_client_with_nothing_new_gets_the_reload_dialog_and_no_copy(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "n.ipynb", ["shared"])
    doc, session, _ = await stale_doc(collab, jp_serverapp, jp_root_dir, path, typed=None, disk=["shared", "more"])
    stale = RoomClient(collab.url(session.room, session.session_id), doc=doc, headers=collab.auth_header)
    await stale.__aenter__()
    try:
        assert await stale.wait_closed(timeout=DEADLINE) == 1003
        assert json.loads(stale.close_reason) == {
            "reason": "unknown_session",
            "sessionId": session.session_id,
            "reloadable": True,
        }
        assert not [n for n in stale.notices if n.get("type") == "conflict"]
    finally:
        await stale.close()
    assert copies(jp_root_dir, "n") == []


async def test_a_stale_client_coming_back_is_fenced_again_untold_and_copied_once(
    collab, jp_root_dir, jp_serverapp, caplog
):
    caplog.set_level(logging.INFO)
    path = write_notebook(jp_root_dir, "t.ipynb", ["shared"])
    doc, session, _ = await stale_doc(collab, jp_serverapp, jp_root_dir, path, typed="mine", disk=["theirs"])
    stale = RoomClient(collab.url(session.room, session.session_id), doc=doc, headers=collab.auth_header)
    await stale.__aenter__()
    try:
        await stale.wait_closed(timeout=DEADLINE)
        assert stale.error is not None and stale.error.conflict
    finally:
        await stale.close()
    # A reconnect (a browser's, after a network blip) brings the same copy back: no second dialog, no second copy.
    again = RoomClient(collab.url(session.room, session.session_id), doc=doc, headers=collab.auth_header)
    await again.__aenter__()
    try:
        await eventually(lambda: "fenced off the document (told before)" in caplog.text, DEADLINE, "fenced again")
        assert not again.closed.is_set() and not [n for n in again.notices if n.get("type") == "conflict"]
    finally:
        await again.close()
    assert len(copies(jp_root_dir, "t")) == 1


# -- 2. a cell changed on disk and typed in -----------------------------------------------------------


def rewrite_cell(root, path: str, index: int, source: str) -> None:
    """Another program changes one cell of the notebook on disk (ids and the rest kept)."""
    nb = read_notebook(root, path)
    nb.cells[index].source = source
    (root / path).write_text(nbformat.writes(nb), encoding="utf-8")


async def test_text_typed_in_a_cell_changed_on_disk_is_kept_and_the_users_told(
    collab, jp_root_dir, jp_serverapp, caplog
):
    caplog.set_level(logging.INFO)
    path = write_notebook(jp_root_dir, "d.ipynb", ["a = 1", "b = 2", "c = 3"])
    alice, session = await collab.open(path)
    bob = await collab.join(session.room, session.session_id)  # present, typing nothing: not told
    carol = await collab.join(session.room, session.session_id)  # shows no presence: told, just in case
    for name, client in (("alice", alice), ("bob", bob)):
        client.awareness.set_local_state({"user": {"name": name}})
    await bob.wait_synced()
    await carol.wait_synced()
    await alice.wait_for(lambda: len(alice.awareness.states) == 2, timeout=DEADLINE)
    cells = YNotebook(alice.doc).ycells
    type_in(cells[0], "  # typed by alice")  # unsaved (the save waits 30 s)
    type_in(cells[2], "  # also typed, untouched on disk")
    await alice.flush()
    rewrite_cell(jp_root_dir, path, 0, "a = 100  # changed by another program")
    await alice.wait_for(lambda: conflict_notices(alice), timeout=DEADLINE)
    await carol.wait_for(lambda: conflict_notices(carol), timeout=DEADLINE)
    # The disk's version is in the room for that cell; every other live edit stays.
    merged = ["a = 100  # changed by another program", "b = 2", "c = 3  # also typed, untouched on disk"]
    await alice.wait_for(lambda: [str(c["source"]) for c in YNotebook(alice.doc).ycells] == merged, timeout=DEADLINE)
    # What alice typed is in a conflict copy beside the notebook, named after it.
    (kept,) = copies(jp_root_dir, "d")
    assert read_notebook(jp_root_dir, kept.name).cells[0].source == "a = 1  # typed by alice"
    (notice,) = conflict_notices(alice)
    assert notice["reason"] == "changed_on_disk" and notice["copy"] == kept.name and len(notice["cells"]) == 1
    lines = [r.getMessage() for r in caplog.records if "changed on disk and in the room" in r.getMessage()]
    assert len(lines) == 1 and kept.name in lines[0] and "2 client(s) told" in lines[0], lines
    await bob.flush()  # the notices went out before the merge's update, which bob has now
    assert not conflict_notices(bob)


async def test_a_cell_deleted_on_disk_while_typed_in_is_kept_too(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "x.ipynb", ["keep", "doomed"])
    alice, _ = await collab.open(path)
    type_in(YNotebook(alice.doc).ycells[1], " but typed in")
    await alice.flush()
    nb = read_notebook(jp_root_dir, path)
    del nb.cells[1]
    (jp_root_dir / path).write_text(nbformat.writes(nb), encoding="utf-8")
    await alice.wait_for(lambda: [n for n in alice.notices if n.get("type") == "conflict"], timeout=DEADLINE)
    (kept,) = copies(jp_root_dir, "x")
    assert [c.source for c in read_notebook(jp_root_dir, kept.name).cells] == ["keep", "doomed but typed in"]


async def test_disk_edits_to_cells_nobody_typed_in_merge_silently(collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "m.ipynb", ["one", "two"])
    alice, _ = await collab.open(path)
    type_in(YNotebook(alice.doc).ycells[0], " typed")
    await alice.flush()
    rewrite_cell(jp_root_dir, path, 1, "two on disk")
    await alice.wait_for(
        lambda: [str(c["source"]) for c in YNotebook(alice.doc).ycells] == ["one typed", "two on disk"],
        timeout=DEADLINE,
    )
    assert not [n for n in alice.notices if n.get("type") == "conflict"]
    assert copies(jp_root_dir, "m") == []


async def test_a_text_file_changed_on_disk_while_typed_in_keeps_the_typed_version(collab, jp_root_dir):

    (jp_root_dir / "notes.txt").write_text("line one\n", encoding="utf-8")
    alice, _ = await collab.open("notes.txt", fmt="text", kind="file")
    source = alice.doc.get("source", type=Text)
    source += "typed in the room\n"
    await alice.flush()
    (jp_root_dir / "notes.txt").write_text("line one, edited by another program\n", encoding="utf-8")
    await alice.wait_for(lambda: conflict_notices(alice), timeout=DEADLINE)
    await alice.wait_for(lambda: str(source) == "line one, edited by another program\n", timeout=DEADLINE)
    (kept,) = sorted(jp_root_dir.glob("notes.conflict-*.txt"))
    assert kept.read_text(encoding="utf-8") == "line one\ntyped in the room\n"


# -- 3. cells without ids ---------------------------------------------------------------------------


def write_without_ids(root, name: str, sources: list[str]) -> str:
    """An nbformat 4.4 notebook: no cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = 4
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    raw = json.loads(nbformat.writes(nb))
    for cell in raw["cells"]:
        cell.pop("id", None)
    raw["nbformat_minor"] = 4
    (root / name).write_text(json.dumps(raw), encoding="utf-8")
    return name


async def test_a_cell_inserted_above_in_a_notebook_without_ids_shifts_nothing(collab, jp_root_dir):
    path = write_without_ids(jp_root_dir, "old.ipynb", ["first", "second", "third"])
    alice, _ = await collab.open(path)
    ids = [c["id"] for c in YNotebook(alice.doc).ycells]
    type_in(YNotebook(alice.doc).ycells[2], " typed live")
    await alice.flush()
    write_without_ids(jp_root_dir, path, ["inserted on disk", "first", "second", "third"])
    await alice.wait_for(lambda: len(YNotebook(alice.doc).ycells) == 4, timeout=DEADLINE)
    cells = YNotebook(alice.doc).ycells
    assert [str(c["source"]) for c in cells] == ["inserted on disk", "first", "second", "third typed live"]
    assert [c["id"] for c in cells][1:] == ids  # the same cells, not deleted and added again
    assert not [n for n in alice.notices if n.get("type") == "conflict"]


async def test_a_cell_edited_and_shifted_on_disk_without_ids_merges_into_the_same_cell(collab, jp_root_dir):
    path = write_without_ids(jp_root_dir, "old2.ipynb", ["import os", "x = compute()", "plot(x)"])
    alice, _ = await collab.open(path)
    ids = [c["id"] for c in YNotebook(alice.doc).ycells]
    meta = YNotebook(alice.doc).ycells[1]["metadata"]
    assert isinstance(meta, Map)
    meta["tags"] = ["live"]  # a live edit of another field of the cell the disk edits
    await alice.flush()
    write_without_ids(jp_root_dir, path, ["# header", "import os", "x = compute(fast=True)", "plot(x)"])
    await alice.wait_for(lambda: len(YNotebook(alice.doc).ycells) == 4, timeout=DEADLINE)
    cells = YNotebook(alice.doc).ycells
    assert [str(c["source"]) for c in cells] == ["# header", "import os", "x = compute(fast=True)", "plot(x)"]
    assert [c["id"] for c in cells][1:] == ids
    assert cells[2]["metadata"].to_py().get("tags") == ["live"]


def test_ids_derived_for_a_notebook_without_ids_do_not_depend_on_position():
    from supernode.content import normalize_notebook

    def ids(sources):
        nb = {
            "nbformat": 4,
            "nbformat_minor": 4,
            "metadata": {},
            "cells": [
                {"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None}
                for s in sources
            ],
        }
        return [c["id"] for c in normalize_notebook(nb)["cells"]]

    before = ids(["a", "b", "b"])
    after = ids(["new", "a", "b", "b"])
    assert after[1:] == before and len(set(after)) == 4  # identical cells still get distinct ids


def test_adopt_ids_pairs_an_edited_cell_between_anchors():
    from supernode.cell_match import adopt_ids

    def cell(source, cid=None):
        c = {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
        if cid:
            c["id"] = cid
        return c

    base = {"cells": [cell("a", "A"), cell("b = 1", "B"), cell("c", "C")]}
    disk = {"cells": [cell("a"), cell("new cell entirely"), cell("b = 2"), cell("c")]}
    adopted = [c.get("id") for c in adopt_ids(disk, base)["cells"]]
    assert adopted == ["A", None, "B", "C"]
    assert "id" not in disk["cells"][0]  # not modified in place


# -- the relay's seam, standalone (no Jupyter) ------------------------------------------------------


async def test_a_policys_refusal_with_a_notice_fences_a_client_of_the_standalone_relay(relay, connect):

    from rtc_relay.policy import Refusal, RoomPolicy

    class StalePolicy(RoomPolicy):
        """Refuses clients that say ``?stale=1``, keeping their document when it has text."""

        kept: list[bytes] = []

        def claims(self, name: str) -> bool:
            return name.startswith("fence-")

        def admit(self, name, params):
            if params.get("stale") == "1":
                return Refusal(
                    1003, '{"reason":"unknown_session"}', True, {"type": "conflict", "reason": "unknown_session"}
                )
            return None

        async def recover(self, name, update, params) -> bool:
            doc = Doc()
            doc.apply_update(update)
            if not str(doc.get("t", type=Text)):
                return False
            self.kept.append(update)
            return True

    relay.add_policy(StalePolicy())
    live = await connect(relay.url + "fence-a")
    await live.wait_synced()
    stale_doc = Doc()
    stale_doc.get("t", type=Text).insert(0, "offline text")
    stale = await connect(relay.url + "fence-a?stale=1", doc=stale_doc)
    await stale.wait_closed(timeout=DEADLINE)
    assert isinstance(stale.error, SessionExpired) and stale.error.conflict
    assert len(StalePolicy.kept) == 1 and str(live.doc.get("t", type=Text)) == ""  # kept, never merged
    empty = await connect(relay.url + "fence-a?stale=1")  # nothing to keep: closed the plain way
    assert await empty.wait_closed(timeout=DEADLINE) == 1003
    assert not [n for n in empty.notices if n.get("type") == "conflict"] and len(StalePolicy.kept) == 1
