"""The pytest plugin shipped for other extensions: its fixtures, as an extension's test suite uses them."""

from __future__ import annotations

import pytest
from jupyter_ydoc import YNotebook

from jupyter_helpers import write_notebook
from supernode.pytest_plugin import rtc_server_config


@pytest.fixture
def jp_server_config():
    return rtc_server_config()


async def test_an_extension_opens_a_document_and_waits_on_it(rtc_open, rtc_document, rtc_wait, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "ext.ipynb", ["seen by the extension"])
    client = await rtc_open(path)
    live = await rtc_document(path)
    assert live.get()["cells"][0]["source"] == "seen by the extension"
    live.ycells[0]["source"].insert(0, "# ")
    await rtc_wait(lambda: YNotebook(client.doc).get()["cells"][0]["source"] == "# seen by the extension")

    # jupyter-collaboration's API, where extensions written for it look for it
    jc = jp_serverapp.web_app.settings["jupyter_server_ydoc"]
    same = await jc.get_document(path=path, content_type="notebook", file_format="json", copy=False)
    assert same is live
    write_notebook(jp_root_dir, "closed.ipynb", ["x"])
    assert await jc.get_document(path="closed.ipynb", content_type="notebook", file_format="json", create=False) is None
    opened = await jc.get_document(path="closed.ipynb", content_type="notebook", file_format="json", create=True)
    assert opened.get()["cells"][0]["source"] == "x"
