"""The notebook's file text (supernode.notebook_json) against nbformat's own writer, and a save through
supernode.notebook_writer against jupyter_server's FileContentsManager.save: the same bytes, signature,
checkpoint, hooks and errors."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import sys
from pathlib import Path
from unittest import mock

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager, FileContentsManager
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager, LargeFileManager
from nbformat import v4
from tornado.web import HTTPError

import supernode.notebook_json as notebook_json_module
from supernode.notebook_json import Unexpected, notebook_json
from supernode.notebook_signature import signature
from supernode.notebook_writer import save_notebook, validate_saved, writes_plain_files

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import nb_workloads  # noqa: E402

# Text with what JSON escapes, every line break str.splitlines knows, and characters beyond the BMP.
TEXT = st.text(alphabet=st.sampled_from(list('ab \n\r\t"\\\x00\x0b\x0c\x1c\x1e\x85\u2028é€😀\x7f/')), max_size=40)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True), TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
BUNDLE = st.dictionaries(
    st.sampled_from(
        ["text/plain", "text/html", "application/json", "application/javascript", "image/svg+xml", "image/png"]
    ),
    st.one_of(TEXT, JSON),
    max_size=3,
)
OUTPUT = st.one_of(
    st.builds(
        lambda name, text: {"output_type": "stream", "name": name, "text": text},
        st.sampled_from(["stdout", "stderr"]),
        TEXT,
    ),
    st.builds(
        lambda kind, data, meta, count: (
            {"output_type": kind, "data": data, "metadata": meta}
            | ({"execution_count": count} if kind == "execute_result" else {})
        ),
        st.sampled_from(["display_data", "execute_result"]),
        BUNDLE,
        st.dictionaries(TEXT, JSON, max_size=2),
        st.one_of(st.none(), st.integers(0, 100)),
    ),
    st.builds(
        lambda tb: {"output_type": "error", "ename": "E", "evalue": "v", "traceback": tb}, st.lists(TEXT, max_size=3)
    ),
)
METADATA = st.dictionaries(st.sampled_from(["trusted", "tags", "collapsed", "x", "jupyter"]), JSON, max_size=3)


@st.composite
def cells(draw, index: int) -> dict:
    kind = draw(st.sampled_from(["code", "markdown", "raw"]))
    cell = {"id": f"cell-{index}", "cell_type": kind, "metadata": draw(METADATA), "source": draw(TEXT)}
    if kind == "code":
        cell["outputs"] = draw(st.lists(OUTPUT, max_size=3))
        cell["execution_count"] = draw(st.one_of(st.none(), st.integers(0, 1000)))
    elif draw(st.booleans()):
        cell["attachments"] = draw(st.dictionaries(st.sampled_from(["a.png", "b.txt"]), BUNDLE, max_size=2))
    return cell


@st.composite
def notebooks(draw) -> dict:
    count = draw(st.integers(0, 5))
    meta = draw(
        st.dictionaries(
            st.sampled_from(["kernelspec", "orig_nbformat", "signature", "language_info", "z"]), JSON, max_size=3
        )
    )
    return {"cells": [draw(cells(i)) for i in range(count)], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}


def nbformat_text(content: dict) -> str:
    """What jupyter_server writes: nbformat.write of from_dict(content) after check_and_sign took the marks."""
    node = nbformat.from_dict(copy.deepcopy(content))
    for cell in node.cells:
        if cell.get("cell_type") == "code":
            cell.metadata.pop("trusted", None)
    return nbformat.writes(node, version=nbformat.NO_CONVERT)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks())
def test_the_text_is_nbformats_character_for_character_and_the_notebook_is_left_alone(content):
    before = copy.deepcopy(content)
    assert notebook_json(content) == nbformat_text(content)
    with mock.patch.object(notebook_json_module, "ENCODED_FROM", 0):  # every plain text's lines as UTF-8 bytes
        assert notebook_json(content) == nbformat_text(content)
    assert json.dumps(content, sort_keys=True) == json.dumps(before, sort_keys=True)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks())
def test_the_signature_is_the_notarys(content):
    notary = nbformat.sign.NotebookNotary(secret=b"s3cret", data_dir=":memory:")
    content["metadata"]["signature"] = "sha256:old"  # never part of what is signed
    assert signature(notary, content) == notary.compute_signature(nbformat.from_dict(copy.deepcopy(content)))


@pytest.mark.parametrize("name", ["10", "1000", "50mb", "20mb-stream"])
def test_the_bench_notebooks_are_written_as_nbformat_writes_them(name):
    content = json.loads(json.dumps(nb_workloads.build(name)))
    assert notebook_json(content) == nbformat_text(content)


@pytest.mark.parametrize(
    "content",
    [
        {"cells": [], "metadata": {}, "nbformat": 3, "nbformat_minor": 0},
        {
            "cells": [{"cell_type": "code", "metadata": {}, "source": "", "outputs": [], "execution_count": (1,)}],
            "metadata": {},
            "nbformat": 4,
        },
        {"cells": [{"cell_type": "markdown", "metadata": {1: 2}, "source": ""}], "metadata": {}, "nbformat": 4},
        {"cells": [{"cell_type": "code", "metadata": {}, "source": "x"}], "metadata": {}, "nbformat": 4},
        {"cells": [{"metadata": {}, "source": "x"}], "metadata": {}, "nbformat": 4},
        {
            "cells": [{"cell_type": "markdown", "metadata": {"b": b"bytes"}, "source": ""}],
            "metadata": {},
            "nbformat": 4,
        },
    ],
    ids=["nbformat-3", "tuple", "int-key", "no-outputs", "no-type", "bytes"],
)
def test_what_it_does_not_expect_is_left_to_nbformat(content):
    with pytest.raises(Unexpected):
        notebook_json(content)


# -- saving through the file manager -----------------------------------------------------------------------


def lesson(trusted: bool) -> dict:
    code = v4.new_code_cell("display(html)", execution_count=1, id="c1")
    code.outputs = [v4.new_output("display_data", data={"text/html": "<b>rich</b>\n<i>two</i>", "text/plain": "x"})]
    code.metadata["trusted"] = trusted
    markdown = v4.new_markdown_cell("# Title\n\nbody", id="m1")
    stream = v4.new_code_cell("print(1)", execution_count=2, id="c2")
    stream.outputs = [v4.new_output("stream", name="stdout", text="1\n2\n")]
    stream.metadata["trusted"] = trusted
    notebook = v4.new_notebook(
        cells=[code, markdown, stream], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}
    )
    return json.loads(json.dumps(notebook))


# AsyncLargeFileManager is jupyter_server's default contents manager.
@pytest.fixture(
    params=[FileContentsManager, AsyncFileContentsManager, AsyncLargeFileManager],
    ids=["sync", "async", "async-large"],
)
def managers(request, tmp_path):
    """Two managers of one class on two directories, with one notary database."""

    (tmp_path / "notary").mkdir()

    def make(root: Path):
        root.mkdir()
        cm = request.param(root_dir=str(root))
        cm.notary.data_dir = str(tmp_path / "notary")
        return cm

    return make(tmp_path / "ours"), make(tmp_path / "theirs")


async def save_both(managers, content: dict, path: str = "n.ipynb") -> tuple[dict, dict, str]:
    ours, theirs = managers
    told = []  # the hash as soon as the file is written, and the file then
    model, digest = await save_notebook(
        ours,
        {"type": "notebook", "content": copy.deepcopy(content)},
        path,
        written=lambda h: told.append((h, Path(ours.root_dir, path).read_bytes())),
    )
    assert [(h, hashlib.new(ours.hash_algorithm, raw).hexdigest()) for h, raw in told] == [(digest, digest)]
    reference = await _ensure(theirs.save({"type": "notebook", "content": copy.deepcopy(content)}, path))
    return model, reference, digest


async def _ensure(value):
    return await value if hasattr(value, "__await__") else value


@pytest.mark.parametrize("trusted", [True, False])
async def test_a_save_leaves_what_the_file_manager_leaves(managers, trusted, caplog):
    ours, theirs = managers
    assert writes_plain_files(ours)
    content = lesson(trusted)
    model, reference, digest = await save_both(managers, content)
    written = Path(ours.root_dir, "n.ipynb").read_bytes()
    assert written == Path(theirs.root_dir, "n.ipynb").read_bytes()
    assert digest == hashlib.new(ours.hash_algorithm, written).hexdigest()
    assert (await _ensure(ours.get("n.ipynb", require_hash=True)))["hash"] == digest
    assert {k: v for k, v in model.items() if k not in ("created", "last_modified")} == {
        k: v for k, v in reference.items() if k not in ("created", "last_modified")
    }
    assert len(await _ensure(ours.checkpoints.list_checkpoints("n.ipynb"))) == 1
    # The signature is stored as the manager stores it: the notebook opens trusted exactly when it was.
    reopened = (await _ensure(ours.get("n.ipynb")))["content"]
    assert all(cell.metadata.get("trusted") is trusted for cell in reopened.cells if cell.cell_type == "code")
    assert content == lesson(trusted)  # the caller's notebook is left as it was


@pytest.mark.parametrize("workload", ["20mb-stream", "5000"])
async def test_the_file_is_written_in_one_call_once_its_whole_text_is_ready(managers, monkeypatch, workload):
    """The file is written in place (after the manager's backup copy): a reader (a frontend hashing the file
    before it saves) must not find it changed while the text is still being made, nor half written between
    two writes. The text goes in one ``writev`` of its pieces (a large output's text is not copied into a
    join), over the file as it was (not truncated first), then the file is cut to its length."""
    ours, _ = managers
    real_open, real_writev = os.open, os.writev
    calls: list[tuple[str, int]] = []

    def opening(path, flags, *args, **kwargs):
        if path.endswith("n.ipynb"):
            calls.append(("open", flags & os.O_TRUNC))
        return real_open(path, flags, *args, **kwargs)

    def writev(fd, buffers):
        calls.append(("writev", sum(len(buffer) for buffer in buffers)))
        return real_writev(fd, buffers)

    Path(ours.root_dir, "n.ipynb").write_text(json.dumps({"a file": "x" * 30_000_000}))  # longer than the new one
    monkeypatch.setattr(os, "open", opening)
    monkeypatch.setattr(os, "writev", writev)
    content = json.loads(json.dumps(nb_workloads.build(workload)))
    await save_notebook(ours, {"type": "notebook", "content": content}, "n.ipynb")
    assert calls == [("open", 0), ("writev", Path(ours.root_dir, "n.ipynb").stat().st_size)]
    assert Path(ours.root_dir, "n.ipynb").read_text() == nbformat.writes(nbformat.from_dict(content)) + "\n"


async def test_hooks_run_and_errors_are_the_managers(managers, tmp_path):
    ours, _ = managers
    seen = []

    def strip_outputs(model, path, contents_manager, **kwargs):
        for cell in model["content"]["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"] = []

    ours.register_pre_save_hook(strip_outputs)
    ours.register_post_save_hook(lambda model, os_path, contents_manager, **kw: seen.append((model["path"], os_path)))
    assert writes_plain_files(ours)
    await save_notebook(ours, {"type": "notebook", "content": lesson(True)}, "hooked.ipynb")
    saved = json.loads(Path(ours.root_dir, "hooked.ipynb").read_text())
    assert [cell.get("outputs") for cell in saved["cells"]] == [[], None, []]
    assert seen == [("hooked.ipynb", str(Path(ours.root_dir, "hooked.ipynb")))]
    with pytest.raises(HTTPError) as hidden:
        await save_notebook(ours, {"type": "notebook", "content": lesson(True)}, ".secret/n.ipynb")
    assert hidden.value.status_code == 400
    with pytest.raises(HTTPError) as missing:
        await save_notebook(ours, {"type": "notebook", "content": lesson(True)}, "no/such/dir/n.ipynb")
    assert missing.value.status_code == 500 and "Unexpected error while saving file" in missing.value.log_message


def test_only_the_managers_own_save_is_replaced():
    class Custom(FileContentsManager):
        def save(self, model, path=""):
            return super().save(model, path)

    class Reader(FileContentsManager):
        def get(self, path, content=True, type=None, format=None, require_hash=False):
            return super().get(path, content, type, format, require_hash)

    class Chunked(AsyncLargeFileManager):
        async def save(self, model, path=""):
            return await super().save(model, path)

    assert writes_plain_files(FileContentsManager()) and writes_plain_files(AsyncFileContentsManager())
    assert writes_plain_files(LargeFileManager()) and writes_plain_files(AsyncLargeFileManager())
    assert not writes_plain_files(Custom()) and not writes_plain_files(Reader()) and not writes_plain_files(object())
    assert not writes_plain_files(Chunked())
    wrapped = AsyncLargeFileManager()
    original = wrapped.save
    wrapped.save = lambda model, path="": original(model, path)  # an extension wrapping the instance's save
    assert not writes_plain_files(wrapped)
    watched = AsyncLargeFileManager()
    original_get = watched.get
    watched.get = lambda *args, **kwargs: original_get(*args, **kwargs)  # as our contents feed does: still called
    assert writes_plain_files(watched)


async def test_validation_after_the_save_logs_what_is_invalid(caplog):
    broken = lesson(True)
    broken["cells"][1]["cell_type"] = "nonsense"
    with caplog.at_level("ERROR", logger="supernode.notebook_writer"):
        await validate_saved(broken, "broken.ipynb")
        await validate_saved(lesson(True), "fine.ipynb")
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["broken.ipynb"]


async def test_validation_skips_only_the_cells_an_earlier_validation_saw_as_they_are(caplog):
    broken = lesson(True)
    broken["cells"][1]["cell_type"] = "nonsense"
    edited = copy.deepcopy(broken)
    edited["cells"][0]["source"] += "\n# edited"
    newly_broken = copy.deepcopy(lesson(True))
    newly_broken["cells"][2]["outputs"][0]["name"] = 7
    older = copy.deepcopy(lesson(True))
    older["nbformat_minor"] = 4
    with caplog.at_level("ERROR", logger="supernode.notebook_writer"):
        await validate_saved(broken, "first.ipynb")  # logged
        await validate_saved(edited, "unchanged-broken-cell.ipynb", broken)  # its broken cell was seen as it is
        await validate_saved(newly_broken, "changed-cell.ipynb", lesson(True))  # logged: a cell changed
        await validate_saved(broken, "other-minor.ipynb", older)  # logged: another version validates it all
        no_ids = copy.deepcopy(broken)
        for cell in no_ids["cells"]:
            del cell["id"]
        no_ids["nbformat_minor"] = 4
        await validate_saved(no_ids, "no-ids.ipynb", copy.deepcopy(no_ids))  # logged: cells without ids are checked
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "first.ipynb",
        "changed-cell.ipynb",
        "other-minor.ipynb",
        "no-ids.ipynb",
    ]
