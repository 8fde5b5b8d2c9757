"""Notebooks of the notebook benchmark, generated with nbformat (v4.5, every cell has an id).

Contracts:
- ``WORKLOADS``: name -> description; names are ``10``, ``1000``, ``5000``, ``20000`` (that many
  cells), ``50mb`` (50 code cells, each with one 1 MiB text output: stream and display_data
  alternate) and ``20mb-stream`` (one code cell whose stdout stream holds 20 MiB of lines, as a long
  run leaves it, between two small cells).
- ``cell_id(i)``: the id of cell i (the same scheme in every notebook).
- ``build(name)``: the ``nbformat.NotebookNode``. Deterministic: the same name gives the same bytes.
- ``write(name, directory)``: writes ``{directory}/nb-{name}.ipynb`` with ``nbformat.write`` and
  returns ``(path, cell_count)``.

Cell mix of the counted notebooks: every third cell is markdown; the others are code cells with a
two-line source, an execution count and one small stdout stream output (a few lines).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import v4

WORKLOADS = {
    "10": "10 cells",
    "1000": "1,000 cells",
    "5000": "5,000 cells",
    "20000": "20,000 cells",
    "50mb": "50 cells, each with a 1 MiB text output (~50 MB of outputs)",
    "20mb-stream": "3 cells, the middle one with a 20 MiB stdout stream (a long run's log)",
}

_BIG_OUTPUT_BYTES = 1 << 20
_BIG_CELLS = 50


def cell_id(i: int) -> str:
    return f"c{i:07d}"  # nbformat 4.5 ids: 1-64 chars of [a-zA-Z0-9-_]


def _counted(n: int) -> nbformat.NotebookNode:
    cells = []
    for i in range(n):
        if i % 3 == 2:
            cell = v4.new_markdown_cell(f"## Section {i}\n\nSome *markdown* text for cell {i}.")
        else:
            cell = v4.new_code_cell(f"x{i} = {i} * 2\nprint('value', x{i})", execution_count=i + 1)
            cell.outputs = [v4.new_output("stream", name="stdout", text=f"value {2 * i}\nline two of {i}\n")]
        cell.id = cell_id(i)
        cells.append(cell)
    return v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})


def _big() -> nbformat.NotebookNode:
    line = "0123456789" * 9 + "abcdefghi\n"  # 100 bytes
    cells = []
    for i in range(_BIG_CELLS):
        text = (f"{i:05d}" + line[5:]) * (_BIG_OUTPUT_BYTES // len(line))
        text += "x" * (_BIG_OUTPUT_BYTES - len(text))
        if i % 2 == 0:
            output = v4.new_output("stream", name="stdout", text=text)
        else:
            output = v4.new_output("display_data", data={"text/plain": text})
        cell = v4.new_code_cell(f"print_big({i})", execution_count=i + 1)
        cell.outputs = [output]
        cell.id = cell_id(i)
        cells.append(cell)
    return v4.new_notebook(cells=cells)


def _long_stream() -> nbformat.NotebookNode:
    lines = [f"step {i:08d} loss {1 / (i + 1):.6f} lr 0.001000 elapsed {i * 0.01:.2f}s\n" for i in range(300_000)]
    text = "".join(lines)
    while len(text) < 20 << 20:
        text += text[: (20 << 20) - len(text)]
    run = v4.new_code_cell("train(steps=300_000)", execution_count=2)
    run.outputs = [v4.new_output("stream", name="stdout", text=text[: 20 << 20])]
    cells = [v4.new_code_cell("import train", execution_count=1), run, v4.new_markdown_cell("## Results")]
    for i, cell in enumerate(cells):
        cell.id = cell_id(i)
    return v4.new_notebook(cells=cells)


def build(name: str) -> nbformat.NotebookNode:
    if name == "50mb":
        nb = _big()
    elif name == "20mb-stream":
        nb = _long_stream()
    elif name in WORKLOADS:
        nb = _counted(int(name))
    else:
        raise ValueError(f"unknown notebook workload {name!r}; known: {', '.join(WORKLOADS)}")
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return nb


def write(name: str, directory: Path) -> tuple[Path, int]:
    nb = build(name)
    path = Path(directory) / f"nb-{name}.ipynb"
    nbformat.write(nb, str(path))
    return path, len(nb.cells)
