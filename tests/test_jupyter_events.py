"""Events on jupyter_server's event bus: jupyter-collaboration's awareness events, our execution events."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_helpers import server_config, write_notebook


@pytest.fixture
def jp_server_config():
    return server_config()


async def test_joins_and_leaves_are_jupyter_collaboration_awareness_events(collab, jp_root_dir, jp_serverapp):
    from rtc_relay.jupyter import AWARENESS_EVENTS

    seen: list[dict] = []

    async def listener(logger, schema_id, data):
        seen.append(dict(data))

    jp_serverapp.event_logger.add_listener(schema_id=AWARENESS_EVENTS, listener=listener)
    path = write_notebook(jp_root_dir, "aware.ipynb", ["x"])
    client, session = await collab.open(path)
    await client.close()
    deadline = asyncio.get_running_loop().time() + 10
    while [d["action"] for d in seen if d["roomid"] == session.room] != ["join", "leave"]:
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.02)
    assert all(d["username"] for d in seen)


async def test_execution_state_changes_are_events(collab, jp_root_dir, jp_serverapp, jp_fetch):
    from execution_helpers import Api, cell_ids
    from supernode.execution_events import EXECUTION_EVENTS

    seen: list[dict] = []

    async def listener(logger, schema_id, data):
        seen.append(dict(data))

    jp_serverapp.event_logger.add_listener(schema_id=EXECUTION_EVENTS, listener=listener)
    path = write_notebook(jp_root_dir, "evented-run.ipynb", ["print(1)", "1/0"])
    first, second = cell_ids(jp_root_dir, path)
    api = Api(jp_fetch)
    _, ok, _ = await api.run(path, [first])
    await api.finished(ok["id"])
    _, failed, _ = await api.run(path, [second])
    await api.finished(failed["id"])
    deadline = asyncio.get_running_loop().time() + 10
    while not any(d["execution_id"] == failed["id"] and d["status"] == "error" for d in seen):
        assert asyncio.get_running_loop().time() < deadline, seen
        await asyncio.sleep(0.02)
    events = [d for d in seen if d["execution_id"] == ok["id"]]
    states = [(d["status"], *((c["status"], c["execution_count"]) for c in d["cells"])) for d in events]
    assert len(states) == len(set(states)), states  # once per change, however often it was journalled
    assert [s[0] for s in states if s[0] != "running"] == ["queued", "ok"] and ("running", ("running", None)) in states
    assert states[-1] == ("ok", ("ok", 1)), states  # the cell's state and count travel with the execution's
    error = next(d for d in seen if d["execution_id"] == failed["id"] and d["status"] == "error")
    assert error["path"] == path and error["cell_ids"] == [second] and "abort_reason" in error
