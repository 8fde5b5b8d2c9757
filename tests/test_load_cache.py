"""The load cache: an unchanged notebook opens from its kept build, after a restart too; a changed
file, a changed trust, an unreadable cache or a contents manager that reads files its own way are
always built from the file. Real jupyter_server contents managers and a real server subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import sqlite3

import nbformat
import pytest
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager
from nbformat.sign import NotebookNotary
from tornado.web import HTTPError

from browser.lab import JupyterLabServer
from rtc_client import JupyterClient
from supernode.content import load_update
from supernode.keys import DocumentKey
from supernode.load_cache import CachedLoad, LoadCache, cache_key
from supernode.loader import Loader
from supernode.packed_parts import pack_parts, unpack_parts

pytestmark = pytest.mark.timeout(120)

KEY = DocumentKey.parse("json:notebook:0b3e4c2a-5d6f-4a7b-8c9d-0e1f2a3b4c5d")


def notebook(cells: int = 40, big: int = 0) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for i in range(cells):
        cell = nbformat.v4.new_code_cell(f"print({i})  # cell {i}", execution_count=i + 1)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{i}\n" + "x" * (big if i == 3 else 0))]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_markdown_cell("# the end"))
    return nb


def contents_manager(tmp_path, cls=AsyncFileContentsManager):
    root = tmp_path / "root"
    root.mkdir(exist_ok=True)
    (tmp_path / "notary").mkdir(exist_ok=True)
    return cls(root_dir=str(root), notary=NotebookNotary(data_dir=str(tmp_path / "notary")))


async def drain(loaded) -> None:
    """Apply a staged load's later stages, as the live document does."""
    if loaded.stages is not None:
        while (update := await loaded.stages.next()) is not None:
            loaded.document.ydoc.apply_update(update)


async def remembered(loader: Loader, loaded) -> None:
    done = asyncio.Event()
    done.set()
    await loader.remember(loaded, done, asyncio.Event())


async def test_an_unchanged_notebook_opens_from_the_cache_and_a_changed_one_from_the_file(tmp_path):
    cm = contents_manager(tmp_path)
    path = cm.root_dir + "/nb.ipynb"
    nbformat.write(notebook(), path)
    loader = Loader(cm, LoadCache(tmp_path / "loads.sqlite", max_bytes=10**8), None)

    first = await loader.load(KEY, "nb.ipynb")
    assert not first.from_cache and first.keep is not None
    await remembered(loader, first)
    db = sqlite3.connect(tmp_path / "loads.sqlite")
    assert db.execute("PRAGMA page_size").fetchone()[0] == 65536  # a new store's pages
    db.close()
    second = await loader.load(KEY, "nb.ipynb")
    assert second.from_cache
    assert second.document.get() == first.document.get()
    assert second.model["hash"] == first.model["hash"]
    assert (second.model["last_modified"], second.model["size"]) == (first.model["last_modified"], first.model["size"])

    # Another program changes one character, keeping the size and the modification time: rebuilt.
    stat = os.stat(path)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("print(7)", "print(8)"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    third = await loader.load(KEY, "nb.ipynb")
    assert not third.from_cache
    assert third.document.get()["cells"][7]["source"].startswith("print(8)")
    assert loader.cache.hits == 1 and loader.cache.misses == 2


async def test_a_file_no_kept_build_has_the_size_of_is_parsed_while_it_is_hashed(tmp_path, monkeypatch):
    """No entry is of a file of this size: the parse does not wait for the hash (each waits for the other
    to have started). An entry of the same size: hashed first, parsed only after the lookup missed."""
    from supernode import loader as loader_module

    started = {"digest": threading.Event(), "parse": threading.Event()}
    order: list[str] = []
    digest, parse = loader_module._digest, loader_module._parse_and_sign

    def watched(name, real, other):
        def run(*args):
            started[name].set()
            if not concurrent:
                order.append(name)
            elif not started[other].wait(10):
                raise AssertionError(f"{name} ran alone")
            return real(*args)

        return run

    monkeypatch.setattr(loader_module, "_digest", watched("digest", digest, "parse"))
    monkeypatch.setattr(loader_module, "_parse_and_sign", watched("parse", parse, "digest"))
    cm = contents_manager(tmp_path)
    path = cm.root_dir + "/nb.ipynb"
    nbformat.write(notebook(), path)
    cache = LoadCache(tmp_path / "loads.sqlite", max_bytes=10**8)
    loader = Loader(cm, cache, None)

    concurrent = True
    first = await loader.load(KEY, "nb.ipynb")
    assert not first.from_cache and cache.misses == 1
    await remembered(loader, first)
    assert await cache.may_hold(os.path.getsize(path))
    assert not await cache.may_hold(os.path.getsize(path) + 1)

    concurrent = False
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text.replace("print(7)", "print(8)"))  # the same size, other bytes
    second = await loader.load(KEY, "nb.ipynb")
    assert not second.from_cache and order == ["digest", "parse"]
    assert second.document.get()["cells"][7]["source"].startswith("print(8)")


