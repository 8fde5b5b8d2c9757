"""The change feed of a notebook (GET /api/rtc/notebooks/{path}/events): what a Yjs client does to the
live document, and what executions do, arrive as JSON events a program can apply to its own copy."""

from __future__ import annotations

import asyncio


import pytest

from feed_helpers import Follower, Model
from jupyter_helpers import server_config, write_notebook

DEADLINE = 30.0


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    config["NotebookFeeds"] = {"heartbeat": 0.5}
    return config


def cells_of(nb) -> list[dict]:
    """The notebook's cells as the feed describes them, from a client's live copy."""
    result = []
    for cell in nb.cells:
        data = cell.to_dict()
        data["id"] = cell.id
        if data["cell_type"] == "code":
            data["execution_state"] = cell.execution_state or "idle"
        result.append(data)
    return result


async def test_edits_of_a_yjs_client_arrive_as_events_that_rebuild_the_notebook(server, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "edits.ipynb", ["a = 1", "b = 2", "c = 3"])
    follower = Follower(server.notebook_events(path))
    try:
        snapshot = await follower.until(lambda e: e["event"] == "snapshot")
        model = Model()
        model.apply(snapshot)
        async with await server.open_notebook(path) as nb:
            assert [c["id"] for c in snapshot["data"]["notebook"]["cells"]] == nb.cell_ids
            first, second, third = nb.cells
            # Typing with non-ASCII text and emoji: positions in code points, pycrdt counts bytes.
            first.insert(len(first.source), "  # é中😀")
            first.insert(0, "😀")
            first.delete(1, 3)  # "a " after the emoji
            first.replace(3, 4, "Ω")
            second.insert(2, "🎉", unit="utf16")  # a browser's position
            added = nb.insert_cell(1, "new 🐍 cell", "markdown")
            nb.move_cell(third.id, 0)
            nb.delete_cell(second.id)
            added.set_metadata("tags", ["x"])
            nb.model._ymeta["metadata"]["custom"] = {"k": "ü"}  # the notebook's metadata, as JupyterLab edits it
            await nb.flush()
            expected = cells_of(nb)
            await follower.until(
                lambda e: e["event"] == "notebook_metadata_changed" and "custom" in e["data"]["metadata"]
            )
        await follower.until(lambda e: e["event"] == "metadata_changed" and e["data"]["cell_id"] == added.id)
    finally:
        await follower.close()
    for event in follower.events[1:]:
        model.apply(event)
    assert model.cells == expected
    from rtc_client import FeedModel

    client_model = FeedModel()  # the client library's, rebuilt from the same events
    for event in follower.events:
        client_model.apply(event)
    assert client_model.cells == expected and client_model.last_id == follower.events[-1]["id"]
    assert model.metadata["custom"] == {"k": "ü"}
    kinds = [e["event"] for e in follower.events]
    assert "cell_moved" in kinds and kinds.count("cell_removed") == 1 and kinds.count("cell_added") == 1
    (moved,) = follower.of("cell_moved")
    assert moved["data"]["cell_id"] == third.id and moved["data"]["from"] == 3 and moved["data"]["to"] == 0
    hashes = [e["data"]["source_hash"] for e in follower.of("source_changed") if e["data"]["cell_id"] == first.id]
    import hashlib

    assert hashes[-1] == hashlib.sha256(model.cell(first.id)["source"].encode()).hexdigest()
    ids = [e["id"] for e in follower.events]
    assert ids == sorted(ids) and len(set(ids[1:])) == len(ids) - 1


