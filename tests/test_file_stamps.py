"""A file's stamp names the version of it the load cache hashed before: a re-open of an unchanged file finds
its build without reading the file, and the file is hashed afterwards; a file whose bytes are not what its
stamp named is taken in as a change made on disk. Real files, a real SQLite store, real jupyter_server
contents managers, and a real server subprocess with a real client."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from types import SimpleNamespace

import nbformat
import pytest

from browser.lab import JupyterLabServer
from helpers import eventually
from rtc_client import JupyterClient
from supernode import file_stamps
from supernode.file_stamps import FileStamp, digest_for, file_digest, remember_digest, stamp_of
from supernode.load_cache import LoadCache
from supernode.loader import Loader
from test_load_cache import KEY, cache_counts, contents_manager, kept, notebook, remembered

pytestmark = pytest.mark.timeout(120)

S = 1_000_000_000


def stat(mtime_ns: int, ctime_ns: int, *, ino: int = 7, size: int = 10) -> os.stat_result:
    return SimpleNamespace(st_dev=1, st_ino=ino, st_size=size, st_mtime_ns=mtime_ns, st_ctime_ns=ctime_ns)  # type: ignore[return-value]


def test_a_stamp_is_settled_once_its_file_has_not_changed_for_a_while():
    changed = 1_700_000_000 * S + 123_456_789
    assert not stamp_of(stat(changed, changed), changed + S // 2).settled
    assert stamp_of(stat(changed, changed), changed + S).settled
    # the later of the two times counts
    assert not stamp_of(stat(changed - 10 * S, changed), changed + S // 2).settled
    # whole-second times (a coarse clock): three seconds
    whole = 1_700_000_000 * S
    assert not stamp_of(stat(whole, whole), whole + 2 * S).settled
    assert stamp_of(stat(whole, whole), whole + 3 * S).settled
    # no times, or no inode: never
    assert not stamp_of(stat(0, 0), changed).settled
    assert not stamp_of(stat(changed, changed, ino=0), changed + 10 * S).settled


def test_a_stamp_names_the_file_and_its_version():
    a = stamp_of(stat(5 * S + 1, 5 * S + 2, ino=7, size=10), 100 * S)
    assert (a.file, a.version, a.size) == ("1:7", "10:5000000001:5000000002", 10)
    assert stamp_of(stat(5 * S + 1, 5 * S + 3), 100 * S).version != a.version  # written again: another ctime
    assert stamp_of(stat(5 * S + 1, 5 * S + 2, ino=8), 100 * S).file != a.file  # replaced by a rename
    assert a.same(stamp_of(stat(5 * S + 1, 5 * S + 2), 5 * S + 3)) and not a.same(stamp_of(stat(5 * S + 1, 5 * S + 3), 100 * S))


def test_the_store_remembers_settled_stamps_per_file_and_only_so_many(tmp_path, monkeypatch):
    db = sqlite3.connect(tmp_path / "s.sqlite", isolation_level=None)
    db.executescript(file_stamps.SCHEMA)
    settled = FileStamp("1:7", "10:1:2", 10, True)
    remember_digest(db, FileStamp("1:6", "10:1:2", 10, False), "sha256", "d0")
    remember_digest(db, settled, "sha256", "d1")
    assert digest_for(db, FileStamp("1:6", "10:1:2", 10, True), "sha256") is None  # unsettled: not remembered
    assert digest_for(db, settled, "sha256") == "d1"
    assert digest_for(db, settled, "md5") is None
    assert digest_for(db, FileStamp("1:7", "10:1:3", 10, True), "sha256") is None  # another version
    remember_digest(db, FileStamp("1:7", "10:1:3", 10, True), "sha256", "d2")  # the file's newer version
    assert digest_for(db, settled, "sha256") is None
    monkeypatch.setattr(file_stamps, "MAX_STAMPS", 3)
    for i in range(5):
        remember_digest(db, FileStamp(f"2:{i}", "1:1:1", 1, True), "sha256", f"e{i}")
    assert db.execute("SELECT count(*) FROM stamps").fetchone()[0] == 3
    assert digest_for(db, FileStamp("2:4", "1:1:1", 1, True), "sha256") == "e4"
    assert digest_for(db, FileStamp("2:1", "1:1:1", 1, True), "sha256") is None  # the oldest went first


def test_a_file_is_hashed_a_piece_at_a_time_as_hashlib_hashes_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(file_stamps, "_PIECE", 1000)
    data = os.urandom(10_500)
    (tmp_path / "f").write_bytes(data)
    for algorithm in ("sha256", "md5"):
        with open(tmp_path / "f", "rb") as f:
            assert file_digest(f, algorithm) == hashlib.new(algorithm, data).hexdigest()


def spy_reads(loader: Loader, monkeypatch) -> list[bool]:
    """Whether each read of the file by ``loader`` read its bytes, in order."""
    reads: list[bool] = []
    real_read = loader._read

    async def read(path, *, known, **more):
        found = await real_read(path, known=known, **more)
        reads.append(found.raw is not None)
        return found

    monkeypatch.setattr(loader, "_read", read)
    return reads


async def test_a_settled_unchanged_file_is_found_by_its_stamp_without_being_read(tmp_path, monkeypatch):
    monkeypatch.setattr(file_stamps, "SETTLE_S", 0.0)
    cm = contents_manager(tmp_path)
    path = cm.root_dir + "/nb.ipynb"
    nbformat.write(notebook(), path)
    loader = Loader(cm, LoadCache(tmp_path / "loads.sqlite", max_bytes=10**8), None)
    first = await loader.load(KEY, "nb.ipynb")
    assert first.stamp is not None and first.verify is None
    await remembered(loader, first)

    reads = spy_reads(loader, monkeypatch)
    hops = []
    real_get = loader.cache.get
    monkeypatch.setattr(loader.cache, "get", lambda key: hops.append(key) or real_get(key))
    second = await loader.load(KEY, "nb.ipynb")
    assert second.from_cache and reads == [False]  # the bytes were not read
    assert hops == [] and loader.cache.hits == 1  # the entry was looked up by the file's read, on its thread
    assert second.verify is not None and second.verify[1] == first.model["hash"] == second.model["hash"]
    assert second.document.get() == first.document.get()
    now = await loader.digest_now("nb.ipynb")
    assert now is not None and now[1] == first.model["hash"] and now[0] == second.verify[0]

    nb = notebook()
    nb.cells[0].source = "print('changed')"
    nbformat.write(nb, path)
    third = await loader.load(KEY, "nb.ipynb")  # another version: read and hashed
    assert reads == [False, True] and third.verify is None and not third.from_cache
    assert third.document.get()["cells"][0]["source"] == "print('changed')"


async def test_a_stamp_whose_build_is_gone_reads_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(file_stamps, "SETTLE_S", 0.0)
    cm = contents_manager(tmp_path)
    nbformat.write(notebook(), cm.root_dir + "/nb.ipynb")
    store = tmp_path / "loads.sqlite"
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), None)
    first = await loader.load(KEY, "nb.ipynb")
    await remembered(loader, first)
    db = sqlite3.connect(store)
    db.execute("DELETE FROM builds")
    db.commit()
    db.close()
    again = await loader.load(KEY, "nb.ipynb")
    assert not again.from_cache and again.verify is None
    assert again.document.get() == first.document.get()


def settled(path) -> bool:
    st = os.stat(path)
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > file_stamps.SETTLE_S * S * 1.2


async def server_with_a_settled_notebook(tmp_path) -> tuple[JupyterLabServer, object, object]:
    """A server (not started) keeping its load cache in ``store``, and a notebook of 40 cells at ``path``
    in its root, written long enough ago for its stamp to be remembered."""
    store = tmp_path / "loads.sqlite"
    server = JupyterLabServer(
        tmp_path / "server", app="server", extra_args=[f"--SupernodeExtension.load_cache_path={store}"]
    )
    path = server.root / "nb.ipynb"
    nbformat.write(notebook(40), path)
    await eventually(lambda: settled(path), timeout=10, what="the file's times to settle")
    return server, store, path


async def test_a_file_whose_bytes_are_not_what_its_stamp_named_is_taken_in_as_changed_on_disk(tmp_path):
    """A stale stamp (what no write leaves, made here by hand in the store) gives the room the cached
    build; the check that follows the first client's sync finds the file's bytes differ and merges them in,
    and the file keeps its own content."""
    server, store, path = await server_with_a_settled_notebook(tmp_path)

    def sources(nb) -> list[str]:
        return [str(cell.source) for cell in nb.cells]

    try:
        await server.start()
        async with JupyterClient(server.url, server.token) as api:
            nb = await api.open_notebook("nb.ipynb")
            assert sources(nb)[0] == "print(0)  # cell 0"
            await nb.close()
        await kept(store, 1, server)
        await eventually(lambda: stamps(store) == 1, timeout=20, what="the file's stamp remembered")
        await server.stop()

        changed = notebook(40)
        changed.cells[0].source = "print(9)  # cell 9"  # the same size: the same key's size prefix
        nbformat.write(changed, path)
        st = os.stat(path)
        db = sqlite3.connect(store)
        db.execute("UPDATE stamps SET version = ?", (stamp_of(st, time.time_ns()).version,))
        db.commit()
        db.close()

        await server.start()
        async with JupyterClient(server.url, server.token) as api:
            nb = await api.open_notebook("nb.ipynb")
            await eventually(lambda: sources(nb)[0] == "print(9)  # cell 9", timeout=20, what="the disk's version")
            assert sources(nb)[1:] == [str(c.source) for c in changed.cells[1:]]
            await nb.close()
        status, metrics = await server.request("GET", "/metrics")
        assert status == 200 and cache_counts(metrics)["hit"] == 1
        log = server.log_tail(200)
        assert "found by the file's stamp, but the file's bytes differ" in log
        assert "changed on disk; merged into its room" in log
        assert nbformat.read(path, as_version=4).cells[0].source == "print(9)  # cell 9"
    finally:
        await server.stop()


def stamps(store) -> int:
    db = sqlite3.connect(store)
    try:
        return db.execute("SELECT count(*) FROM stamps").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


async def test_a_restarted_server_opens_a_settled_unchanged_file_by_its_stamp(tmp_path):
    server, store, path = await server_with_a_settled_notebook(tmp_path)
    try:
        for _ in range(2):
            await server.start()
            async with JupyterClient(server.url, server.token) as api:
                nb = await api.open_notebook("nb.ipynb")
                assert len(nb.cells) == 41
                await nb.close()
            await kept(store, 1, server)
            await eventually(lambda: stamps(store) == 1, timeout=20, what="the file's stamp remembered")
            await server.stop()
        log = server.log_tail(400)
        assert "(from the load cache, found by the file's stamp)" in log
        assert "bytes differ" not in log
    finally:
        await server.stop()


async def test_a_freed_rooms_file_whose_stamp_and_build_are_kept_is_not_read_again(tmp_path, monkeypatch):
    monkeypatch.setattr(file_stamps, "SETTLE_S", 0.0)
    cm = contents_manager(tmp_path)
    nbformat.write(notebook(), cm.root_dir + "/nb.ipynb")
    loader = Loader(cm, LoadCache(tmp_path / "loads.sqlite", max_bytes=10**8), None, prime_above=0)
    await remembered(loader, await loader.load(KEY, "nb.ipynb"))
    reads = spy_reads(loader, monkeypatch)
    await loader.prime(KEY, "nb.ipynb")
    assert reads == [False]
    db = sqlite3.connect(tmp_path / "loads.sqlite")
    db.execute("DELETE FROM builds")
    db.commit()
    db.close()
    await loader.prime(KEY, "nb.ipynb")  # the build is gone: read, built and kept again
    assert reads == [False, False, True]
    assert await loader.cache.has(
        loader._cache_key(KEY, (await loader.digest_now("nb.ipynb"))[1], os.path.getsize(cm.root_dir + "/nb.ipynb"))
    )
