"""A notebook file's content (supernode.notebook_reader) against nbformat's reader, as jupyter_server's file
manager reads it: the same data for every file nbformat writes, for files written by other tools (lines not
split, transient fields left in), and nbformat's own errors for what is no notebook."""

from __future__ import annotations

import json

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supernode.notebook_reader import read_notebook
from test_notebook_json import JSON, nb_workloads, nbformat_text, notebooks


def nbformats(text: str):
    return nbformat.convert(nbformat.reader.reads(text), 4)


def same(text: str) -> None:
    ours = read_notebook(text.encode())
    assert type(ours) is dict
    assert ours == nbformats(text)
    assert json.dumps(ours, sort_keys=True) == json.dumps(nbformats(text), sort_keys=True)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks())
def test_what_nbformat_writes_reads_as_nbformat_reads_it(content):
    same(nbformat_text(content))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notebooks(), st.dictionaries(st.sampled_from(["trusted", "orig_nbformat", "x"]), JSON, max_size=2))
def test_files_of_other_writers_read_as_nbformat_reads_them(content, extra):
    """Lines left whole, lists in JSON mime types, ``trusted`` and ``signature`` left in the file."""
    for cell in content["cells"]:
        cell["metadata"].update(extra)
    content["metadata"]["signature"] = "sha256:0"
    same(json.dumps(content))


@pytest.mark.parametrize("name", ["10", "1000", "50mb", "20mb-stream"])
def test_the_bench_notebooks_read_as_nbformat_reads_them(name):
    same(nbformat.writes(nb_workloads.build(name)))


@pytest.mark.parametrize(
    "text",
    [
        '{"cells": [], "metadata": {}, "nbformat": 3, "nbformat_minor": 0, "worksheets": []}',
        '{"cells": [{"cell_type": "code", "source": ["a", "b"], "outputs": []}], "metadata": {}, "nbformat": 4}',
        '{"cells": [{"cell_type": "code", "metadata": {}, "source": "", "outputs": null}], "metadata": {},'
        ' "nbformat": 4}',
        '{"cells": [{"cell_type": "code", "metadata": {}, "source": "", "outputs": [{"output_type": "display_data",'
        ' "data": {"text/plain": ["a", 1], "application/json": ["x", "y"]}}]}], "metadata": {}, "nbformat": 4}',
        '{"cells": [], "metadata": {}, "nbformat": 4.0, "nbformat_minor": 5}',
        '{"cells": [{"cell_type": "code", "metadata": {}, "source": ["a", 2], "outputs": []}], "metadata": {},'
        ' "nbformat": 4}',
        '{"cells": [{"cell_type": "code", "metadata": {}, "source": "", "outputs": [{"output_type": "stream",'
        ' "name": "stdout", "text": ["a", null]}]}], "metadata": {}, "nbformat": 4}',
        '{"cells": [{"cell_type": "markdown", "metadata": {}, "source": "", "attachments": {"a.png":'
        ' {"image/png": ["iVBO", 7], "text/plain": ["x", "y"]}}}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
    ],
    ids=["nbformat-3", "no-metadata", "null-outputs", "mixed-lines", "float-version", "source-not-lines",
         "stream-not-lines", "attachment-mixed-lines"],
)
def test_what_it_does_not_expect_is_read_by_nbformat(text):
    try:
        expected = nbformats(text)
    except Exception as exc:
        with pytest.raises(type(exc)):
            read_notebook(text.encode())
    else:
        assert read_notebook(text.encode()) == expected


@pytest.mark.parametrize("text", [b"", b"{", b"[]", b'"x"', b"\xef\xbb\xbf{}", '{"a": "\u00e9"}'.encode("utf-16")])
def test_what_is_no_notebook_raises_what_nbformat_raises(text):
    try:
        nbformats(text.decode("utf-8"))
    except Exception as exc:
        expected: type[BaseException] = type(exc)
    with pytest.raises(expected):
        read_notebook(text)


@pytest.mark.parametrize(
    "value",
    ["NaN", "-Infinity", "1e400", '"\\ud800 alone"', "123456789012345678901234567890", "-0.0", '"\\ud83d\\ude00"'],
    ids=["NaN", "infinity", "beyond a float", "a lone surrogate", "a big integer", "minus zero", "a pair"],
)
def test_what_json_takes_reads_as_nbformat_reads_it_whichever_decoder_takes_it(value):
    """msgspec's decoder refuses some of what json takes (json then reads it): the same notebook either way."""
    text = (
        '{"cells": [{"cell_type": "code", "execution_count": null, "id": "a", "metadata": {"v": VALUE},'
        ' "outputs": [], "source": ["x = 1\\n", "y"]}], "metadata": {"w": [VALUE]}, "nbformat": 4, "nbformat_minor": 5}'
    ).replace("VALUE", value)
    ours = read_notebook(text.encode("utf-8", "surrogatepass"))
    expected = nbformats(text)
    assert json.dumps(ours, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert ours["cells"][0]["source"] == "x = 1\ny"
