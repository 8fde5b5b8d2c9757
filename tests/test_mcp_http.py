"""The MCP server inside Jupyter (streamable HTTP at /api/rtc/mcp), driven by the ``mcp`` package's own client
against a real Jupyter server, a real python kernel and a real pycrdt client in the notebook's room: an agent
inserts, edits and runs cells while a person types in another cell, and every edit lands exactly once in every
replica and on disk; the agent shows in the room's presence; a cell a person is editing is refused unless forced;
permissions and bad input are tool errors."""

from __future__ import annotations

import asyncio

import pytest

from rtc_common.agent_presence import GLOBAL_ROOM

from helpers import eventually
from jupyter_helpers import disk_sources, read_notebook, server_config, write_notebook
from mcp_helpers import agents, cell_sources, cursor_in, error, http_agent, ok, refused_until, ycells

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(save_max_wait=1.0, journal_path=str(tmp_path / "journal.sqlite"))
    config["SupernodeExtension"].update(mcp_idle_timeout=2.0, mcp_renew_interval=0.2, mcp_lease_hold=4.0)
    return config


@pytest.fixture
def mcp_url(jp_http_port, jp_base_url) -> str:
    return f"http://127.0.0.1:{jp_http_port}{jp_base_url}api/rtc/mcp"


@pytest.fixture
def token(jp_serverapp) -> str:
    return jp_serverapp.identity_provider.token


async def test_agent_inserts_edits_and_runs_cells_while_a_person_types(collab, jp_root_dir, mcp_url, token):
    path = write_notebook(jp_root_dir, "shared.ipynb", ["x = 1", "# the person's cell"])
    person, _ = await collab.open(path)
    observer, _ = await collab.open(path)  # a second client, who only watches
    person.awareness.set_local_state({"user": {"name": "Ada", "display_name": "Ada Lovelace"}})
    lobby = await collab.join(GLOBAL_ROOM)  # where JupyterLab's collaborators panel looks
    async with http_agent(mcp_url, token, "claude-test") as agent:
        tools = {t.name for t in (await agent.list_tools()).tools}
        assert tools == {
            "list_notebooks", "read_notebook", "insert_cell", "edit_cell", "delete_cell", "move_cell",
            "execute_cells", "get_execution", "interrupt_execution",
        }  # fmt: skip
        listed = ok(await agent.call_tool("list_notebooks", {}))
        assert [nb["path"] for nb in listed["notebooks"]] == [path]
        page = ok(await agent.call_tool("read_notebook", {"path": path}))
        first, second = (c["id"] for c in page["cells"])
        assert page["count"] == 2 and page["next_offset"] is None

        # The agent shows in the room's presence, as "agent: <client name>".
        await eventually(lambda: agents(person), what="the agent's presence")
        state = agents(person)[0]
        assert state["user"]["name"] == "agent: claude-test" and state["agent"]["client"] == "claude-test"
        await eventually(lambda: agents(lobby), what="the agent in the collaborators panel")
        listed = agents(lobby)[0]
        assert listed["user"] == state["user"] and listed["current"] == f"RTC:{path}"
        assert listed["documents"] == [f"RTC:{path}"]

        async def typing() -> None:
            for n in range(30):
                text = ycells(person)[1]["source"]
                text.insert(len(str(text).encode()), f"\n# line {n} é")
                await asyncio.sleep(0.01)

        typist = asyncio.create_task(typing())
        inserted = []
        for n in range(5):
            change = ok(await agent.call_tool("insert_cell", {"path": path, "source": f"y{n} = {n} * 2\nprint(y{n})"}))
            inserted.append(change["cell"]["id"])
        edited = ok(
            await agent.call_tool(
                "edit_cell", {"path": path, "cell_id": first, "edits": [{"start": 4, "end": 5, "text": "41 + 1"}]}
            )
        )
        assert edited["cell"]["source"] == "x = 41 + 1"
        run = ok(await agent.call_tool("execute_cells", {"path": path, "cell_ids": [first, *inserted], "wait": 60}))
        await typist
        assert run["status"] == "ok" and run["finished"]
        assert [c["outputs"] for c in run["cells"]] == ["", *(f"{n * 2}\n" for n in range(5))]
        again = ok(await agent.call_tool("get_execution", {"execution_id": run["execution_id"]}))
        assert again["status"] == "ok"

    person_text = "# the person's cell" + "".join(f"\n# line {n} é" for n in range(30))
    expected = ["x = 41 + 1", person_text, *(f"y{n} = {n} * 2\nprint(y{n})" for n in range(5))]
    await eventually(lambda: cell_sources(person) == expected, what="the person's replica")
    await eventually(lambda: cell_sources(observer) == expected, what="the observer's replica")

    def replica_outputs(client) -> list:
        return [str(c["outputs"][0]["text"]) if len(c["outputs"]) else None for c in ycells(client)[2:]]

    await eventually(lambda: replica_outputs(observer) == [f"{n * 2}\n" for n in range(5)], what="the outputs")
    assert replica_outputs(person) == replica_outputs(observer)
    await eventually(lambda: disk_sources(jp_root_dir, path) == expected, timeout=10, what="the file")
    await eventually(
        lambda: (
            [c.get("outputs") and c.outputs[0].get("text") for c in read_notebook(jp_root_dir, path).cells][2:]
            == [f"{n * 2}\n" for n in range(5)]
        ),
        timeout=10,
        what="the outputs on disk",
    )
    # The session ended (DELETE): the agent left the presence at once.
    await eventually(lambda: not agents(person), what="the agent's presence to go")
    await eventually(lambda: not agents(lobby), what="the agent to leave the collaborators panel")


