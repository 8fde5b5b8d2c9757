"""``jupyter-rtc mcp --url … --token …`` as a real subprocess, driven by the ``mcp`` package's stdio client against a
real Jupyter server, a real kernel and a real pycrdt client: the tools act through the REST API, the agent joins the
notebook's room as a collaborator (its presence, the lease on a cell a person edits), every edit lands exactly once
in every replica and on disk, and bad input comes back as tool errors."""

from __future__ import annotations

import asyncio
import sys

import pytest

from rtc_common.agent_presence import GLOBAL_ROOM

from helpers import eventually
from jupyter_helpers import disk_sources, read_notebook, server_config, write_notebook
from mcp_helpers import stdio_env, agents, cell_sources, cursor_in, error, ok, refused_until, stdio_agent, ycells

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(save_max_wait=1.0, journal_path=str(tmp_path / "journal.sqlite"))


async def test_stdio_agent_edits_and_runs_cells_through_the_rest_api(collab, jp_root_dir, target):
    url, token = target[1], target[3]
    path = write_notebook(jp_root_dir, "stdio.ipynb", ["total = 0", "# typed by a person"])
    person, _ = await collab.open(path)
    ada = {"name": "ada", "display_name": "Ada"}
    person.awareness.set_local_state({"user": ada})
    lobby = await collab.join(GLOBAL_ROOM)
    async with stdio_agent(url, token, "stdio agent", "--renew-interval", "0.2", "--idle-timeout", "30") as agent:
        assert len((await agent.list_tools()).tools) == 9
        page = ok(await agent.call_tool("read_notebook", {"path": path, "limit": 1}))
        assert page["count"] == 2 and page["next_offset"] == 1 and len(page["cells"]) == 1
        first = page["cells"][0]["id"]
        second = ok(await agent.call_tool("read_notebook", {"path": path, "offset": 1}))["cells"][0]["id"]
        await eventually(lambda: agents(person), what="the agent's presence")
        assert agents(person)[0]["user"]["display_name"] == "agent: stdio agent"
        await eventually(lambda: agents(lobby), what="the agent in the collaborators panel")
        assert agents(lobby)[0]["current"] == f"RTC:{path}"

        async def typing() -> None:
            for n in range(20):
                text = ycells(person)[1]["source"]
                text.insert(len(str(text).encode()), f"\n# {n} ✓")
                await asyncio.sleep(0.01)

        typist = asyncio.create_task(typing())
        ids = []
        for n in range(3):
            ids.append(
                ok(await agent.call_tool("insert_cell", {"path": path, "source": f"total += {n + 1}"}))["cell"]["id"]
            )
        show = ok(await agent.call_tool("insert_cell", {"path": path, "source": "print(total)"}))["cell"]["id"]
        run = ok(await agent.call_tool("execute_cells", {"path": path, "cell_ids": [first, *ids, show], "wait": 60}))
        await typist
        assert run["status"] == "ok" and run["cells"][-1]["outputs"] == "6\n"

        # Bad input: tool errors the agent can act on, and the session goes on.
        assert "no cell 'nope'" in error(
            await agent.call_tool("edit_cell", {"path": path, "cell_id": "nope", "source": "x"})
        )
        assert "outside the source" in error(
            await agent.call_tool(
                "edit_cell", {"path": path, "cell_id": first, "edits": [{"start": 50, "end": 60, "text": "x"}]}
            )
        )
        assert "bad arguments for insert_cell" in error(await agent.call_tool("insert_cell", {"path": path, "kind": 1}))
        assert "no notebook" in error(await agent.call_tool("read_notebook", {"path": "missing.ipynb"}))

        # The lease: the person's caret is in their cell.
        person.awareness.set_local_state({"user": ada, "cursors": [cursor_in(person, 1)]})
        refused = await refused_until(agent, {"path": path, "cell_id": second})
        assert refused == f"cell {second} is being edited by Ada; retry later or pass force=true"
        ok(await agent.call_tool("edit_cell", {"path": path, "cell_id": first, "source": "total = 10"}))

    person_text = "# typed by a person" + "".join(f"\n# {n} ✓" for n in range(20))
    expected = ["total = 10", person_text, "total += 1", "total += 2", "total += 3", "print(total)"]
    await eventually(lambda: cell_sources(person) == expected, what="the person's replica")
    await eventually(lambda: disk_sources(jp_root_dir, path) == expected, timeout=10, what="the file")
    await eventually(
        lambda: (
            read_notebook(jp_root_dir, path).cells[-1].outputs[:1]
            == [{"output_type": "stream", "name": "stdout", "text": "6\n"}]
        ),
        timeout=10,
        what="the output on disk",
    )
    # The MCP client closed stdin: the agent left the room.
    await eventually(lambda: not agents(person), what="the agent's presence to go")
    await eventually(lambda: not agents(lobby), what="the agent to leave the collaborators panel")


async def test_a_wrong_token_stops_the_stdio_server_at_once_with_the_reason(collab, target):
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtc_client",
        "mcp",
        "--url",
        target[1],
        "--token",
        "wrong",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=stdio_env(),
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 3 and out == b""
    assert err.decode().startswith("jupyter-rtc: error: ")
