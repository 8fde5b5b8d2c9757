"""The MCP server inside Jupyter (streamable HTTP at /api/rtc/mcp), driven by the ``mcp`` package's own client
against a real Jupyter server, a real python kernel and a real pycrdt client in the notebook's room: an agent
inserts, edits and runs cells while a person types in another cell, and every edit lands exactly once in every
replica and on disk; the agent shows in the room's presence; a cell a person is editing is refused unless forced;
permissions and bad input are tool errors."""

from __future__ import annotations

import asyncio

import pytest

from helpers import eventually
from jupyter_helpers import disk_sources, read_notebook, server_config, write_notebook
from mcp_helpers import agents, cell_sources, cursor_in, error, http_agent, ok, refused_until, ycells

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(tmp_path):
    config = server_config(save_max_wait=1.0, journal_path=str(tmp_path / "journal.sqlite"))
    config["SupernodeExtension"].update(mcp_idle_timeout=2.0, mcp_renew_interval=0.2)
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
    person.awareness.set_local_state({"user": {"name": "Ada", "display_name": "Ada Lovelace"}})
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
    await eventually(lambda: cell_sources(person) == ["a = 11", "b = 20"], what="the person's replica")
    await eventually(lambda: disk_sources(jp_root_dir, path) == ["a = 11", "b = 20"], timeout=10, what="the file")
