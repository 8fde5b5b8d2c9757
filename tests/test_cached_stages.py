"""The rest of a load cache's entry (a staged load's large outputs): written as one blob, streamed back
update by update, each checked against its digest, and applied as it arrives; a rest that is gone or
damaged part way leaves the outputs it lacks to the file."""

from __future__ import annotations

import asyncio
import sqlite3

import nbformat
import pytest

from browser.lab import JupyterLabServer
from rtc_client import JupyterClient
from supernode.cache_rests import DIGEST, rest_digests, stream_rest, write_rest
from supernode.cached_stages import CachedStages
from supernode.load_cache import LoadCache
from supernode.loader import Loader
from supernode.packed_parts import count_parts, pack_parts, packed_size
from test_load_cache import KEY, contents_manager, drain, kept, notebook, remembered, untrusted

pytestmark = pytest.mark.timeout(120)


async def test_a_rest_that_is_damaged_or_gone_leaves_the_stages_short_and_is_dropped(tmp_path, caplog):
    cm = contents_manager(tmp_path)
    nbformat.write(notebook(10, big=200_000), cm.root_dir + "/nb.ipynb")
    store = tmp_path / "loads.sqlite"
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), 100_000)
    first = await loader.load(KEY, "nb.ipynb")
    await drain(first)
    await remembered(loader, first)

    db = sqlite3.connect(store)  # one byte of the kept outputs changed
    (blob,) = db.execute("SELECT rest FROM rests").fetchone()
    db.execute("UPDATE rests SET rest = ?", (blob[:-1] + bytes([blob[-1] ^ 1]),))
    db.commit()
    damaged = await loader.load(KEY, "nb.ipynb")
    assert damaged.from_cache  # the first stage is checked and served on its own
    await drain(damaged)
    assert damaged.stages.short and damaged.stages.done and damaged.stages.packed == ()
    assert damaged.document.get()["cells"][3]["outputs"] == []  # the live document takes them from the file
    assert "does not match its checksum (update 1 of 1); dropped" in caplog.text
    assert db.execute("SELECT count(*) FROM builds").fetchone()[0] == 0  # the whole entry went
    db.close()

    rebuilt = await loader.load(KEY, "nb.ipynb")
    assert not rebuilt.from_cache
    await drain(rebuilt)
    await remembered(loader, rebuilt)
    db = sqlite3.connect(store)  # an update's length that runs past the end of the rest
    (blob,) = db.execute("SELECT rest FROM rests").fetchone()
    db.execute("UPDATE rests SET rest = ?", ((len(blob) + 1).to_bytes(8, "little") + blob[8:],))
    db.commit()
    db.close()
    cut = await loader.load(KEY, "nb.ipynb")
    await drain(cut)
    assert cut.from_cache and cut.stages.short
    assert "is cut short (update 1 of 1); dropped" in caplog.text

    rebuilt = await loader.load(KEY, "nb.ipynb")
    assert not rebuilt.from_cache
    await drain(rebuilt)
    await remembered(loader, rebuilt)
    again = await loader.load(KEY, "nb.ipynb")
    db = sqlite3.connect(store)
    db.execute("DELETE FROM rests")  # dropped between the first stage's read and the rest's
    db.commit()
    db.close()
    await drain(again)
    assert again.from_cache and again.stages.short and again.stages.packed == ()
    assert "is gone" in caplog.text and "0 of the 1 updates of its large outputs came from the load cache" in caplog.text


