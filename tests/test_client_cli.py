"""``jupyter-rtc`` as a subprocess, against a real jupyter_server (our extensions, a real kernel) and a
real standalone relay."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_helpers import server_config, write_notebook

SUBCOMMANDS = ("cat", "exec", "tail", "tables", "rooms")
DEADLINE = 60.0


@pytest.fixture
def jp_server_config(tmp_path):
    return server_config(journal_path=str(tmp_path / "journal.sqlite"))


async def cli(*args: str, stdin: bytes = b"", timeout: float = DEADLINE) -> tuple[int, str, str]:
    """Run ``python -m rtc_client ARGS``; return (exit status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtc_client",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(), err.decode()


def test_every_subcommand_has_help_and_the_console_script_is_installed():
    script = Path(sys.executable).parent / "jupyter-rtc"
    top = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=30)
    assert top.returncode == 0, top.stderr
    for name in SUBCOMMANDS:
        assert name in top.stdout
        sub = subprocess.run(
            [sys.executable, "-m", "rtc_client", name, "--help"], capture_output=True, text=True, timeout=30
        )
        assert sub.returncode == 0, sub.stderr
        assert sub.stdout.startswith(f"usage: jupyter-rtc {name}") and "--url" in sub.stdout and "--token" in sub.stdout
    bad = subprocess.run([sys.executable, "-m", "rtc_client", "nope"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


async def test_cat_prints_the_notebook_as_it_is_live(server, target, jp_root_dir):
    path = write_notebook(jp_root_dir, "cat.ipynb", ["print('on disk')", "x = 1"])
    async with await server.open_notebook(path) as nb:
        nb.cells[0].set_source("print('live 😀')")
        nb.append_cell("# Notes ✓", "markdown")
        async with await server.open_notebook(path) as witness:
            await witness.wait_for(lambda: len(witness.cells) == 3)
        code, out, err = await cli("cat", path, *target)
        assert code == 0, err
        assert "print('live 😀')" in out and "# Notes ✓" in out and "on disk" not in out
        assert f"id={nb.cell_ids[0]}" in out
        code, out, err = await cli("cat", path, "--json", *target)
        assert code == 0, err
        assert [c["source"] for c in json.loads(out)["cells"]] == ["print('live 😀')", "x = 1", "# Notes ✓"]


async def test_exec_prints_outputs_and_progress_and_fails_with_status_1(server, target, jp_root_dir):
    sources = ["print('one ✓')", "import sys\nprint('to stderr', file=sys.stderr)\n2 + 2", "1 / 0", "print('never')"]
    path = write_notebook(jp_root_dir, "exec.ipynb", sources)
    async with await server.open_notebook(path) as nb:
        ids = nb.cell_ids
    code, out, err = await cli("exec", path, ids[1], ids[0], *target)
    assert code == 0, err
    assert out == "4\none ✓\n"  # in the order asked
    assert "to stderr" in err
    assert f"[1/2] cell {ids[1]}: ok [1]" in err and f"[2/2] cell {ids[0]}: ok [2]" in err

    code, out, err = await cli("exec", path, *target)  # every cell
    assert code == 1, err
    assert "one ✓" in out and "never" not in out
    assert "ZeroDivisionError" in err
    assert f"[3/4] cell {ids[2]}: error" in err and f"[4/4] cell {ids[3]}: aborted" in err

    code, out, err = await cli("exec", "missing.ipynb", *target)
    assert code == 3 and "jupyter-rtc: error:" in err and "missing.ipynb" in err


async def test_exec_answers_input_from_stdin(target, jp_root_dir):
    path = write_notebook(jp_root_dir, "ask.ipynb", ["print('hi', input('who? '))"])
    code, out, err = await cli("exec", path, *target, stdin="Zoë\n".encode())
    assert code == 0, err
    assert "who? " in err and out == "hi Zoë\n"


async def test_tail_follows_changes_and_executions(server, target, jp_root_dir):
    path = write_notebook(jp_root_dir, "tail.ipynb", ["print('x')"])
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rtc_client",
        "tail",
        path,
        "--json",
        "--poll",
        "0.05",
        *target,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    events: list[dict] = []

    async def until(predicate) -> dict:
        while True:
            for event in events:
                if predicate(event):
                    return event
            line = await proc.stdout.readline()
            assert line, f"tail ended: {(await proc.stderr.read()).decode()}"
            events.append(json.loads(line))

    try:
        ready = await asyncio.wait_for(proc.stderr.readline(), DEADLINE)
        assert ready.decode().startswith(f"following {path}"), ready
        async with await server.open_notebook(path) as nb:
            (cell,) = nb.cells
            cell.set_source("print('tailed 中')")
            added = nb.append_cell("2")
            await asyncio.wait_for(
                until(lambda e: e["event"] == "cell" and e.get("value") == "print('tailed 中')"), DEADLINE
            )
            await asyncio.wait_for(until(lambda e: e["event"] == "cells" and added.id in e["cell_ids"]), DEADLINE)
            execution = await server.execute(path, [cell.id])
            output = await asyncio.wait_for(
                until(lambda e: e["source"] == "kernel" and e["event"] == "output"), DEADLINE
            )
            assert output["output"]["text"] == "tailed 中\n" and output["execution_id"] == execution.id
            await asyncio.wait_for(
                until(lambda e: e["source"] == "kernel" and e["event"] == "execution" and e["status"] == "ok"),
                DEADLINE,
            )
            await asyncio.wait_for(
                until(lambda e: e["event"] == "cell" and e.get("field") == "execution_count" and e["value"] == 1),
                DEADLINE,
            )
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        status = await asyncio.wait_for(proc.wait(), DEADLINE)
        await proc.stderr.read()
    assert status == 0


async def test_rooms_lists_the_rooms_of_a_jupyter_server_and_of_a_relay(server, target, jp_root_dir, relay, connect):
    path = write_notebook(jp_root_dir, "rooms.ipynb", ["x"])
    async with await server.open_notebook(path) as nb:
        code, out, err = await cli("rooms", *target)
        assert code == 0, err
        assert f"json:notebook:{nb.file_id}\t1 client\n" in out

    room = await connect(relay.url + "standalone-room")
    await room.wait_synced()
    relay_url = ["--url", relay.url.replace("ws://", "http://")]
    code, out, err = await cli("rooms", "--json", *relay_url)
    assert code == 0, err
    assert json.loads(out) == {"rooms": [{"name": "standalone-room", "clients": 1, "loaded": True, "users": []}]}