def test_may_hold_finds_the_keys_of_one_size_alone(tmp_path):
    cache = LoadCache(tmp_path / "loads.sqlite", max_bytes=10**8)
    key = dict(digest="d", algorithm="sha256", room_type="notebook", room_format="json", threshold=None, notary="n")
    entry = CachedLoad(b"\x00\x00", None, 0, None, None)
    for size in (1, 12, 100):
        cache._put(cache_key(size=size, **key), entry)
    assert [cache._may_hold(size) for size in (1, 2, 10, 12, 100, 1000)] == [True, False, False, True, True, False]


async def test_trust_given_after_the_build_is_not_taken_from_the_cache(tmp_path):
    cm = contents_manager(tmp_path)
    nbformat.write(notebook(5), cm.root_dir + "/nb.ipynb")
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None)

    def marks(loaded) -> set:
        return {c["metadata"].get("trusted") for c in loaded.document.get()["cells"] if c["cell_type"] == "code"}

    first = await loader.load(KEY, "nb.ipynb")
    assert marks(first) == {False}
    await remembered(loader, first)
    assert marks(await loader.load(KEY, "nb.ipynb")) == {False}
    await cm.trust_notebook("nb.ipynb")  # "Trust notebook": the file is the same, the notary's store is not
    trusted = await loader.load(KEY, "nb.ipynb")
    assert not trusted.from_cache and marks(trusted) == {True}
    await remembered(loader, trusted)
    again = await loader.load(KEY, "nb.ipynb")
    assert again.from_cache and marks(again) == {True}


async def test_a_staged_load_from_the_cache_sends_its_large_outputs_later(tmp_path):
    cm = contents_manager(tmp_path)
    nbformat.write(notebook(10, big=200_000), cm.root_dir + "/nb.ipynb")
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), 100_000)

    first = await loader.load(KEY, "nb.ipynb")
    assert first.stages is not None
    await drain(first)
    built = pack_parts(first.stages.packed)
    await remembered(loader, first)
    second = await loader.load(KEY, "nb.ipynb")
    assert second.from_cache and second.stages is not None and second.stages.cells == 1
    assert second.document.get()["cells"][3]["outputs"] == []  # the first stage: cells without large outputs
    await drain(second)
    assert second.document.get() == first.document.get()
    assert second.stages.done and pack_parts(second.stages.packed) == built  # one update per cell, as built
    assert load_update(KEY, second.update, *unpack_parts(built)).get() == first.document.get()


async def test_a_contents_manager_that_reads_files_its_own_way_never_uses_the_cache(tmp_path):
    class Transforming(AsyncFileContentsManager):
        async def get(self, path, content=True, type=None, format=None, require_hash=False):
            model = await super().get(path, content, type, format, require_hash)
            if content and model["type"] == "notebook":
                model["content"].cells[0].source = "# paired with another file"
            return model

    cm = contents_manager(tmp_path, Transforming)
    nbformat.write(notebook(3), cm.root_dir + "/nb.ipynb")
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None)
    for _ in range(2):
        loaded = await loader.load(KEY, "nb.ipynb")
        assert not loaded.from_cache and loaded.keep is None
        assert loaded.document.get()["cells"][0]["source"] == "# paired with another file"


async def test_a_freed_room_keeps_what_its_last_save_wrote(tmp_path):
    cm = contents_manager(tmp_path)
    path = cm.root_dir + "/nb.ipynb"
    nb = notebook(20)
    nbformat.write(nb, path)
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None, prime_above=0)
    await remembered(loader, await loader.load(KEY, "nb.ipynb"))
    nb.cells[0].source = "saved by the room"
    await cm.save({"type": "notebook", "content": nb}, "nb.ipynb")
    await loader.prime(KEY, "nb.ipynb")
    primed = await loader.load(KEY, "nb.ipynb")
    assert primed.from_cache and primed.document.get()["cells"][0]["source"] == "saved by the room"
    fresh = await Loader(cm, None, None).load(KEY, "nb.ipynb")
    assert primed.document.get() == fresh.document.get()
    # The same items (the same clocks: the encodings differ only in the key order of JSON values)
    assert primed.document.ydoc.get_state() == fresh.document.ydoc.get_state()
    small = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None)  # below prime_above: not built
    await small.prime(KEY, "nb.ipynb")
    assert not (await small.load(KEY, "nb.ipynb")).from_cache


