"""Notebooks, cells and outputs as text for agents (what the MCP tools answer).

Outputs become plain text: streams and ``text/plain`` as they are, errors as ``ename: evalue`` and their
traceback without terminal colours, rich data as a summary (``[image/png 12 KB]``, ``[text/html 3 KB]``)
unless a ``text/plain`` form is there too. A cell's output text longer than ``limit`` characters keeps its
head and tail around a marker saying how much was left out, so one chatty cell cannot fill an agent's context.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["DEFAULT_OUTPUT_CHARS", "cell_text", "notebook_text", "output_text", "outputs_text"]

DEFAULT_OUTPUT_CHARS = 4000
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _join(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _size(mime: str, value: Any) -> str:
    """The size of an output's data: decoded for binary data (base64 in the notebook), else its UTF-8 text."""
    text = json.dumps(value) if isinstance(value, dict) else _join(value)
    if mime.startswith(("image/", "audio/", "video/", "application/pdf")) and not mime.endswith("+xml"):
        size = len("".join(text.split())) * 3 // 4
    else:
        size = len(text.encode("utf-8"))
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{round(size / 1024)} KB"
    return f"{size} B"


def output_text(output: dict[str, Any]) -> str:
    """One nbformat output as text (see the module docstring)."""
    kind = output.get("output_type")
    if kind == "stream":
        return _join(output.get("text"))
    if kind == "error":
        traceback = "\n".join(_ANSI.sub("", line) for line in output.get("traceback") or [])
        head = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return f"{head}\n{traceback}\n" if traceback else head + "\n"
    if kind in ("execute_result", "display_data", "update_display_data"):
        data = output.get("data") or {}
        parts = [f"[{mime} {_size(mime, value)}]" for mime, value in data.items() if mime != "text/plain"]
        plain = data.get("text/plain")
        text = _join(plain) if plain is not None else ""
        if parts:
            text = (text + "\n" if text else "") + " ".join(parts)
        return text + "\n" if text and not text.endswith("\n") else text
    return f"[{kind} output]\n"


def outputs_text(outputs: list[dict[str, Any]], limit: int = DEFAULT_OUTPUT_CHARS) -> str:
    """A cell's outputs as one text of at most about ``limit`` characters (its head and tail kept)."""
    text = "".join(output_text(output) for output in outputs or [])
    if limit >= 0 and len(text) > limit:
        head, tail = text[: limit * 3 // 4], text[-(limit // 4) :] if limit >= 4 else ""
        return f"{head}\n[... {len(text) - len(head) - len(tail)} characters left out ...]\n{tail}"
    return text


def cell_text(cell: dict[str, Any], limit: int = DEFAULT_OUTPUT_CHARS) -> dict[str, Any]:
    """A cell as the tools answer it: id, index, type, source, source hash, and for a code cell its execution
    count, state and outputs as text."""
    out: dict[str, Any] = {
        "id": cell.get("id"),
        "index": cell.get("index"),
        "cell_type": cell.get("cell_type"),
        "source": cell.get("source", ""),
        "source_hash": cell.get("source_hash"),
    }
    if cell.get("cell_type") == "code":
        out["execution_count"] = cell.get("execution_count")
        out["execution_state"] = cell.get("execution_state", "idle")
        if "outputs" in cell:
            out["outputs"] = outputs_text(cell.get("outputs") or [], limit)
    return out


def notebook_text(path: str, cells: list[dict[str, Any]], limit: int = DEFAULT_OUTPUT_CHARS) -> str:
    """Cells (as :func:`cell_text` gives them) as one readable text: a header per cell, its source, its outputs."""
    parts = [f"# {path}\n"]
    for cell in cells:
        header = f"## [{cell['index']}] {cell['cell_type']} cell {cell['id']}"
        if cell.get("execution_count") is not None:
            header += f" (In [{cell['execution_count']}])"
        parts.append(f"{header}\n{cell['source']}\n")
        if cell.get("outputs"):
            parts.append(f"### outputs\n{cell['outputs']}")
    return "\n".join(parts)
