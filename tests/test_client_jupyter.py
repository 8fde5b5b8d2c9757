"""The Python client against a real jupyter_server with our extensions and a real python kernel;
the browser side of the Unicode tests is a real Yjs client in node (UTF-16 offsets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_ydoc import YNotebook

from helpers import eventually
from jupyter_helpers import disk_sources, server_config, write_notebook
from rtc_client import (
    ExecutionFailed,
    Forbidden,
    JupyterClient,
    NotFound,
    ReadOnly,
    SessionExpired,
    SourceChanged,
)
from rtc_client.jupyter import source_hash

ROOT = Path(__file__).resolve().parents[1]


class ReadOnlyAuthorizer(Authorizer):
    def is_authorized(self, handler, user, action, resource) -> bool:
        return action == "read"


@pytest.fixture
def jp_server_config(request, tmp_path):
    config = server_config(journal_path=str(tmp_path / "journal.sqlite"))
    if request.node.get_closest_marker("read_only"):
        config["ServerApp"]["authorizer_class"] = ReadOnlyAuthorizer
    return config


@pytest.fixture
def server(collab, jp_serverapp, jp_http_port, jp_base_url, jp_asyncio_loop):
    """A JupyterClient of the test's server (its kernels stopped at teardown, through ``collab``)."""
    client = JupyterClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", jp_serverapp.identity_provider.token)
    jp_asyncio_loop.run_until_complete(client.__aenter__())
    yield client
    jp_asyncio_loop.run_until_complete(client.__aexit__(None, None, None))


def ids_on_disk(root, path):
    from jupyter_helpers import read_notebook

    return [c.id for c in read_notebook(root, path).cells]


async def test_cells_are_listed_read_inserted_moved_deleted_and_edited(server, collab, jp_root_dir):
    path = write_notebook(jp_root_dir, "edit.ipynb", ["a = 1", "b = 2", "c = 3"])
    async with await server.open_notebook(path) as nb:
        first, second, third = nb.cell_ids
        assert [c.source for c in nb.cells] == ["a = 1", "b = 2", "c = 3"]
        assert nb.cell(second).cell_type == "code" and nb.cell(second).index == 1

        new = nb.insert_cell(1, "# title", "markdown")
        nb.move_cell(third, 0)
        nb.delete_cell(first)
        nb.cell(second).set_source("b = 20  # changed")
        nb.cell(second).insert(0, "# note\n")
        assert nb.cell_ids == [third, new.id, second]
        with pytest.raises(NotFound, match="no cell 'nope'"):
            nb.cell("nope")

        watcher, _ = await collab.open(path)  # another client sees the same notebook
        other = YNotebook(watcher.doc)
        expected = ["c = 3", "# title", "# note\nb = 20  # changed"]
        await watcher.wait_for(lambda: [c["source"] for c in other.get()["cells"]] == expected)
        assert [c["id"] for c in other.get()["cells"]] == [third, new.id, second]
        await eventually(lambda: disk_sources(jp_root_dir, path) == expected, timeout=10, what="the file")
        assert ids_on_disk(jp_root_dir, path) == [third, new.id, second]