async def test_a_damaged_entry_or_store_is_ignored(tmp_path, caplog):
    cm = contents_manager(tmp_path)
    nbformat.write(notebook(), cm.root_dir + "/nb.ipynb")
    store = tmp_path / "loads.sqlite"
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), None)
    first = await loader.load(KEY, "nb.ipynb")
    await remembered(loader, first)
    loader.cache.close()

    db = sqlite3.connect(store)  # one byte of the kept update changed
    (blob,) = db.execute("SELECT first FROM builds").fetchone()
    db.execute("UPDATE builds SET first = ?", (blob[:-1] + bytes([blob[-1] ^ 1]),))
    db.commit()
    db.close()
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), None)
    rebuilt = await loader.load(KEY, "nb.ipynb")
    assert not rebuilt.from_cache and rebuilt.document.get() == first.document.get()
    assert "does not match its checksum" in caplog.text
    loader.cache.close()

    store.write_bytes(b"not a database" * 100)
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), None)
    rebuilt = await loader.load(KEY, "nb.ipynb")
    assert not rebuilt.from_cache and rebuilt.document.get() == first.document.get()
    assert "cannot be read" in caplog.text and (tmp_path / "loads.sqlite.damaged").exists()
    await remembered(loader, rebuilt)  # a new store in its place
    assert (await loader.load(KEY, "nb.ipynb")).from_cache

    loader.cache.close()
    store.unlink()
    store.mkdir()  # a store that cannot be opened at all: logged once, bypassed
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), None)
    for _ in range(2):
        loaded = await loader.load(KEY, "nb.ipynb")
        assert not loaded.from_cache and loaded.document.get() == first.document.get()
        await remembered(loader, loaded)
    assert caplog.text.count("cannot be used") == 1


async def test_a_store_of_an_older_layout_is_emptied_and_used_again(tmp_path):
    """An older server's store (another ``user_version``: entries checked by other digests) holds only
    copies: it is emptied on first use, and keeps this server's builds from then on."""
    cm = contents_manager(tmp_path)
    nbformat.write(notebook(), cm.root_dir + "/nb.ipynb")
    store = tmp_path / "loads.sqlite"
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), None)
    await remembered(loader, await loader.load(KEY, "nb.ipynb"))
    assert (await loader.load(KEY, "nb.ipynb")).from_cache
    loader.cache.close()

    db = sqlite3.connect(store)
    (layout,) = db.execute("PRAGMA user_version").fetchone()
    db.execute(f"PRAGMA user_version = {layout - 1}")
    db.close()
    loader = Loader(cm, LoadCache(store, max_bytes=10**8), None)
    rebuilt = await loader.load(KEY, "nb.ipynb")
    assert not rebuilt.from_cache
    db = sqlite3.connect(store)
    assert db.execute("SELECT count(*) FROM builds").fetchone() == (0,)
    assert db.execute("PRAGMA user_version").fetchone() == (layout,)
    db.close()
    await remembered(loader, rebuilt)
    assert (await loader.load(KEY, "nb.ipynb")).from_cache
    loader.cache.close()


async def test_the_cache_is_bounded_by_size_and_drops_the_least_recently_opened(tmp_path):
    cm = contents_manager(tmp_path)
    for name in ("a", "b", "c"):
        nbformat.write(notebook(30), f"{cm.root_dir}/{name}.ipynb")
    probe = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None)
    size = len((await probe.load(KEY, "a.ipynb")).keep.first)
    loader = Loader(cm, LoadCache(":memory:", max_bytes=int(size * 2.5)), None)
    for name in ("a", "b"):
        await remembered(loader, await loader.load(KEY, f"{name}.ipynb"))
    assert (await loader.load(KEY, "a.ipynb")).from_cache  # a is now the most recently opened
    await remembered(loader, await loader.load(KEY, "c.ipynb"))
    assert (await loader.load(KEY, "a.ipynb")).from_cache
    assert (await loader.load(KEY, "c.ipynb")).from_cache
    assert not (await loader.load(KEY, "b.ipynb")).from_cache


