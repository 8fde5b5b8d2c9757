"""An agent (the ``mcp`` package's client over /api/rtc/mcp) works on a notebook a person has open in the stock
JupyterLab UI (headless Chromium): the person sees its edits, its outputs and its caret flagged "agent: <name>";
the cell the person's caret is in (JupyterLab's own ``cursors`` awareness) is refused to the agent unless forced.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nbformat
import pytest

from mcp_helpers import error, http_agent, ok, refused_until

from .lab import JupyterLabServer, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

CELL_IDS = ["cell-a", "cell-b", "cell-c"]
TYPED = "\nmine = 'typed in the browser'"


def write_notebook(path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("# the person's cell", id=CELL_IDS[0]),
        nbformat.v4.new_code_cell("", id=CELL_IDS[1]),
        nbformat.v4.new_code_cell("# last", id=CELL_IDS[2]),
    ]
    path.write_text(nbformat.writes(nb))


async def test_an_agent_works_beside_a_person_in_jupyterlab(lab_server: JupyterLabServer, new_user) -> None:
    path = lab_server.root / "agent.ipynb"
    write_notebook(path)
    await asyncio.wait_for(scenario(lab_server, new_user, path), 95)


async def scenario(server: JupyterLabServer, new_user, path: Path) -> None:
    alice = await new_user("alice")
    await alice.open_notebook(path.name, min_cells=3)
    me = await alice.identity()
    await alice.type_in_cell(0, TYPED)  # her caret stays in cell 0

    async with http_agent(f"{server.url}/api/rtc/mcp", server.token, "lab-agent") as agent:
        page = ok(await agent.call_tool("read_notebook", {"path": path.name}))
        assert [c["id"] for c in page["cells"]] == CELL_IDS
        # JupyterLab's caret in cell 0 (a Yjs relative position in its source) makes it hers.
        refused = await refused_until(agent, {"path": path.name, "cell_id": "cell-a"}, timeout=10)
        assert refused == f"cell cell-a is being edited by {me['display_name']}; retry later or pass force=true"
        ok(await agent.call_tool("edit_cell", {"path": path.name, "cell_id": "cell-b", "source": "print(6 * 7)"}))
        added = ok(await agent.call_tool("insert_cell", {"path": path.name, "source": "print('from the agent')"}))
        run = ok(
            await agent.call_tool(
                "execute_cells", {"path": path.name, "cell_ids": ["cell-b", added["cell"]["id"]], "wait": 60}
            )
        )
        assert [c["outputs"] for c in run["cells"]] == ["42\n", "from the agent\n"]
        await alice.wait_for_cell_source(1, equals="print(6 * 7)")
        await alice.wait_for_output(1, "42")
        await alice.wait_for_cell_source(3, equals="print('from the agent')")
        await alice.wait_for_output(3, "from the agent")
        # Its caret, flagged with its name, in the cell it worked on last.
        await alice.wait_for_remote_cursor(name="agent: lab-agent", cell=3)
        # And in the Collaboration panel.
        await alice.wait_for_collaborator("agent: lab-agent")
        assert "being edited" in error(await agent.call_tool("delete_cell", {"path": path.name, "cell_id": "cell-a"}))

    await alice.wait_for_cell_source(0, equals="# the person's cell" + TYPED)

    def on_disk() -> list[str] | None:
        try:
            cells = json.loads(path.read_text())["cells"]
        except ValueError:
            return None
        sources = ["".join(c["source"]) for c in cells]
        expected = ["# the person's cell" + TYPED, "print(6 * 7)", "# last", "print('from the agent')"]
        return sources if sources == expected else None

    await wait_until(on_disk, 20, "the file to hold the person's and the agent's edits")
