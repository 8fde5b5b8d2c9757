"""Saves that keep failing while a client keeps typing: the retries follow the documented back-off
(``save_max_wait``, then twice as long each time), neither one save per edit nor put off forever."""

from __future__ import annotations

import asyncio
import time

import pytest
from jupyter_ydoc import YNotebook
from pycrdt import Map
from tornado import web

from helpers import eventually
from jupyter_helpers import disk_sources, server_config, write_notebook

MAX_WAIT = 0.5  # seconds: the first retry; then 1, 2, 4
DELAY = 0.05  # a quiet period shorter than the typist's pause between keys


@pytest.fixture
def jp_server_config():
    return server_config(save_delay=DELAY, save_max_wait=MAX_WAIT)


async def test_failing_saves_back_off_while_a_client_types_every_100ms(collab, jp_root_dir, jp_serverapp):
    path = write_notebook(jp_root_dir, "typing.ipynb", ["x"])
    client, _ = await collab.open(path)
    state = client.doc.get("state", type=Map)
    await client.wait_for(lambda: state.get("hash"), timeout=10)
    attempts: list[float] = []
    refuse = {"saves": True}

    def quota(model, path, contents_manager, **kwargs):  # a pre-save hook may refuse a save
        if model.get("type") == "notebook" and path.endswith("typing.ipynb"):
            attempts.append(time.monotonic())
            if refuse["saves"]:
                raise web.HTTPError(507, "quota exceeded")

    jp_serverapp.contents_manager.register_pre_save_hook(quota)
    source = YNotebook(client.doc).ycells[0]["source"]
    typed = 0
    started = time.monotonic()
    while time.monotonic() - started < 5.0:
        source += "y"  # one keystroke every 100 ms: the typist's pace, not a wait on the server
        typed += 1
        await asyncio.sleep(0.1)
    during = list(attempts)

    # 1 (the first autosave) + retries 0.5, 1 and 2 s apart in 5 s; a save per edit would be ~50.
    assert 3 <= len(during) <= 5, [round(t - started, 2) for t in during]
    gaps = [b - a for a, b in zip(during, during[1:], strict=False)]
    for k, gap in enumerate(gaps):
        expected = MAX_WAIT * 2**k
        assert expected * 0.9 <= gap <= expected + 0.5, (k, [round(g, 2) for g in gaps])

    refuse["saves"] = False  # the disk has room again: the next retry saves everything typed
    await eventually(
        lambda: disk_sources(jp_root_dir, path) == ["x" + "y" * typed], timeout=15, what="the retry after typing"
    )
    await client.wait_for(lambda: state.get("dirty") is False, timeout=10)
