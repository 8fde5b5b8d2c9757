"""Notebooks loaded in stages (``SupernodeExtension.load_progressively``): a notebook with very large
outputs reaches its first client with its cells before those outputs, and nothing else changes."""

from __future__ import annotations

import asyncio

import nbformat
import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Doc

from execution_helpers import Api
from helpers import eventually, raw_ws
from jupyter_helpers import live_document, read_notebook, server_config

from rtc_relay.lib0 import read_var_uint8array, var_uint8array

BIG = "".join(f"line {i:06d} of a long training log\n" for i in range(20_000))  # ~0.7 MB of stream text
MSG_SYNC, STEP1, STEP2, UPDATE = 0, 0, 1, 2


@pytest.fixture
def jp_server_config():
    return server_config(load_progressively=True, output_delay_threshold_mb=0.1)


def _write(root, name: str) -> str:
    nb = nbformat.v4.new_notebook()
    small = nbformat.v4.new_code_cell("print('small')", id="small")
    small.outputs = [nbformat.v4.new_output("stream", name="stdout", text="small\n")]
    small.execution_count = 1
    big = nbformat.v4.new_code_cell("train()", id="big")
    big.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=BIG),
        nbformat.v4.new_output("execute_result", data={"text/plain": "'done'"}, execution_count=2),
    ]
    big.execution_count = 2
    nb.cells = [small, big, nbformat.v4.new_markdown_cell("# notes", id="notes")]
    nbformat.write(nb, str(root / name))
    return name


def _cells(doc: Doc) -> list[tuple[str, list]]:
    return [(cell["source"], cell.get("outputs", [])) for cell in YNotebook(doc).get()["cells"]]


async def test_the_first_client_gets_the_cells_before_their_large_outputs(collab, jp_root_dir, jp_serverapp):
    path = _write(jp_root_dir, "training.ipynb")
    before = (jp_root_dir / path).read_bytes()
    session = await collab.session(path)
    ws = await raw_ws(collab.url(session.room, session.session_id), additional_headers=collab.auth_header)
    await ws.send(bytes((MSG_SYNC, STEP1)) + var_uint8array(b"\x00"))  # "I have nothing"
    doc = Doc()
    first: list[tuple[str, list]] | None = None
    first_loading = None
    later = 0  # updates after the first sync
    deadline = asyncio.get_running_loop().time() + 20
    while first is None or len(_cells(doc)[1][1]) < 2 or "loading" in YNotebook(doc).ystate:
        assert asyncio.get_running_loop().time() < deadline, (first, later)
        message = await asyncio.wait_for(ws.recv(), 10)
        if message[0] != MSG_SYNC or message[1] == STEP1:
            continue
        update, _ = read_var_uint8array(message, 2)
        doc.apply_update(update)
        if message[1] == STEP2:
            first = _cells(doc)
            first_loading = YNotebook(doc).ystate.get("loading")
        else:
            later += 1
    await ws.close()

    # The first sync: every cell and every small output, without the large ones.
    assert [source for source, _ in first] == ["print('small')", "train()", "# notes"]
    assert first[0][1] == [{"output_type": "stream", "name": "stdout", "text": "small\n"}]
    assert first[1][1] == []
    # The state map says the document is not whole yet, until the last of the outputs is in.
    assert first_loading is True
    # Then the large outputs, as ordinary updates, in order.
    assert later >= 1
    outputs = _cells(doc)[1][1]
    assert outputs[0]["text"] == BIG and outputs[1]["data"] == {"text/plain": "'done'"}
    # Loading is not an edit: the file is not written.
    live = await live_document(jp_serverapp, session.room)
    await asyncio.wait_for(live.loaded.wait(), 10)
    assert live.dirty is False and (jp_root_dir / path).read_bytes() == before


async def test_edits_during_and_after_the_stages_keep_the_large_outputs_on_disk(collab, jp_root_dir, jp_serverapp):
    path = _write(jp_root_dir, "edited.ipynb")
    client, session = await collab.open(path)
    notes = YNotebook(client.doc).ycells[2]["source"]
    notes += " and more"  # maybe before the outputs arrived: the save waits for the whole document

    def saved() -> bool:
        try:
            return read_notebook(jp_root_dir, path).cells[2].source == "# notes and more"
        except nbformat.reader.NotJSONError:
            return False  # caught half written

    await eventually(saved, 10, "the edit saved")
    saved = read_notebook(jp_root_dir, path).cells[1]
    assert saved.outputs[0]["text"] == BIG and saved.execution_count == 2
    await client.wait_for(lambda: len(_cells(client.doc)[1][1]) == 2, timeout=10)
    assert _cells(client.doc)[1][1][0]["text"] == BIG


