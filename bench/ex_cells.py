"""The cells of the execution benchmark, the notebook that holds them, and how outputs are compared.

Contracts:
- ``Workload(key, size)``: ``key`` "A" (``size`` printed lines) or "B" (``size`` display updates).
  ``.source`` is the cell's code; ``.expected`` the outputs it must end with, nbformat-shaped, streams
  merged (``[{"output_type": "stream", "name": "stdout", "text": …}]`` or one ``display_data`` with
  the last value); ``.probe(ycell)`` says cheaply whether a cell of a pycrdt ``YNotebook`` already
  holds that final output (A: the stream ``Text`` has at least the expected length in UTF-8 bytes and
  ends with the last line; B: the display's ``text/plain`` is the last value); ``.final_in(outputs)``
  the same for nbformat-shaped outputs (the file). Both only detect the end; equality is ``compare``.
- ``write_notebook(path, source)``: nbformat 4.5, kernelspec python3, two code cells with fixed ids:
  ``WARMUP_ID`` (``pass``: starts the kernel, prints nothing) and ``TARGET_ID`` (``source``).
- ``merge_streams(outputs)``: copies of ``outputs`` with multiline strings joined, ``transient``
  dropped, and consecutive stream outputs of the same name merged into one (nbclient writes one
  output per stream message). No ``\\r``/``\\b`` processing: these cells print none.
- ``compare(got, want)``: ``(equal, "" or a short description of the first difference)`` of two
  merged output lists.
- ``cell_outputs(nb_json, cell_id)``: ``(outputs, execution_count)`` of a cell of a notebook given
  as parsed JSON (the file on disk), or ``None`` if there is no such cell.
"""

from __future__ import annotations

import copy
from functools import cached_property
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

WARMUP_ID = "warmup"
TARGET_ID = "target"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


@dataclass(frozen=True)
class Workload:
    key: str
    size: int

    @property
    def label(self) -> str:
        return f"{self.size:,} lines" if self.key == "A" else f"{self.size:,} display updates"

    @property
    def source(self) -> str:
        if self.key == "A":
            return f'for i in range({self.size:_}):\n    print(f"line {{i}}")'
        return f'h = display("x", display_id=True)\nfor i in range({self.size:_}):\n    h.update(f"value {{i}}")'

    @property
    def _last_value(self) -> str:
        return repr(f"value {self.size - 1}")

    @cached_property
    def _text_bytes(self) -> int:
        return sum(len(f"line {i}\n") for i in range(self.size))

    @cached_property
    def expected(self) -> list[dict[str, Any]]:
        if self.key == "A":
            text = "".join(f"line {i}\n" for i in range(self.size))
            return [{"output_type": "stream", "name": "stdout", "text": text}]
        return [{"output_type": "display_data", "data": {"text/plain": self._last_value}, "metadata": {}}]

    def probe(self, ycell: Any) -> bool:
        outputs = ycell.get("outputs") if ycell is not None else None
        if outputs is None or len(outputs) != 1:
            return False
        out = outputs[0]
        if self.key == "A":
            if out.get("output_type") != "stream" or out.get("name") != "stdout":
                return False
            text = out.get("text")
            if text is None or len(text) < self._text_bytes:  # cheap: UTF-8 length of the Text
                return False
            return str(text).endswith(f"line {self.size - 1}\n")
        if out.get("output_type") != "display_data":
            return False
        data = out.get("data")
        data = data.to_py() if hasattr(data, "to_py") else data
        return isinstance(data, dict) and data.get("text/plain") == self._last_value


    def final_in(self, outputs: list[dict[str, Any]]) -> bool:
        """Whether nbformat-shaped ``outputs`` (as on disk) end with this cell's final output."""
        merged = merge_streams(outputs)
        if not merged:
            return False
        last = merged[-1]
        if self.key == "A":
            return (last.get("output_type") == "stream" and last.get("name") == "stdout"
                    and last.get("text", "").endswith(f"line {self.size - 1}\n"))
        return last.get("output_type") == "display_data" and last.get("data", {}).get("text/plain") == self._last_value


def write_notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell("pass", id=WARMUP_ID), nbformat.v4.new_code_cell(source, id=TARGET_ID)]
    nbformat.validate(nb)
    nbformat.write(nb, str(path))


def _plain(value: Any) -> Any:
    """JSON-shaped copy; nbformat's multiline strings (lists of lines) joined."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        if value and all(isinstance(v, str) for v in value):
            return "".join(value)
        return [_plain(v) for v in value]
    return copy.copy(value)


def merge_streams(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for output in outputs:
        out = _plain(dict(output))
        out.pop("transient", None)
        if out.get("output_type") == "stream":
            text = out.get("text", "")
            out["text"] = "".join(text) if isinstance(text, list) else text
            last = merged[-1] if merged else None
            if last is not None and last.get("output_type") == "stream" and last.get("name") == out.get("name"):
                last["text"] += out["text"]
                continue
        merged.append(out)
    return merged


def compare(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> tuple[bool, str]:
    if got == want:
        return True, ""
    if len(got) != len(want):
        kinds = lambda outs: [o.get("output_type") for o in outs][:6]  # noqa: E731
        return False, f"{len(got)} outputs {kinds(got)} vs {len(want)} {kinds(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g == w:
            continue
        keys = sorted(set(g) | set(w))
        for key in keys:
            if g.get(key) != w.get(key):
                gv, wv = g.get(key), w.get(key)
                if isinstance(gv, str) and isinstance(wv, str):
                    at = next((n for n, (a, b) in enumerate(zip(gv, wv, strict=False)) if a != b), min(len(gv), len(wv)))
                    return False, (f"output {i} {key}: {len(gv):,} vs {len(wv):,} chars, first difference at {at:,}: "
                                   f"{gv[at:at + 30]!r} vs {wv[at:at + 30]!r}")
                return False, f"output {i} {key}: {str(gv)[:80]!r} vs {str(wv)[:80]!r}"
    return False, "differ"


def cell_outputs(nb_json: dict[str, Any], cell_id: str) -> tuple[list[dict[str, Any]], Any] | None:
    for cell in nb_json.get("cells", []):
        if cell.get("id") == cell_id:
            return cell.get("outputs", []), cell.get("execution_count")
    return None
