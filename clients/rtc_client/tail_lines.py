"""What ``jupyter-rtc tail`` prints: the lines of each event of a notebook's change feed
(:func:`tail_lines`, each a dict, printed as JSON with ``--json``) and their text (:func:`describe`);
:func:`output_text`, an output as text, is ``exec``'s too."""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["describe", "output_text", "tail_lines"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def tail_lines(model: Any, event: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``tail`` prints for one event of the change feed (``model``: the notebook before it)."""
    kind, data = event["event"], event["data"]
    doc = "notebook"
    if kind == "snapshot":
        return []
    if kind == "resync":
        return [{"source": doc, "event": "resync", "reason": data["reason"]}]
    if kind in ("cell_added", "cell_removed", "cell_moved"):
        after = type(model)()
        after.cells = [dict(cell) for cell in model.cells]
        after.apply(event)
        return [{"source": doc, "event": "cells", "cell_ids": after.cell_ids}]
    if kind == "source_changed":
        from .text import apply_edits

        source = apply_edits(model.cell(data["cell_id"])["source"], data["edits"])
        return [{"source": doc, "event": "cell", "cell_id": data["cell_id"], "field": "source", "value": source}]
    if kind in ("outputs_changed", "output_text"):
        cell = model.cell(data["cell_id"])
        outputs = cell.get("outputs") or []
        count = len(outputs) - data["delete"] + len(data["outputs"]) if kind == "outputs_changed" else len(outputs)
        lines = [{"source": doc, "event": "cell", "cell_id": data["cell_id"], "field": "outputs", "value": count}]
        execution_id = data.get("execution_id")
        if execution_id is None:
            return lines
        run = {"source": "kernel", "execution_id": execution_id, "cell_id": data["cell_id"]}
        if kind == "outputs_changed":
            if data["delete"] and not data["outputs"]:
                lines.append({**run, "event": "clear"})
            for i, output in enumerate(data["outputs"]):
                replace = i < data["delete"]
                lines.append(
                    {**run, "event": "output", "index": data["index"] + i, "replace": replace, "output": output}
                )
        else:
            output = outputs[data["index"]]
            old = str(output.get("text", ""))
            appended = [e["text"] for e in data["edits"] if e["start"] == e["end"]]
            if len(appended) == len(data["edits"]) and all(e["start"] >= len(old) for e in data["edits"]):
                text, replace = "".join(appended), False
            else:
                from .text import apply_edits

                text, replace = apply_edits(old, data["edits"]), True
            lines.append({**run, "event": "output", "index": data["index"], "replace": replace,
                          "output": {**output, "text": text}})  # fmt: skip
        return lines
    if kind == "metadata_changed":
        return [
            {"source": doc, "event": "cell", "cell_id": data["cell_id"], "field": "metadata", "value": data["metadata"]}
        ]
    if kind == "execution_state_changed":
        cell = model.cell(data["cell_id"])
        return [
            {"source": doc, "event": "cell", "cell_id": data["cell_id"], "field": field, "value": data[field]}
            for field in ("execution_count", "execution_state")
            if cell.get(field) != data[field]
        ]
    if kind == "cell_changed":
        return [
            {"source": doc, "event": "cell", "cell_id": data["cell_id"], "field": field, "value": value}
            for field, value in sorted(data["fields"].items())
        ]
    run = {"source": "kernel", "execution_id": data.get("execution_id")}
    if kind == "execution_queued":
        return [{**run, "event": "execution", "status": "queued"}]
    if kind == "execution_started":
        return [{**run, "event": "execution", "status": "running"}]
    if kind == "execution_finished":
        return [{**run, "event": "execution", "status": data["status"]}]
    if kind == "execution_cell_started":
        return [{**run, "event": "cell", "cell_id": data["cell_id"], "status": "running", "execution_count": None,
                 "error": None}]  # fmt: skip
    if kind == "execution_cell_finished":
        return [{**run, "event": "cell", "cell_id": data["cell_id"], "status": data["status"],
                 "execution_count": data["execution_count"], "error": data["error"]}]  # fmt: skip
    if kind == "execution_input_request":
        return [{**run, "event": "input_request", "cell_id": data["cell_id"], "prompt": data["prompt"],
                 "password": data["password"]}]  # fmt: skip
    return []


def describe(event: dict[str, Any]) -> str:
    """One of :func:`tail_lines`'s lines as ``tail`` prints it without ``--json``."""
    kind = event["event"]
    if kind == "cells":
        return f"cells: {len(event['cell_ids'])} [{', '.join(event['cell_ids'])}]"
    if kind == "cell" and event.get("source") == "notebook":
        value = event["value"]
        shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, int) or value is None else str(value)
        if len(shown) > 200:
            shown = shown[:200] + "…"
        return f"cell {event['cell_id']} {event['field']}: {shown}"
    if kind == "overflow":
        return f"({event['dropped']} changes skipped)"
    if kind == "resync":
        return f"(resynchronised: {event['reason']})"
    execution = str(event.get("execution_id", ""))[:8]
    if kind == "execution":
        return f"execution {execution}: {event['status']}"
    if kind == "cell":
        count = event.get("execution_count")
        return f"execution {execution} cell {event['cell_id']}: {event['status']}" + (
            f" [{count}]" if count is not None else ""
        )
    if kind == "output":
        text = output_text(event["output"]).rstrip("\n")
        return f"execution {execution} cell {event['cell_id']} output: {text}"
    if kind == "clear":
        return f"execution {execution} cell {event['cell_id']}: outputs cleared"
    if kind == "input_request":
        return f"execution {execution} cell {event['cell_id']}: waiting for input {event.get('prompt', '')!r}"
    return json.dumps(event, ensure_ascii=False)


def output_text(output: dict[str, Any]) -> str:
    """An output as text for a terminal: a stream's text, an error's traceback without its colours, a rich
    output's ``text/plain`` (else the names of its types), ending in a newline."""
    kind = output.get("output_type")
    if kind == "stream":
        return str(output.get("text", ""))
    if kind == "error":
        return _ANSI.sub("", "\n".join(output.get("traceback") or [f"{output.get('ename')}: {output.get('evalue')}"]))
    data = output.get("data") or {}
    text = data.get("text/plain")
    if text is None:
        return f"<{', '.join(sorted(data)) or kind}>\n"
    text = "".join(text) if isinstance(text, list) else str(text)
    return text if text.endswith("\n") else text + "\n"