async def test_unicode_edits_from_a_browser_and_from_python_never_garble(
    server,
    jp_serverapp,
    jp_http_port,
    jp_base_url,
    jp_root_dir,
    node_client,
):
    """Yjs counts UTF-16 units, pycrdt UTF-8 bytes, Python code points: every edit lands where meant."""
    path = write_notebook(jp_root_dir, "unicode.ipynb", ["héllo 😀 wörld 中文", "x"])
    async with await server.open_notebook(path) as nb:
        cell = nb.cells[0]
        url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}api/collaboration/room"
        browser = await node_client(url, f"json:notebook:{nb.file_id}", jp_serverapp.identity_provider.token)
        await browser.wait_synced(timeout=20)
        source = ["cells", 0, "source"]
        await browser.request({"cmd": "wait_at", "path": source, "equals": "héllo 😀 wörld 中文", "timeout": 20}, 25)

        # Python: after the emoji (code point 7), then before 中 (code point 15 once 🎉 is in)
        cell.insert(7, "🎉")
        cell.insert(15, "ç")
        expected = "héllo 😀🎉 wörld ç中文"
        assert cell.source == expected
        await browser.request({"cmd": "wait_at", "path": source, "equals": expected, "timeout": 20}, 25)

        # The browser: UTF-16 offsets (each emoji is 2 units): insert after 🎉, delete the "ö"
        units = "héllo 😀🎉".encode("utf-16-le").__len__() // 2
        await browser.request({"cmd": "insert_at", "path": source, "index": units, "text": "✓日本"})
        await browser.request({"cmd": "delete_at", "path": source, "index": units + 3 + 2, "length": 1})
        expected = "héllo 😀🎉✓日本 wrld ç中文"
        await nb.wait_for(lambda: cell.source == expected)

        # Python again, with positions a browser reported (UTF-16), and a whole-source rewrite
        cell.replace(units, units + 3, "→", unit="utf16")
        expected = "héllo 😀🎉→ wrld ç中文"
        await browser.request({"cmd": "wait_at", "path": source, "equals": expected, "timeout": 20}, 25)
        cell.set_source("héllo 😀🎉→ world! ç中文")
        await browser.request(
            {"cmd": "wait_at", "path": source, "equals": "héllo 😀🎉→ world! ç中文", "timeout": 20}, 25
        )

        # Both sides at once, at the two ends: both edits kept, each once
        browser.send({"cmd": "insert_at", "path": source, "index": 0, "text": "👩‍👩‍👧"})
        cell.insert(len(cell.source), " ñ")
        final = "👩‍👩‍👧héllo 😀🎉→ world! ç中文 ñ"
        await nb.wait_for(lambda: cell.source == final)
        await browser.request({"cmd": "wait_at", "path": source, "equals": final, "timeout": 20}, 25)
        await eventually(lambda: (disk_sources(jp_root_dir, path) or [""])[0] == final, timeout=10, what="the file")


async def test_cells_run_by_id_with_outputs_streamed_and_awaited(server, jp_root_dir):
    path = write_notebook(
        jp_root_dir,
        "run.ipynb",
        ["print('hello 😀')\n6 * 7", "import sys\nprint('oops', file=sys.stderr)\n1 / 0", "never = True"],
    )
    async with await server.open_notebook(path) as nb:
        good, bad, after = nb.cell_ids
        execution = await server.execute(path, [good])
        events = [event async for event in execution.events(timeout=60)]
        kinds = [e["event"] for e in events]
        assert kinds[0] == "status" and kinds[-1] == "done"
        outputs = [e["output"] for e in events if e["event"] == "output"]
        assert "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream") == "hello 😀\n"
        assert outputs[-1]["data"]["text/plain"] == "42"
        assert {"event": "cell", "cell_id": good, "status": "ok", "execution_count": 1, "error": None} in events
        await nb.wait_for(lambda: nb.cell(good).execution_count == 1)  # and the live document shows it

        failing = await server.execute(path, [bad, after])
        with pytest.raises(ExecutionFailed, match="ZeroDivisionError") as failed:
            await failing.wait(timeout=60, check=True)
        assert failed.value.cell["cell_id"] == bad
        assert [c["status"] for c in failing.record["cells"]] == ["error", "aborted"]
        assert (await server.execution(failing.id)).status == "error"
        assert any(r["id"] == failing.id for r in await server.executions(path))


async def test_an_input_request_is_answered(server, jp_root_dir):
    path = write_notebook(jp_root_dir, "ask.ipynb", ["name = input('name? ')\nprint('hi', name)"])
    async with await server.open_notebook(path) as nb:
        execution = await server.execute(path, nb.cell_ids)
        texts = []
        async for event in execution.events(timeout=60):
            if event["event"] == "input_request":
                assert event["prompt"] == "name? "
                await execution.answer("Zoë 中")
            elif event["event"] == "output":
                texts.append(event["output"].get("text", ""))
        assert execution.status == "ok"
        assert "hi Zoë 中\n" in "".join(texts)


