"""A configuration written for jupyter-collaboration (YDocExtension) configures our extensions."""

from __future__ import annotations

import pytest

from helpers import eventually
from jupyter_helpers import EXTENSIONS


@pytest.fixture
def jp_server_config():
    return {
        "ServerApp": {"jpserver_extensions": EXTENSIONS},
        "SupernodeExtension": {"save_max_wait": 3.0, "file_poll_interval": 0.5},  # ours, set explicitly
        "YDocExtension": {
            "document_save_delay": 0.25,  # taken: ours is not set
            "file_poll_interval": 7.0,  # not taken: ours is set
            "server_side_execution": False,
            "ystore_class": "some.YStore",  # cannot be honoured
            "disable_rtc": True,
            "document_cleanup_delay": 7,  # taken by the relay extension
            "document_load_progressively": False,  # taken: ours is on by default, jupyter-collaboration's off
            "notebook_output_delay_threshold_mb": 0.5,
        },
    }


async def test_yDocExtension_settings_configure_ours_unless_ours_are_set(jp_serverapp, caplog):
    supernode = next(iter(jp_serverapp.extension_manager.extension_apps["supernode"]))
    assert supernode.save_delay == 0.25
    assert supernode.file_poll_interval == 0.5
    assert supernode.server_side_execution is False
    assert supernode.documents.save_delay == 0.25
    assert supernode.load_progressively is False and supernode.documents.delay_outputs_above is None
    assert supernode.output_delay_threshold_mb == 0.5
    assert jp_serverapp.web_app.settings["rtc_relay"].config.cleanup_delay == 7
    page_config = jp_serverapp.web_app.settings["page_config_data"]
    assert page_config.get("disableRTC") is True and "serverSideExecution" not in page_config
    log = "\n".join(r.getMessage() for r in caplog.get_records("setup"))  # logged as the server started
    assert "SupernodeExtension.save_delay = 0.25, from YDocExtension.document_save_delay" in log
    assert "YDocExtension.file_poll_interval" not in log  # ours was set: nothing taken, nothing to say
    assert log.count("YDocExtension.ystore_class is not honoured") == 1
    assert "SupernodeExtension.load_progressively = False, from YDocExtension.document_load_progressively" in log


async def test_our_lines_are_in_the_servers_log_with_its_format(tmp_path):
    """A real ``jupyter server``: our info lines show in its log, formatted as its own, at its level."""
    from browser.lab import JupyterLabServer
    from jupyter_helpers import write_notebook

    server = JupyterLabServer(tmp_path / "server", app="server")
    write_notebook(server.root, "logged.ipynb", ["1"])
    await server.start()
    try:
        body = {"format": "json", "type": "notebook"}
        status, _ = await server.request("PUT", "/api/collaboration/session/logged.ipynb", body)
        assert status == 201
        # (the session is answered before the room's load is done: the line follows it)
        await eventually(lambda: "opened logged.ipynb" in server.log_path.read_text(), timeout=10, what="the line")
    finally:
        await server.stop()
    log = server.log_path.read_text()
    lines = [line for line in log.splitlines() if "opened logged.ipynb" in line]
    assert len(lines) == 1, log[-3000:]  # an info line, once, formatted by the server
    assert lines[0].startswith("[I ") and "supernode.documents" in lines[0], lines[0]
