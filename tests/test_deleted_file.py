"""A deleted file is not recreated: a notebook whose file is deleted on disk while its room is open
is never written back (not by autosave, a save request, nor the last save when the room is freed);
the room keeps the content meanwhile. Real jupyter_server, real clients, the real file system."""

from __future__ import annotations

import asyncio
import logging

import nbformat
import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Map

from helpers import eventually
from jupyter_helpers import disk_sources, live_document, server_config, write_notebook

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0  # seconds: a deadline; saves are due 0.2 s after a change, at most 1 s (server_config)


@pytest.fixture
def jp_server_config():
    return server_config()


async def open_and_delete(collab, jp_root_dir, caplog, name: str):
    """Open notebook ``name`` (one cell ``precious``), wait until it is loaded, delete its file, and
    wait until the server noticed; return the client, the session and the file's last content."""
    caplog.set_level(logging.INFO, "supernode")
    path = write_notebook(jp_root_dir, name, ["precious"])
    client, session = await collab.open(path)
    state = client.doc.get("state", type=Map)
    await client.wait_for(lambda: state.get("hash"), timeout=WAIT)
    text = (jp_root_dir / path).read_text(encoding="utf-8")
    (jp_root_dir / path).unlink()
    await eventually(lambda: f"{name} was deleted" in caplog.text, WAIT, "the deletion noticed")
    return client, session, text


async def test_an_edit_after_the_deletion_is_kept_in_the_room_but_not_written(
    collab, jp_root_dir, jp_serverapp, caplog
):
    client, session, _ = await open_and_delete(collab, jp_root_dir, caplog, "gone.ipynb")
    live = await live_document(jp_serverapp, session.room)
    source = YNotebook(client.doc).ycells[0]["source"]
    source += " edited"
    # The autosave comes due (and would write within save_max_wait): it must fail, not recreate the file.
    await eventually(lambda: "saving gone.ipynb failed (autosave)" in caplog.text, WAIT, "the autosave tried")
    client.save(7)  # Ctrl+S
    await client.wait_for(lambda: any(n.get("responseTo") == 7 for n in client.notices), WAIT)
    assert {"type": "save", "responseTo": 7, "status": "failed"} in client.notices
    assert client.doc.get("state", type=Map)["dirty"] is True
    assert not (jp_root_dir / "gone.ipynb").exists()

    # The room keeps the content: a client joining now gets the edit.
    other = await collab.join(session.room, session.session_id)
    await other.wait_synced()
    assert YNotebook(other.doc).get()["cells"][0]["source"] == "precious edited"

    # The last client leaves: the room is freed without a last save.
    await client.close()
    await other.close()
    await asyncio.wait_for(live.closed.wait(), WAIT)
    assert not (jp_root_dir / "gone.ipynb").exists()
    assert "gone.ipynb failed (room closed)" not in caplog.text  # not even tried


async def test_when_the_file_is_back_the_room_takes_it_in_and_saves_again(collab, jp_root_dir, caplog):
    client, _, text = await open_and_delete(collab, jp_root_dir, caplog, "back.ipynb")
    backup = nbformat.reads(text, as_version=4)
    source = YNotebook(client.doc).ycells[0]["source"]
    source += " edited"
    await eventually(lambda: "saving back.ipynb failed (autosave)" in caplog.text, WAIT, "the autosave tried")
    backup.cells.append(nbformat.v4.new_code_cell("restored from a backup"))  # (the same cell ids as before)
    (jp_root_dir / "back.ipynb").write_text(nbformat.writes(backup), encoding="utf-8")
    # The file's content is merged in (the new cell), the live edit kept, and the result saved.
    expected = ["precious edited", "restored from a backup"]
    await client.wait_for(lambda: [c["source"] for c in YNotebook(client.doc).get()["cells"]] == expected, WAIT)
    await eventually(lambda: disk_sources(jp_root_dir, "back.ipynb") == expected, WAIT, "the merged result saved")
