"""A Jupyter server stopped and started again (a real subprocess, same port, same root and data dirs):
its room websockets are closed with 1001, ``rtc_client`` reconnects and converges, or ends with
``SessionExpired`` when the document was reloaded. Every wait has a deadline."""

from __future__ import annotations

import os
import signal

import nbformat
import pytest
from pycrdt import Text
from websockets.asyncio.client import connect as ws_connect

from browser.lab import JupyterLabServer
from helpers import close_code_of
from rtc_client import JupyterClient, RoomClient, SessionExpired
from rtc_relay import CloseCode

pytestmark = pytest.mark.timeout(120)


class SamePortServer(JupyterLabServer):
    """A server subprocess that comes back on the port it first got (clients reconnect to one URL)."""

    _fixed: int | None = None

    def _argv(self, port: int) -> list[str]:
        if self._fixed is None:
            self._fixed = port
        self.port = self._fixed
        return super()._argv(self._fixed)


@pytest.fixture
def server(tmp_path, jp_asyncio_loop):
    """The server, not started yet; stopped at teardown."""
    config = [
        f"--RelayExtension.store={tmp_path / 'rooms.sqlite'}",
        f"--SupernodeExtension.journal_path={tmp_path / 'journal.sqlite'}",
        "--SupernodeExtension.save_delay=0.2",
        "--SupernodeExtension.save_max_wait=0.5",
    ]
    server = SamePortServer(tmp_path / "server", app="server", extra_args=config)
    yield server
    jp_asyncio_loop.run_until_complete(server.stop())


def write_notebook(server: JupyterLabServer, name: str, sources: list[str]) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    (server.root / name).write_text(nbformat.writes(nb), encoding="utf-8")
    return name


async def test_a_stopped_server_says_going_away_and_the_client_reconnects_once_it_is_back(server):
    await server.start()
    async with JupyterClient(server.url, server.token) as api:
        room = await api.open_room("plain-room")  # reconnects by default
        text = room.doc.get("t", type=Text)
        text += "before;"
        await room.flush()
        watcher = await ws_connect(
            api.websocket_url("plain-room"), additional_headers={"Authorization": f"token {server.token}"}
        )
        try:
            await server.stop()
            assert await close_code_of(watcher, timeout=15) == CloseCode.GOING_AWAY
            await room.wait_for(lambda: not room.connected.is_set(), timeout=15)
            text += "while down;"  # kept, and sent once the server is back

            await server.start()
            await room.wait_for(lambda: room.reconnects >= 1 and room.synced, timeout=60)
            await room.flush()
            assert str(text) == "before;while down;"
            fresh = await api.open_room("plain-room", reconnect=False)
            try:
                assert str(fresh.doc.get("t", type=Text)) == "before;while down;"
            finally:
                await fresh.close()
        finally:
            await watcher.close()
            await room.close()


async def test_a_notebook_open_across_a_restart_ends_with_session_expired(server):
    path = write_notebook(server, "reloaded.ipynb", ["x = 1"])
    await server.start()
    async with JupyterClient(server.url, server.token) as api:
        nb = await api.open_notebook(path)
        try:
            await server.stop()
            await server.start()
            # The document was loaded again from its file: the client's history belongs to the old load.
            with pytest.raises(SessionExpired):
                await nb.wait_for(lambda: False, timeout=60)
            assert isinstance(nb.room.error, SessionExpired)
            assert nb.room.closed.is_set()
        finally:
            await nb.close()
        again = await api.open_notebook(path)  # opening it again works
        async with again:
            assert [cell.source for cell in again.cells] == ["x = 1"]


async def test_a_server_that_stops_answering_is_noticed_and_the_client_reconnects_once_it_answers(server):
    await server.start()
    async with JupyterClient(server.url, server.token) as api:
        headers = {"Authorization": f"token {server.token}"}
        room = RoomClient(api.websocket_url("stalled-room"), headers=headers, reconnect=True, keepalive=0.5)
        async with room:
            await room.wait_synced()
            text = room.doc.get("t", type=Text)
            text += "before;"
            await room.flush()
            pid = server._proc.pid  # type: ignore[union-attr]
            os.kill(pid, signal.SIGSTOP)  # the server stops answering without closing anything
            try:
                await room.wait_for(lambda: not room.connected.is_set(), timeout=10)
                text += "while stalled;"
            finally:
                os.kill(pid, signal.SIGCONT)
            await room.wait_for(lambda: room.reconnects >= 1 and room.synced, timeout=30)
            await room.flush()
            fresh = await api.open_room("stalled-room", reconnect=False)
            try:
                assert str(fresh.doc.get("t", type=Text)) == "before;while stalled;"
            finally:
                await fresh.close()