def cache_counts(metrics: str) -> dict[str, float]:
    counts = {}
    for line in metrics.splitlines():
        if line.startswith("jupyter_rtc_supernode_load_cache_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            counts[outcome] = float(line.rsplit(" ", 1)[1])
    return counts


def untrusted(cell: dict) -> dict:
    """A cell without its trust mark (a save by the server signs the notebook it writes)."""
    return {**cell, "metadata": {k: v for k, v in cell["metadata"].items() if k != "trusted"}}


def saved_source(path) -> str:
    """The first cell's source on disk ('' while the server is writing the file)."""
    try:
        return nbformat.read(path, as_version=4).cells[0].source
    except (OSError, ValueError):
        return ""


async def kept(store, count: int, server) -> None:
    """Wait until the load cache holds ``count`` builds."""
    deadline = asyncio.get_running_loop().time() + 20
    while True:
        db = sqlite3.connect(store)
        try:
            if db.execute("SELECT count(*) FROM builds").fetchone()[0] >= count:
                return
        finally:
            db.close()
        assert asyncio.get_running_loop().time() < deadline, server.log_tail(30)
        await asyncio.sleep(0.05)


async def test_a_restarted_server_opens_the_file_it_last_saved_from_the_cache(tmp_path):
    store = tmp_path / "loads.sqlite"
    server = JupyterLabServer(
        tmp_path / "server",
        app="server",
        extra_args=[f"--SupernodeExtension.load_cache_path={store}", "--SupernodeExtension.save_delay=0.2"],
    )
    path = server.root / "nb.ipynb"
    nbformat.write(notebook(200, big=300_000), path)  # above the size from which a last save is kept
    seen = []

    async def open_and(edit: bool) -> None:
        await server.start()
        async with JupyterClient(server.url, server.token) as api:
            nb = await api.open_notebook("nb.ipynb")
            seen.append(nb.to_dict())
            if edit:
                nb.cells[0].insert(0, "# edited\n")
                await nb.flush()
                deadline = asyncio.get_running_loop().time() + 20
                while not saved_source(path).startswith("# edited"):
                    assert asyncio.get_running_loop().time() < deadline, server.log_tail(30)
                    await asyncio.sleep(0.05)
            await nb.close()
        status, metrics = await server.request("GET", "/metrics")
        assert status == 200
        seen.append(cache_counts(metrics))

    try:
        await open_and(edit=False)  # the first open builds, and keeps the build
        await kept(store, 1, server)
        await server.stop()
        await open_and(edit=True)  # unchanged: from the cache; then edited and saved
        await server.stop()  # the room is freed: what its last save wrote is built and kept
        await kept(store, 2, server)
        await open_and(edit=False)
    finally:
        await server.stop()
    first, first_counts, second, second_counts, third, third_counts = seen
    assert first_counts == {"hit": 0, "miss": 1}
    assert second_counts == {"hit": 1, "miss": 0} and second == first
    assert third_counts == {"hit": 1, "miss": 0}
    assert third["cells"][0]["source"].startswith("# edited")
    assert [untrusted(c) for c in third["cells"][1:]] == [untrusted(c) for c in first["cells"][1:]]
    assert "(from the load cache" in server.log_tail(200)


async def test_a_server_stopped_before_a_load_had_a_client_keeps_its_build_and_exits_at_once(tmp_path):
    """A notebook opened by a program (no client in its room) and the server stopped (SIGTERM) right after:
    its build is kept at once, without waiting for a first client, and the server exits well within the
    few seconds that wait took; the next start opens the file from the cache."""
    store = tmp_path / "loads.sqlite"
    server = JupyterLabServer(
        tmp_path / "server", app="server", extra_args=[f"--SupernodeExtension.load_cache_path={store}"]
    )
    nbformat.write(notebook(200), server.root / "nb.ipynb")
    await server.start()
    try:
        status, _ = await server.request("GET", "/api/rtc/notebooks/nb.ipynb")
        assert status == 200
        proc = server._proc
        started = asyncio.get_running_loop().time()
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
        took = asyncio.get_running_loop().time() - started
        assert took < 3.0, (took, server.log_tail(30))
        await kept(store, 1, server)
        await server.stop()
        await server.start()
        status, _ = await server.request("GET", "/api/rtc/notebooks/nb.ipynb")
        assert status == 200
        status, metrics = await server.request("GET", "/metrics")
        assert cache_counts(metrics) == {"hit": 1, "miss": 0}
    finally:
        await server.stop()


async def test_a_file_holding_trust_marks_of_its_own_gets_the_notarys_marks_as_jupyter_server_gives_them(tmp_path):
    cm = contents_manager(tmp_path)
    nb = notebook(3)
    data = json.loads(nbformat.writes(nb))
    data["cells"][0]["metadata"]["trusted"] = True  # not the notary's word: dropped on reading
    (tmp_path / "root" / "nb.ipynb").write_text(json.dumps(data))
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None)
    first = await loader.load(KEY, "nb.ipynb")
    await remembered(loader, first)
    again = await loader.load(KEY, "nb.ipynb")
    assert again.from_cache
    theirs = (await cm.get("nb.ipynb"))["content"]
    for loaded in (first, again):
        cells = loaded.document.get()["cells"]
        assert [c["metadata"].get("trusted") for c in cells] == [c.metadata.get("trusted") for c in theirs.cells]
        assert cells[0]["metadata"]["trusted"] is False


