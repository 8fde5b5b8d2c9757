"""Helpers for tests of the change feed: follow a feed in the background, and a model of the notebook
rebuilt from its events alone (written here, independently of the server's code)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from jsonschema import Draft202012Validator

from rtc_common.schema import schema_path

with open(schema_path("notebook-event.json"), encoding="utf-8") as _f:
    EVENT = Draft202012Validator(json.load(_f))


def assert_valid_event(event: dict[str, Any]) -> None:
    """``event`` (``{"id", "event", "data"}``) is what ``schema/notebook-event.json`` says."""
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in EVENT.iter_errors(event)]
    assert not errors, f"event {event.get('event')} #{event.get('id')}: {errors[:3]} in {json.dumps(event)[:300]}"


class Follower:
    """Reads an async iterator of events in the background into ``events``."""

    def __init__(self, events: Any) -> None:
        self.source = events
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for event in self.source:
                assert_valid_event(event)
                self.events.append(event)
                self._changed.set()
        except Exception as exc:  # reported by until()
            self.error = exc
            self._changed.set()

    async def until(self, predicate, timeout: float = 30.0, what: str = "an event") -> dict[str, Any]:
        """The first event (from the start) for which ``predicate(event)`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if predicate(event):
                    return event
            seen = len(self.events)
            if self.error is not None:
                raise AssertionError(f"the feed failed while waiting for {what}: {self.error!r}")
            left = deadline - loop.time()
            assert left > 0, f"timed out waiting for {what}; got {[e['event'] for e in self.events][-30:]}"
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        aclose = getattr(self.source, "aclose", None)
        if aclose is not None:
            await aclose()


def apply_edits(text: str, edits: list[dict[str, Any]]) -> str:
    for edit in edits:
        assert 0 <= edit["start"] <= edit["end"] <= len(text), (edit, len(text))
        text = text[: edit["start"]] + edit["text"] + text[edit["end"] :]
    return text


class Model:
    """A notebook rebuilt from a feed's events: ``cells`` (cell JSON, in order) and ``metadata``."""

    def __init__(self) -> None:
        self.cells: list[dict[str, Any]] = []
        self.metadata: dict[str, Any] = {}
        self.last_id: int | None = None

    def cell(self, cell_id: str) -> dict[str, Any]:
        (cell,) = [c for c in self.cells if c["id"] == cell_id]
        return cell

    def apply(self, event: dict[str, Any]) -> None:
        assert_valid_event(event)
        kind, data = event["event"], event["data"]
        if event["id"] is not None:
            assert self.last_id is None or event["id"] >= self.last_id, "ids go back"
            if kind not in ("snapshot", "resync"):
                assert self.last_id is None or event["id"] == self.last_id + 1, (self.last_id, event)
            self.last_id = event["id"]
        if kind in ("snapshot", "resync"):
            self.cells = [dict(c) for c in data["notebook"]["cells"]]
            self.metadata = data["notebook"]["metadata"]
        elif kind == "cell_added":
            self.cells.insert(data["index"], dict(data["cell"]))
        elif kind == "cell_removed":
            assert self.cells[data["index"]]["id"] == data["cell_id"]
            del self.cells[data["index"]]
        elif kind == "cell_moved":
            assert self.cells[data["from"]]["id"] == data["cell_id"]
            del self.cells[data["from"]]
            self.cells.insert(data["to"], dict(data["cell"]))
        elif kind == "source_changed":
            cell = self.cell(data["cell_id"])
            cell["source"] = apply_edits(cell["source"], data["edits"])
        elif kind == "outputs_changed":
            cell = self.cell(data["cell_id"])
            cell["outputs"][data["index"] : data["index"] + data["delete"]] = data["outputs"]
        elif kind == "output_text":
            output = self.cell(data["cell_id"])["outputs"][data["index"]]
            output["text"] = apply_edits(output["text"], data["edits"])
        elif kind == "metadata_changed":
            self.cell(data["cell_id"])["metadata"] = data["metadata"]
        elif kind == "execution_state_changed":
            cell = self.cell(data["cell_id"])
            cell["execution_state"], cell["execution_count"] = data["execution_state"], data["execution_count"]
        elif kind == "cell_changed":
            self.cell(data["cell_id"]).update(data["fields"])
        elif kind == "notebook_metadata_changed":
            self.metadata = data["metadata"]
