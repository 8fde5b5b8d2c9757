"""After a server restart the tables are rebuilt from the server's state: what is gone is removed, the
executions come back from the journal, and a client that kept its document through the restart converges
to exactly what a new client sees."""

from __future__ import annotations

import asyncio

import nbformat
from pycrdt import Doc, Map

from browser.lab import JupyterLabServer
from helpers import eventually
from rtc_client import RoomClient

ROOM = "supernode:tables"
TABLES = ("kernelspecs", "status", "terminals", "kernels", "sessions", "contents", "executions")


def rows(doc: Doc, table: str) -> dict[str, dict]:
    return dict(doc.get(table, type=Map).items())


def view(doc: Doc) -> dict[str, dict[str, dict]]:
    return {table: rows(doc, table) for table in TABLES}


async def joined(server: JupyterLabServer, doc: Doc | None = None) -> RoomClient:
    url = f"ws://127.0.0.1:{server.port}/api/collaboration/room/{ROOM}"
    client = RoomClient(url, doc=doc, headers={"Authorization": f"token {server.token}"})
    await client.__aenter__()
    await asyncio.wait_for(client.wait_synced(), 20)
    return client


async def test_tables_are_rebuilt_after_a_restart(tmp_path):
    server = JupyterLabServer(
        tmp_path / "server", app="server", extra_args=["--SupernodeExtension.tables_poll_interval=0.2"]
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("6 * 7")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (server.root / "n.ipynb").write_text(nbformat.writes(nb))
    (server.root / "keep.txt").write_text("keep")
    (server.root / "gone.txt").write_text("gone")

    await server.start()
    kept = None
    try:
        status, listing = await server.request("GET", "/api/contents")
        assert status == 200, listing
        status, kernel = await server.request("POST", "/api/kernels", {"name": "python3"})
        assert status == 201, kernel
        status, record = await server.request("POST", "/api/rtc/executions", {"path": "n.ipynb"})
        assert status == 202, record
        kept = await joined(server)
        doc = kept.doc
        await eventually(
            lambda: (rows(doc, "executions").get(f"{record['id']}/0") or {}).get("status") == "ok", 60, "the run"
        )
        await eventually(lambda: kernel["id"] in rows(doc, "kernels"), 30, "the kernel's row")
        await eventually(
            lambda: {"keep.txt", "gone.txt", "n.ipynb"} <= set(rows(doc, "contents")), 30, "the listed files' rows"
        )
        started_before = rows(doc, "status")["server"]["started"]
    finally:
        if kept is not None:
            await kept.close()
        await server.stop()

    (server.root / "gone.txt").unlink()  # while the server is down
    await server.start()
    clients = []
    try:
        clients.append(await joined(server, doc))  # a client that kept its document through the restart
        clients.append(await joined(server))  # and a new one
        old, new = clients[0].doc, clients[1].doc

        def rebuilt() -> bool:
            status = rows(old, "status").get("server") or {}
            return (
                status.get("started") != started_before
                and not rows(old, "kernels")
                and "gone.txt" not in rows(old, "contents")
                and view(old) == view(new)
            )

        await eventually(rebuilt, 20, "the tables rebuilt and both clients on the same view")
        assert "keep.txt" in rows(new, "contents")
        ran = rows(new, "executions")[f"{record['id']}/0"]
        assert ran["status"] == "ok" and ran["execution_count"] == 1 and ran["path"] == "n.ipynb"
        assert "python3" in rows(new, "kernelspecs")
    finally:
        for client in clients:
            await client.close()
        await server.stop()