async def test_errors_come_from_one_hierarchy_with_the_servers_message(server, jp_root_dir, jp_http_port, jp_base_url):
    path = write_notebook(jp_root_dir, "err.ipynb", ["x = 1"])
    with pytest.raises(NotFound, match="missing.ipynb"):
        await server.open_notebook("missing.ipynb")
    with pytest.raises(NotFound) as missing_cell:
        await server.execute(path, ["no-such-cell"])
    assert missing_cell.value.code == "not_found" and missing_cell.value.status == 404
    async with await server.open_notebook(path) as nb:
        (cell,) = nb.cells
        seen = source_hash(cell.source)
        cell.set_source("x = 2")
        async with await server.open_notebook(path) as witness:  # the relay applied the edit before relaying it
            await witness.wait_for(lambda: witness.cells[0].source == "x = 2")
        with pytest.raises(SourceChanged, match="changed since") as changed:
            await server.execute(path, [cell.id], source_hashes={cell.id: seen})
        assert changed.value.code == "source_changed" and changed.value.status == 409
    with pytest.raises(NotFound):
        await server.execution("0" * 32)
    async with await server.open_notebook(path) as nb:
        with pytest.raises(SessionExpired, match="unknown_session"):  # a client of an earlier load of the file
            await server.open_room(f"json:notebook:{nb.file_id}", session_id="an-earlier-load")
    async with JupyterClient(f"http://127.0.0.1:{jp_http_port}{jp_base_url}", "wrong-token") as stranger:
        with pytest.raises(Forbidden):  # Jupyter answers 403 to a wrong token
            await stranger.execute(path)
        with pytest.raises(Forbidden):
            await stranger.open_notebook(path)


@pytest.mark.read_only
async def test_a_read_only_notebook_refuses_edits_locally(server, jp_root_dir):
    path = write_notebook(jp_root_dir, "ro.ipynb", ["keep"])
    async with await server.open_notebook(path) as nb:
        await nb.wait_for(lambda: nb.room.access == "read")
        with pytest.raises(ReadOnly):
            nb.cells[0].insert(0, "no")
        with pytest.raises(ReadOnly):
            nb.append_cell("no")
        assert [c.source for c in nb.cells] == ["keep"]
        with pytest.raises(Forbidden, match="kernels:execute"):
            await server.execute(path)


async def test_presence_rooms_and_spec(server, jp_root_dir):
    path = write_notebook(jp_root_dir, "who.ipynb", ["x"])
    async with await server.open_notebook(path) as a, await server.open_notebook(path) as b:
        a.presence.set({"user": {"name": "Ana"}})
        await b.wait_for(lambda: b.presence.others.get(a.presence.client_id) == {"user": {"name": "Ana"}})
        rooms = {room["name"]: room for room in await server.rooms()}
        assert rooms[f"json:notebook:{a.file_id}"]["clients"] == 2
    assert await server.spec() == json.loads((ROOT / "spec.json").read_text())


async def test_a_notebook_reconnects_after_its_connection_drops_and_converges_once(server, jp_serverapp, jp_root_dir):
    from rtc_relay.catalogue import CloseCode

    path = write_notebook(jp_root_dir, "drop.ipynb", ["base"])
    async with await server.open_notebook(path) as a, await server.open_notebook(path) as b:
        room = jp_serverapp.web_app.settings["rtc_relay"].rooms.rooms[f"json:notebook:{a.file_id}"]
        for peer in [p for p in room.peers if p.remote]:
            peer.close(CloseCode.GOING_AWAY, "the server is restarting its room")
        await a.room.wait_for(lambda: not a.room.connected.is_set() or a.room.reconnects > 0)
        a.cells[0].insert(0, "a: é ")  # typed while the connection is down (or just back)
        b.append_cell("b: 中")
        expected = (["a: é base", "b: 中"], 2)
        for nb in (a, b):
            await nb.wait_for(
                lambda nb=nb: ([c.source for c in nb.cells], len(nb.cells)) == expected and nb.room.reconnects >= 1,
                timeout=15,
            )
        await eventually(lambda: disk_sources(jp_root_dir, path) == expected[0], timeout=10, what="the file")


async def test_a_cell_typed_here_runs_at_once_the_server_has_it(server, jp_root_dir):
    path = write_notebook(jp_root_dir, "typed.ipynb", ["x = 0"])
    async with await server.open_notebook(path) as nb:
        for i in range(3):  # inserted and run at once: the server must already have the new cell
            cell = nb.append_cell(f"print('run {i} ✓')")
            record = await (await nb.execute([cell.id])).wait(timeout=60, check=True)
            assert record["cells"][0]["outputs"][0]["text"] == f"run {i} ✓\n"
        await nb.flush()  # nothing pending: answers at once