async def test_the_server_side_api_gets_the_whole_document(jp_serverapp, jp_root_dir):
    path = _write(jp_root_dir, "api.ipynb")
    extension = jp_serverapp.web_app.settings["jupyter_server_ydoc"]
    # Nobody joins the room: the API does not wait for a client to get the whole document.
    started = asyncio.get_running_loop().time()
    document = await extension.get_document(path=path, content_type="notebook", file_format="json", copy=True)
    assert asyncio.get_running_loop().time() - started < 2.0  # not the stages' wait for a first client
    assert document.get()["cells"][1]["outputs"][0]["text"] == BIG


async def test_the_timeline_and_forks_of_a_document_loading_in_stages_hold_its_large_outputs(
    collab, jp_root_dir, jp_serverapp
):
    path = _write(jp_root_dir, "versions.ipynb")
    _, session = await collab.open(path)  # the 'opened' version is taken once the outputs followed
    extension = jp_serverapp.web_app.settings["jupyter_server_ydoc"]
    await eventually(lambda: extension.timelines.of(session.room) is not None, 10, "the 'opened' version")
    opened = extension.timelines.of(session.room).versions[0]
    assert opened.label == "opened" and opened.content["cells"][1]["outputs"][0]["text"] == BIG
    fork = await extension.forks.create(session.room, synchronize=False, title="t", description="")
    assert YNotebook(fork.document.ydoc).get()["cells"][1]["outputs"][0]["text"] == BIG


PART = "".join(f"a line of cell output {i:06d}\n" for i in range(5_000))  # ~0.15 MB: above the 0.1 MB threshold


def _write_many(root, name: str, cells: int = 40) -> str:
    """A notebook of ``cells`` code cells, each with one large output of its own (each loaded in a stage)."""
    nb = nbformat.v4.new_notebook()
    for i in range(cells):
        cell = nbformat.v4.new_code_cell(f"run({i})", id=f"cell-{i}")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"cell {i}\n{PART}")]
        cell.execution_count = i + 1
        nb.cells.append(cell)
    nbformat.write(nb, str(root / name))
    return name


def _output_texts(doc: Doc) -> list[list[str]]:
    """Each cell's outputs' texts, read from the shared types themselves (a duplicate would show)."""
    return [[str(output["text"]) for output in cell["outputs"]] for cell in YNotebook(doc).ycells]


def _file_texts(root, name: str) -> list[list[str]]:
    return [[output["text"] for output in cell.outputs] for cell in read_notebook(root, name).cells]


async def _sync(ws, doc: Doc) -> None:
    """Send SyncStep1 with an empty state vector; apply messages to ``doc`` until the SyncStep2."""
    await ws.send(bytes((MSG_SYNC, STEP1)) + var_uint8array(b"\x00"))
    while True:
        message = await asyncio.wait_for(ws.recv(), 10)
        if message[0] == MSG_SYNC and message[1] in (STEP2, UPDATE):
            doc.apply_update(read_var_uint8array(message, 2)[0])
            if message[1] == STEP2:
                return