async def test_an_execution_streams_its_outputs_small_and_its_events_in_order(server, collab, jp_root_dir):
    code = "import time\nfor i in range(150):\n    print('line', i, 'é😀', flush=True)\n    time.sleep(0.01)"
    path = write_notebook(jp_root_dir, "runs.ipynb", [code, "x = input('name? ')\nprint('hi', x)"])
    follower = Follower(server.notebook_events(path))
    raw = Follower(server.kernel_messages(path))
    try:
        snapshot = await follower.until(lambda e: e["event"] == "snapshot")
        model = Model()
        model.apply(snapshot)
        printing, asking = [c["id"] for c in snapshot["data"]["notebook"]["cells"]]
        execution = await server.execute(path, [printing, asking])
        request = await follower.until(lambda e: e["event"] == "execution_input_request", DEADLINE)
        assert request["data"] == {
            "execution_id": execution.id,
            "cell_id": asking,
            "prompt": "name? ",
            "password": False,
        }
        await execution.answer("Zoë")
        finished = await follower.until(lambda e: e["event"] == "execution_finished", DEADLINE)
        assert finished["data"] == {"execution_id": execution.id, "status": "ok", "abort_reason": None}
        await follower.until(
            lambda e: (
                e["event"] == "execution_state_changed"
                and e["data"]["cell_id"] == asking
                and e["data"]["execution_state"] == "idle"
                and e["data"]["execution_count"] is not None
            ),
        )
        await raw.until(lambda e: e["data"]["msg_type"] == "execute_reply" and e["data"]["cell_id"] == asking)
    finally:
        await follower.close()
        await raw.close()
    for event in follower.events[1:]:
        model.apply(event)
    async with await server.open_notebook(path) as nb:
        assert model.cells == cells_of(nb)
    text = model.cell(printing)["outputs"][0]["text"]
    assert text.count("é😀") == 150 and text.endswith("line 149 é😀\n")
    # The running cell's output came as appends, each carrying only the new text, tagged with the execution.
    appends = [e["data"] for e in follower.of("output_text") if e["data"]["cell_id"] == printing]
    assert len(appends) >= 5
    assert all(a["execution_id"] == execution.id for a in appends)
    assert sum(len(edit["text"]) for a in appends for edit in a["edits"]) < len(text)
    assert max(len(edit["text"]) for a in appends for edit in a["edits"]) < len(text) // 3
    kinds = [
        (e["event"], e["data"].get("cell_id"))
        for e in follower.events
        if e["event"].startswith("execution_") and e["event"] != "execution_state_changed"
    ]
    assert kinds == [
        ("execution_queued", None),
        ("execution_started", None),
        ("execution_cell_started", printing),
        ("execution_cell_finished", printing),
        ("execution_cell_started", asking),
        ("execution_input_request", asking),
        ("execution_cell_finished", asking),
        ("execution_finished", None),
    ]
    (queued,) = follower.of("execution_queued")
    assert queued["data"] == {"execution_id": execution.id, "cell_ids": [printing, asking]}
    # The raw feed: the kernel's messages, each attributed to the cell whose execution caused it.
    streams = [e["data"] for e in raw.events if e["data"]["msg_type"] == "stream"]
    assert streams and {s["cell_id"] for s in streams} == {printing, asking}
    assert all(s["execution_id"] == execution.id and s["channel"] == "iopub" for s in streams)
    assert any(e["data"]["msg_type"] == "input_request" and e["data"]["channel"] == "stdin" for e in raw.events)
    assert "".join(s["content"]["text"] for s in streams if s["cell_id"] == printing) == text


async def test_jupyter_rtc_tail_prints_the_feed(server, collab, jp_root_dir, target):
    import signal
    import sys

    path = write_notebook(jp_root_dir, "tail-feed.ipynb", ["print('one 😀')", "2"])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "rtc_client", "tail", path, "--count", "9", *target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        ready = await asyncio.wait_for(proc.stderr.readline(), DEADLINE)
        assert ready.decode().startswith(f"following {path} (room json:notebook:")
        async with await server.open_notebook(path) as nb:
            first, second = nb.cells
            nb.move_cell(second.id, 0)
            await nb.flush()
            execution = await server.execute(path, [first.id])
            out, err = await asyncio.wait_for(proc.communicate(), DEADLINE)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            await proc.wait()
    assert proc.returncode == 0, err
    lines = out.decode().splitlines()
    short = execution.id[:8]
    assert lines[0] == f"cells: 2 [{second.id}, {first.id}]"
    assert f"execution {short}: queued" in lines and f"execution {short}: running" in lines
    assert f"execution {short} cell {first.id}: running" in lines
    assert f"execution {short} cell {first.id} output: one 😀" in lines
    assert f'cell {first.id} execution_state: "running"' in lines
    assert len(lines) == 9