async def test_a_cell_a_person_edits_is_refused_unless_forced(collab, jp_root_dir, mcp_url, token):
    path = write_notebook(jp_root_dir, "lease.ipynb", ["a = 1", "b = 2"])
    person, _ = await collab.open(path)
    grace = {"name": "grace", "display_name": "Grace"}
    async with http_agent(mcp_url, token, "lease-agent") as agent:
        page = ok(await agent.call_tool("read_notebook", {"path": path}))
        first, second = (c["id"] for c in page["cells"])
        person.awareness.set_local_state({"user": grace, "cursors": [cursor_in(person, 0)]})
        refused = await refused_until(agent, {"path": path, "cell_id": first})
        assert refused == f"cell {first} is being edited by Grace; retry later or pass force=true"
        assert "being edited by Grace" in error(await agent.call_tool("delete_cell", {"path": path, "cell_id": first}))
        assert "being edited by Grace" in error(await agent.call_tool("move_cell", {"path": path, "cell_id": first}))
        # The other cell is free; forcing goes through.
        ok(await agent.call_tool("edit_cell", {"path": path, "cell_id": second, "source": "b = 20"}))
        forced = ok(
            await agent.call_tool("edit_cell", {"path": path, "cell_id": first, "source": "a = 10", "force": True})
        )
        assert forced["cell"]["source"] == "a = 10"
        # The person moves on to the other cell: the first one is free again, the second is theirs.
        person.awareness.set_local_state({"user": grace, "cursors": [cursor_in(person, 1)]})
        refused = await refused_until(agent, {"path": path, "cell_id": second})
        assert refused.startswith(f"cell {second} is being edited by Grace")
        ok(await agent.call_tool("edit_cell", {"path": path, "cell_id": first, "source": "a = 11"}))
        # Her caret rests in the second cell for mcp_lease_hold (4 s): the cell is free again (she went elsewhere).
        rested = asyncio.get_running_loop().time() + 4.0
        probe = {"path": path, "cell_id": second, "source": "", "expected_source_hash": "0" * 64}
        while "being edited" in (text := error(await agent.call_tool("edit_cell", probe))):
            assert asyncio.get_running_loop().time() < rested + 5, "the lease outlived the resting caret"
            await asyncio.sleep(0.1)
        assert "changed since" in text and asyncio.get_running_loop().time() >= rested - 1.0
        ok(await agent.call_tool("edit_cell", {"path": path, "cell_id": second, "source": "b = 21"}))
        # She types again: the caret moves, the cell is hers again.
        person.awareness.set_local_state({"user": grace, "cursors": [cursor_in(person, 1, moved=True)]})
        refused = await refused_until(agent, {"path": path, "cell_id": second})
        assert refused.startswith(f"cell {second} is being edited by Grace")
    await eventually(lambda: cell_sources(person) == ["a = 11", "b = 21"], what="the person's replica")
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["a = 11", "b = 21"], timeout=10, what="the file")