async def _follow(ws, doc: Doc, done, timeout: float) -> None:
    """Apply the updates that reach ``ws`` to ``doc`` until ``done()``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        assert asyncio.get_running_loop().time() < deadline
        message = await asyncio.wait_for(ws.recv(), 10)
        if message[0] == MSG_SYNC and message[1] in (STEP2, UPDATE):
            doc.apply_update(read_var_uint8array(message, 2)[0])


async def test_a_user_who_joins_while_the_outputs_follow_gets_each_of_them_once(collab, jp_root_dir, jp_serverapp):
    path = _write_many(jp_root_dir, "joined.ipynb")
    before = (jp_root_dir / path).read_bytes()
    expected = _file_texts(jp_root_dir, path)
    session = await collab.session(path)
    live = await live_document(jp_serverapp, session.room)
    url = collab.url(session.room, session.session_id)
    first_ws = await raw_ws(url, additional_headers=collab.auth_header)
    late_ws = await raw_ws(url, additional_headers=collab.auth_header)
    first, late = Doc(), Doc()
    await _sync(first_ws, first)  # the stages start once a client has the first one
    await _sync(late_ws, late)  # at once: while the outputs follow, one cell a turn
    at_join = sum(1 for texts in _output_texts(late) if texts)
    assert at_join < len(expected)  # it joined during the stages: it has some of the large outputs, not all
    for ws, doc in ((first_ws, first), (late_ws, late)):
        await _follow(ws, doc, lambda d=doc: _output_texts(d) == expected, 20)
    await asyncio.wait_for(live.loaded.wait(), 10)
    assert _output_texts(first) == _output_texts(late) == _output_texts(live.document.ydoc) == expected
    await first_ws.close()
    await late_ws.close()
    assert live.dirty is False and (jp_root_dir / path).read_bytes() == before


async def test_a_room_freed_before_its_stages_ran_leaves_the_file_and_opens_whole_again(
    collab, jp_root_dir, jp_serverapp
):
    path = _write_many(jp_root_dir, "left.ipynb", cells=5)
    before = (jp_root_dir / path).read_bytes()
    expected = _file_texts(jp_root_dir, path)
    session = await collab.session(path)
    live = await live_document(jp_serverapp, session.room)
    # A client that joins and leaves without syncing: the stages wait for a first client, the room is freed.
    client = await collab.join(session.room, session.session_id)
    await client.close()
    relay = jp_serverapp.web_app.settings["rtc_relay"]
    await eventually(lambda: session.room not in relay.rooms.rooms, 10, "room freed")
    await asyncio.wait_for(live.closed.wait(), 10)
    # Closed, the document was made whole (nothing may save a part of it), and nothing was written.
    assert live.loaded.is_set() and _output_texts(live.document.ydoc) == expected
    assert (jp_root_dir / path).read_bytes() == before
    again, _ = await collab.open(path)
    await again.wait_for(lambda: _output_texts(again.doc) == expected, timeout=20)


async def test_a_change_on_disk_while_the_outputs_follow_is_merged_with_the_whole_file(
    collab, jp_root_dir, jp_serverapp
):
    path = _write_many(jp_root_dir, "changed.ipynb")
    expected = _file_texts(jp_root_dir, path)
    client, session = await collab.open(path)
    changed = read_notebook(jp_root_dir, path)
    changed.cells[0].source = "run(0)  # changed on disk"
    nbformat.write(changed, str(jp_root_dir / path))  # the merge waits for the whole document
    await client.wait_for(
        lambda: YNotebook(client.doc).get()["cells"][0]["source"] == "run(0)  # changed on disk", timeout=20
    )
    await client.wait_for(lambda: _output_texts(client.doc) == expected, timeout=20)
    live = await live_document(jp_serverapp, session.room)
    assert _output_texts(live.document.ydoc) == expected
    await eventually(lambda: not live.dirty, 10, "the merged document saved or clean")
    assert _file_texts(jp_root_dir, path) == expected


async def test_a_rest_read_of_the_notebook_while_the_outputs_follow_has_every_output(collab, jp_fetch, jp_root_dir):
    path = _write_many(jp_root_dir, "read.ipynb")
    expected = _file_texts(jp_root_dir, path)
    await collab.open(path)  # the stages start: the read waits for the whole document
    code, answer, _ = await Api(jp_fetch).call("GET", "api", "rtc", "notebooks", path, "cells")
    assert code == 200, answer
    assert [[output["text"] for output in cell["outputs"]] for cell in answer["cells"]] == expected


async def test_the_python_client_opens_the_whole_notebook_unless_asked_for_the_cells_first(
    collab, jp_serverapp, jp_root_dir, jp_http_port, jp_base_url
):
    """``open_notebook`` returns once the large outputs are in too (the state's ``loading`` is gone);
    ``whole=False`` returns with the cells, and ``Notebook.whole()`` waits for the rest."""
    from rtc_client import JupyterClient

    nb = nbformat.v4.new_notebook()
    for i in range(30):  # 30 large outputs: their stages take many turns after the cells arrive
        cell = nbformat.v4.new_code_cell(f"train({i})", id=f"c{i}")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{i}\n" + BIG)]
        nb.cells.append(cell)
    for name in ("cells-first.ipynb", "whole.ipynb"):  # each a room of its own, loaded in stages
        nbformat.write(nb, str(jp_root_dir / name))
    expected = [f"{i}\n" + BIG for i in range(30)]
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    async with JupyterClient(url, jp_serverapp.identity_provider.token) as api:
        cells_first = await api.open_notebook("cells-first.ipynb", whole=False)
        assert cells_first.loading  # the outputs still follow
        assert [c.source for c in cells_first.cells] == [f"train({i})" for i in range(30)]
        await cells_first.whole(timeout=30)
        assert not cells_first.loading
        assert [c.outputs[0]["text"] for c in cells_first.cells] == expected

        notebook = await api.open_notebook("whole.ipynb", timeout=30)
        assert not notebook.loading
        assert [c.outputs[0]["text"] for c in notebook.cells] == expected
        await asyncio.gather(cells_first.close(), notebook.close())