async def test_a_browser_s_yjs_client_typing_emoji_gives_patches_in_code_points(
    server, collab, jp_root_dir, yjs_client
):
    path = write_notebook(jp_root_dir, "yjs.ipynb", ["x = 'é'"])
    follower = Follower(server.notebook_events(path))
    try:
        snapshot = await follower.until(lambda e: e["event"] == "snapshot")
        session = await collab.session(path)
        browser = await yjs_client(session.room)
        source = ["cells", 0, "source"]
        # Yjs counts UTF-16 units: "x = 'é'" is 7 units; an emoji outside the BMP is 2.
        await browser.request({"cmd": "insert_at", "path": source, "index": 6, "text": "😀👩‍👩‍👧"})
        await browser.request({"cmd": "insert_at", "path": source, "index": 0, "text": "中 "})
        await browser.request({"cmd": "delete_at", "path": source, "index": 7, "length": 1})  # the "é"
        await browser.request({"cmd": "insert_at", "path": source, "index": 9, "text": "!"})  # after the 😀
        final = (await browser.request({"cmd": "get_at", "path": source}))["value"]
        await follower.until(lambda e: e["event"] == "source_changed" and e["data"]["edits"][-1]["text"] == "!")
    finally:
        await follower.close()
    model = Model()
    for event in follower.events:
        model.apply(event)
    assert final == "中 x = '😀!👩‍👩‍👧'"
    assert model.cells[0]["source"] == final
    edits = [e["data"]["edits"] for e in follower.of("source_changed")]
    assert edits[0] == [{"start": 6, "end": 6, "text": "😀👩‍👩‍👧"}]
    assert edits[2] == [{"start": 7, "end": 8, "text": ""}]
    assert edits[3] == [{"start": 8, "end": 8, "text": "!"}]
    assert snapshot["data"]["notebook"]["cells"][0]["source"] == "x = 'é'"


async def test_changes_made_through_the_rest_notebook_api_are_in_the_feed(server, collab, jp_root_dir, jp_fetch):
    import json

    path = write_notebook(jp_root_dir, "rest.ipynb", ["a = 'é'", "b = 2"])
    follower = Follower(server.notebook_events(path))

    async def rest(method: str, *parts: str, body: dict) -> dict:
        r = await jp_fetch("api", "rtc", "notebooks", path, *parts, method=method, body=json.dumps(body))
        return json.loads(r.body)

    try:
        snapshot = await follower.until(lambda e: e["event"] == "snapshot")
        first, second = [c["id"] for c in snapshot["data"]["notebook"]["cells"]]
        await rest(
            "PATCH",
            "cells",
            first,
            body={"edits": [{"start": 5, "end": 6, "text": "😀"}, {"start": 0, "end": 0, "text": "# 中\n"}]},
        )
        await rest("POST", "cells", second, "move", body={"index": 0})
        await rest("POST", "cells", body={"source": "c = 3", "id": "added"})
        await follower.until(lambda e: e["event"] == "cell_added" and e["data"]["cell"]["id"] == "added")
    finally:
        await follower.close()
    model = Model()
    for event in follower.events:
        model.apply(event)
    assert [(c["id"], c["source"]) for c in model.cells] == [
        (second, "b = 2"),
        (first, "# 中\na = '😀'"),
        ("added", "c = 3"),
    ]
    (moved,) = follower.of("cell_moved")
    assert (moved["data"]["from"], moved["data"]["to"]) == (1, 0) and not follower.of("cell_removed")