async def test_the_agent_shows_at_its_cell_and_leaves_when_idle(collab, jp_root_dir, mcp_url, token):
    path = write_notebook(jp_root_dir, "idle.ipynb", ["1", "2"])
    person, _ = await collab.open(path)
    async with http_agent(mcp_url, token, "watcher") as agent:
        second = ok(await agent.call_tool("read_notebook", {"path": path}))["cells"][1]["id"]
        ok(await agent.call_tool("edit_cell", {"path": path, "cell_id": second, "source": "2 + 2"}))
        await eventually(lambda: agents(person) and agents(person)[0]["agent"]["cell"] == second, what="the agent")
        state = agents(person)[0]
        # Its caret is in that cell's source, as JupyterLab draws a collaborator's (the text's Yjs ID).
        assert state["cursors"][0]["head"]["type"] == cursor_in(person, 1)["head"]["type"]
        assert state["user"]["initials"] == "AW" and state["user"]["color"].startswith("#")
        # No call for mcp_idle_timeout (2 s): the agent leaves the notebook's presence, its session still open.
        await eventually(lambda: not agents(person), timeout=5, what="the idle agent to leave")
        ok(await agent.call_tool("read_notebook", {"path": path, "outputs": False}))
        await eventually(lambda: agents(person), what="the agent to come back")