async def test_a_notebook_that_fails_validation_opens_and_is_logged(tmp_path, caplog):
    cm = contents_manager(tmp_path)
    data = json.loads(nbformat.writes(notebook(3)))
    data["cells"][0]["execution_count"] = "not a number"
    (tmp_path / "root" / "nb.ipynb").write_text(json.dumps(data))
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None)
    loaded = await loader.load(KEY, "nb.ipynb")
    assert loaded.document.get()["cells"][0]["execution_count"] == "not a number"  # as jupyter_server opens it
    assert loaded.validate and "invalid" not in caplog.text  # not on the way to the first client
    await loader.validate("nb.ipynb")
    assert caplog.text.count("the notebook's JSON is invalid") == 1


async def test_a_file_that_is_no_notebook_is_left_to_the_contents_manager_to_refuse(tmp_path):
    cm = contents_manager(tmp_path)
    (tmp_path / "root" / "nb.ipynb").write_bytes(b"\xff\xfe not json")
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), None)
    with pytest.raises(HTTPError) as refused:
        await loader.load(KEY, "nb.ipynb")
    assert refused.value.status_code == 400


async def test_a_long_streams_stage_comes_in_pieces_of_a_megabyte(tmp_path):
    """A 2.5 MB log in one cell is three updates of at most about a megabyte (no turn of the event loop
    applies it whole); they give the file's stream, from the file and from the cache."""
    from supernode import stages

    cm = contents_manager(tmp_path)
    nbformat.write(notebook(5, big=int(2.5 * stages._STAGE_CHARS)), cm.root_dir + "/nb.ipynb")
    loader = Loader(cm, LoadCache(":memory:", max_bytes=10**8), 100_000)
    whole = await Loader(cm, None, None).load(KEY, "nb.ipynb")

    first = await loader.load(KEY, "nb.ipynb")
    sizes = [len(update) for update in first.stages.updates()]
    assert first.stages.cells == 1 and first.stages.parts == len(sizes) == 3
    assert max(sizes) < 1.1 * stages._STAGE_CHARS
    for update in unpack_parts(pack_parts(first.stages.packed)):
        first.document.ydoc.apply_update(update)
    assert first.document.get() == whole.document.get()
    await remembered(loader, first)
    second = await loader.load(KEY, "nb.ipynb")
    assert second.from_cache and second.stages.parts == 3
    await drain(second)
    assert second.document.get() == whole.document.get()


def test_the_notary_is_set_up_at_start_and_a_failure_to_is_only_logged(tmp_path, caplog):
    from traitlets import default
    from traitlets.config import Config

    notary_dir = tmp_path / "notary"
    notary_dir.mkdir()
    (tmp_path / "root").mkdir()
    cm = AsyncFileContentsManager(
        root_dir=str(tmp_path / "root"), config=Config(NotebookNotary={"data_dir": str(notary_dir)})
    )
    assert "notary" not in cm._trait_values  # jupyter_server makes it on first use: inside the first open
    Loader(cm, None, None).prepare()
    assert "notary" in cm._trait_values
    assert (notary_dir / "nbsignatures.db").is_file() and (notary_dir / "notebook_secret").is_file()

    class NoNotary(AsyncFileContentsManager):
        @default("notary")
        def _no_notary(self):
            raise OSError("read-only file system")

    Loader(NoNotary(root_dir=str(tmp_path / "root")), None, None).prepare()
    assert "the notebook notary could not be set up at start: OSError('read-only file system')" in caplog.text