@pytest.mark.parametrize("rest", ["gone", "damaged"])
async def test_a_room_whose_cached_outputs_are_gone_takes_them_from_the_file(tmp_path, rest):
    """The server serves the first stage from the cache, then finds the rest gone, or its second update
    damaged once the first was applied: the outputs come from the file (a merge whose base is the first
    stage and the updates applied), nothing is written to the file, the clients end with the notebook."""
    store = tmp_path / "loads.sqlite"
    server = JupyterLabServer(
        tmp_path / "server", app="server", extra_args=[f"--SupernodeExtension.load_cache_path={store}"]
    )
    path = server.root / "nb.ipynb"
    nbformat.write(notebook(20, big=1_500_000), path)  # above the staged-loading threshold
    on_disk = path.read_bytes()
    seen = []

    async def open_whole() -> None:
        await server.start()
        async with JupyterClient(server.url, server.token) as api:
            nb = await api.open_notebook("nb.ipynb")
            deadline = asyncio.get_running_loop().time() + 30
            while sum(len(o.get("text", "")) for o in nb.to_dict()["cells"][3]["outputs"]) < 1_500_000:
                assert asyncio.get_running_loop().time() < deadline, server.log_tail(30)
                await asyncio.sleep(0.05)
            seen.append(nb.to_dict())
            await nb.close()

    try:
        await open_whole()
        await kept(store, 1, server)
        await server.stop()
        db = sqlite3.connect(store)
        if rest == "gone":
            db.execute("DELETE FROM rests")
        else:  # the rest's last byte: in its second update (the stream's text after its first megabyte)
            (blob,) = db.execute("SELECT rest FROM rests").fetchone()
            assert count_parts(blob) == 2
            db.execute("UPDATE rests SET rest = ?", (blob[:-1] + bytes([blob[-1] ^ 1]),))
        db.commit()
        db.close()
        await open_whole()
        log = server.log_tail(300)
    finally:
        await server.stop()
    applied = 0 if rest == "gone" else 1
    assert "(from the load cache" in log and f"{applied} of the 2 updates of its large outputs came from" in log
    assert [untrusted(c) for c in seen[1]["cells"]] == [untrusted(c) for c in seen[0]["cells"]]
    assert path.read_bytes() == on_disk


@pytest.mark.parametrize("blob_handle", [True, False])
def test_a_rest_is_streamed_update_by_update_each_checked_whichever_way_sqlite_reads_it(tmp_path, blob_handle):
    """The rest read through SQLite's incremental blob handle or by a query (Python before 3.11, without
    one): its updates (empty ones included) given one by one, each after its digest matched; a rest that
    is damaged part way gives the updates before the damage, then says what is wrong."""
    parts = [b"a" * 100_000, b"", b"xyz", bytes(range(256)) * 1000]
    blob = pack_parts(parts)
    digests = rest_digests(blob)
    assert len(digests) == DIGEST * len(parts) and rest_digests(tuple(parts)) == digests
    db = sqlite3.connect(tmp_path / "rests.sqlite")
    db.execute("CREATE TABLE rests (key TEXT PRIMARY KEY, rest BLOB NOT NULL)")
    db.execute("INSERT INTO rests VALUES ('k', ?)", (blob,))
    rowid, length = db.execute("SELECT rowid, length(rest) FROM rests").fetchone()

    class WithoutBlobHandle:  # sqlite3 before Python 3.11
        execute = db.execute

    reader = db if blob_handle else WithoutBlobHandle()

    def stream(length: int, digests: bytes) -> list[bytes]:
        given: list[bytes] = []
        try:
            stream_rest(reader, rowid, length, digests, given.append)
        except ValueError as exc:
            given.append(str(exc).encode())
        return given

    assert stream(length, digests) == parts
    wrong = digests[: 2 * DIGEST] + rest_digests((b"xyZ",)) + digests[3 * DIGEST :]
    assert stream(length, wrong) == [*parts[:2], b"does not match its checksum (update 3 of 4)"]
    assert stream(length, digests[: 3 * DIGEST]) == [*parts[:3], b"holds more than its 3 updates"]
    db.execute("UPDATE rests SET rest = ?", (blob[:-1],))
    assert stream(length - 1, digests) == [*parts[:3], b"is cut short (update 4 of 4)"]
    db.execute("UPDATE rests SET rest = ?", (blob[: len(blob) - len(parts[-1]) - 3],))
    assert stream(len(blob) - len(parts[-1]) - 3, digests) == [*parts[:3], b"is cut short (update 4 of 4)"]
    db.close()


@pytest.mark.parametrize("blob_handle", [True, False])
def test_a_rest_kept_apart_is_written_as_the_blob_its_parts_pack_into(tmp_path, blob_handle):
    """A staged load's updates, kept apart, are written piece by piece (or joined, without a blob
    handle): the stored blob and its size are those of the packed parts."""
    parts = (b"a" * 100_000, b"", b"xyz", bytes(range(256)) * 1000)
    blob = pack_parts(list(parts))
    assert packed_size(parts) == len(blob)
    db = sqlite3.connect(tmp_path / "rests.sqlite", isolation_level=None)
    db.execute("CREATE TABLE rests (key TEXT PRIMARY KEY, rest BLOB NOT NULL)")

    class WithoutBlobHandle:  # sqlite3 before Python 3.11
        execute = db.execute

    write_rest(db if blob_handle else WithoutBlobHandle(), "k", parts)
    write_rest(db if blob_handle else WithoutBlobHandle(), "k", parts)  # replaced, not added
    assert db.execute("SELECT rest FROM rests").fetchall() == [(blob,)]
    db.close()