async def test_resources_outputs_as_text_interrupts_and_tool_errors(collab, jp_root_dir, mcp_url, token):
    path = write_notebook(
        jp_root_dir,
        "rich.ipynb",
        [
            "from IPython.display import Image, HTML, display\n"
            "display(Image(data=b'\\x89PNG\\r\\n\\x1a\\n' + bytes(12 * 1024)))\n"
            "display(HTML('<b>bold</b>'))",
            "print('x' * 10_000)",
            "import time\ntime.sleep(30)",
        ],
    )
    async with http_agent(mcp_url, token, "reader") as agent:
        templates = (await agent.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["notebook://{+path}"]
        assert [r.uri for r in (await agent.list_resources()).resources] == [f"notebook://{path}"]
        rich, long, slow = (c["id"] for c in ok(await agent.call_tool("read_notebook", {"path": path}))["cells"])
        run = ok(await agent.call_tool("execute_cells", {"path": path, "cell_ids": [rich, long], "wait": 60}))
        assert run["cells"][0]["outputs"].splitlines() == [
            "<IPython.core.display.Image object>",
            "[image/png 12 KB]",
            "<IPython.core.display.HTML object>",
            "[text/html 11 B]",
        ]
        text = run["cells"][1]["outputs"]
        assert "characters left out" in text and len(text) < 4100 and text.startswith("x" * 100)
        short = ok(
            await agent.call_tool("get_execution", {"execution_id": run["execution_id"], "max_output_chars": 100})
        )
        assert len(short["cells"][1]["outputs"]) < 200

        read = await agent.read_resource(f"notebook://{path}")
        assert f"## [2] code cell {slow}" in read.contents[0].text and "[image/png" in read.contents[0].text

        waited = ok(await agent.call_tool("execute_cells", {"path": path, "cell_ids": [slow], "wait": 0.5}))
        assert not waited["finished"] and waited["status"] in ("queued", "running")
        deadline = asyncio.get_running_loop().time() + 20
        while (
            ok(await agent.call_tool("get_execution", {"execution_id": waited["execution_id"]}))["status"] != "running"
        ):
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        ok(await agent.call_tool("interrupt_execution", {"execution_id": waited["execution_id"]}))
        ended = ok(await agent.call_tool("get_execution", {"execution_id": waited["execution_id"], "wait": 20}))
        assert ended["status"] == "error" and "KeyboardInterrupt" in ended["cells"][0]["outputs"]

        # Bad calls are tool errors; the session goes on.
        assert "no tool 'nope'" in error(await agent.call_tool("nope", {}))
        assert "no cell 'gone'" in error(
            await agent.call_tool("edit_cell", {"path": path, "cell_id": "gone", "source": ""})
        )
        overlapping = [{"start": 0, "end": 3, "text": "a"}, {"start": 2, "end": 4, "text": "b"}]
        assert "overlap" in error(
            await agent.call_tool("edit_cell", {"path": path, "cell_id": long, "edits": overlapping})
        )
        both = {"path": path, "cell_id": long, "source": "", "edits": []}
        assert "not both" in error(await agent.call_tool("edit_cell", both))
        assert "(cell_ids/0)" in error(await agent.call_tool("execute_cells", {"path": path, "cell_ids": [7]}))
        assert "not a folder" in error(await agent.call_tool("list_notebooks", {"path": path}))
        assert "no execution" in error(await agent.call_tool("get_execution", {"execution_id": "f" * 32}))
        assert ok(await agent.call_tool("read_notebook", {"path": path, "outputs": False}))["count"] == 3


async def test_an_agent_that_goes_away_mid_call_leaves_nothing_waiting(
    collab, jp_root_dir, mcp_url, token, jp_serverapp
):
    path = write_notebook(jp_root_dir, "away.ipynb", ["import time\ntime.sleep(2)\nprint('done')"])
    person, _ = await collab.open(path)
    executions = jp_serverapp.web_app.settings["supernode_executions"]
    watchers = list(executions.watchers)  # a waiting call adds one until its wait ends

    async def leaver() -> None:
        async with http_agent(mcp_url, token, "leaver") as agent:
            cell = ok(await agent.call_tool("read_notebook", {"path": path}))["cells"][0]["id"]
            await agent.call_tool("execute_cells", {"path": path, "cell_ids": [cell], "wait": 60})

    task = asyncio.create_task(leaver())
    await eventually(lambda: len(executions.watchers) > len(watchers), timeout=10, what="the call to wait")
    task.cancel()  # the agent goes away in the middle of its call
    with pytest.raises(asyncio.CancelledError):
        await task
    # Its presence goes (with its session, or when idle); the run it started finishes, its output in the notebook.
    await eventually(lambda: not agents(person), timeout=5, what="the agent's presence to go")
    await eventually(
        lambda: len(ycells(person)[0]["outputs"]) and str(ycells(person)[0]["outputs"][0]["text"]) == "done\n",
        timeout=20,
        what="the output",
    )
    await eventually(lambda: executions.watchers == watchers, timeout=5, what="no call left waiting")
    async with http_agent(mcp_url, token, "next") as agent:
        assert ok(await agent.call_tool("read_notebook", {"path": path}))["count"] == 1


async def test_a_sessionless_client_is_served_and_shown_too(collab, jp_root_dir, mcp_url, token):
    path = write_notebook(jp_root_dir, "modern.ipynb", ["1"])
    person, _ = await collab.open(path)
    async with http_agent(mcp_url, token, "modern client", sessionless=True) as agent:
        assert agent.protocol_version == "2026-07-28"
        cell = ok(await agent.call_tool("read_notebook", {"path": path}))["cells"][0]["id"]
        ok(await agent.call_tool("edit_cell", {"path": path, "cell_id": cell, "source": "2"}))
        await eventually(lambda: agents(person), what="the agent's presence")
        assert agents(person)[0]["user"]["name"] == "agent: modern client"
    # No session to end: it leaves when idle (mcp_idle_timeout).
    await eventually(lambda: not agents(person), timeout=5, what="the idle agent to leave")
    assert cell_sources(person) == ["2"]