async def test_the_rest_is_read_once_from_its_prefetch_and_given_as_it_arrives():
    """A cached load's rest is read from the moment it is found, once: its updates are given as they
    arrive (before the read ends); a waiter cancelled meanwhile loses nothing; a read that gives fewer
    updates than the entry holds leaves the stages short, with the updates it gave as their base."""
    calls, release = [], asyncio.Event()
    loop = asyncio.get_running_loop()

    def fetcher(updates: list[bytes], whole: bool):
        async def fetch(deliver):
            calls.append(1)

            def read() -> bool:
                deliver(updates[0])  # on a worker thread, as the cache does
                asyncio.run_coroutine_threadsafe(release.wait(), loop).result(5)
                for update in updates[1:]:
                    deliver(update)
                return whole

            return await asyncio.to_thread(read)

        return fetch

    stages = CachedStages(2, fetcher([b"a", b"b"], True), "nb.ipynb")
    stages.prefetch()
    assert await asyncio.wait_for(stages.next(), 5) == b"a"  # while the read goes on
    waiter = asyncio.ensure_future(stages.next())
    done, _ = await asyncio.wait({waiter}, timeout=0.05)  # the waiter waits on the read
    assert not done
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    release.set()
    assert await asyncio.wait_for(stages.next(), 5) == b"b"
    assert await asyncio.wait_for(stages.next(), 5) is None
    assert calls == [1] and not stages.short and stages.done and stages.packed == (b"a", b"b")

    release.clear()
    short = CachedStages(3, fetcher([b"a", b"b"], False), "nb.ipynb")
    release.set()
    assert [await asyncio.wait_for(short.next(), 5) for _ in range(3)] == [b"a", b"b", None]
    assert short.short and short.done and short.packed == (b"a", b"b")


async def test_a_client_joining_while_the_cached_outputs_stream_in_ends_with_the_notebook(tmp_path):
    """A restarted server serves a notebook of many large outputs from the load cache: its first client
    gets the cells, then the outputs as they are read; a client joining meanwhile is sent the first
    client's SyncStep2 and the outputs applied since as they were (no encoding), then the rest; both end
    with the file's outputs, and the file is left as it was."""
    store = tmp_path / "loads.sqlite"
    server = JupyterLabServer(
        tmp_path / "server", app="server", extra_args=[f"--SupernodeExtension.load_cache_path={store}"]
    )
    nb = nbformat.v4.new_notebook()
    line = "epoch {:04d} step {:06d} loss 0.123456 lr 0.001\n"
    for i in range(16):
        text = "".join(line.format(i, step) for step in range(32_000))  # 1.5 MB: two updates each
        cell = nbformat.v4.new_code_cell(f"train({i})", id=f"c{i}", execution_count=i + 1)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    path = server.root / "nb.ipynb"
    nbformat.write(nb, path)
    on_disk = path.read_bytes()
    expected = [cell.outputs[0]["text"] for cell in nb.cells]
    try:
        await server.start()
        async with JupyterClient(server.url, server.token) as api:
            await (await api.open_notebook("nb.ipynb", timeout=30)).close()
        await kept(store, 1, server)
        await server.stop()

        await server.start()
        async with JupyterClient(server.url, server.token) as api:
            first = await api.open_notebook("nb.ipynb", whole=False, timeout=30)
            late = await api.open_notebook("nb.ipynb", whole=False, timeout=30)
            assert late.loading  # it joined while the outputs streamed in
            await asyncio.gather(first.whole(30), late.whole(30))
            for client in (first, late):
                assert [c.outputs[0]["text"] for c in client.cells] == expected
            await asyncio.gather(first.close(), late.close())
        status, metrics = await server.request("GET", "/metrics")
        log = server.log_tail(300)
    finally:
        await server.stop()
    assert status == 200 and "jupyter_rtc_relay_joins_from_kept_state_total 1.0" in metrics.splitlines()
    assert "(from the load cache" in log and "came from the load cache" not in log  # all of them did
    assert path.read_bytes() == on_disk
