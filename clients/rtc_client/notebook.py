"""A notebook open as a live shared document: read and edit its cells while others do.

The document has JupyterLab's layout (``@jupyter/ydoc``; :mod:`jupyter_ydoc` builds cells): a
``cells`` array of maps with ``id``, ``cell_type``, ``source`` (shared text), ``metadata``,
``outputs``, ``execution_count``, ``execution_state``. Cells are addressed by id; positions in a
source are Python ``str`` indices (code points) unless ``unit="utf16"`` says they are UTF-16 offsets
(what a browser reports). Each edit is converted to pycrdt's UTF-8 byte offsets against the source
as it is at that instant, so text typed in a browser and text edited here never garble each other.

Edits are applied to the local copy at once and sent to the room; a read-only connection raises
:class:`~rtc_client.errors.ReadOnly` instead of diverging silently. Moving a cell is a delete and an
insert of a copy (Yjs cannot decode Yrs moves): an edit made concurrently to the moved cell's old copy
is lost, as in JupyterLab.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from jupyter_ydoc import YNotebook
from pycrdt import Array, Map, Text

from .errors import NotFound, ReadOnly
from .presence import Presence
from .text import index_to_utf8, minimal_edit, utf16_to_index

if TYPE_CHECKING:
    from .execution import Execution
    from .jupyter import JupyterClient
    from .room import RoomClient

__all__ = ["Cell", "Notebook"]

_FEED_LIMIT = 1000  # change events a slow reader of Notebook.changes() may leave unread


class _NoUndo:
    def expand_scope(self, scope: object) -> None:
        return None


class _Model(YNotebook):
    """jupyter_ydoc's notebook model without an undo manager (it would keep every deleted item alive)."""

    @property
    def undo_manager(self) -> _NoUndo:  # type: ignore[override]
        return _NoUndo()


class Notebook:
    """A live notebook: ``path``, ``room`` (the :class:`~rtc_client.room.RoomClient` syncing it),
    ``presence``. Close it with ``await notebook.close()`` or ``async with``."""

    def __init__(
        self,
        room: RoomClient,
        *,
        path: str = "",
        session_id: str = "",
        file_id: str = "",
        server: JupyterClient | None = None,
    ) -> None:
        self.room = room
        self.server = server
        self.path = path
        self.session_id = session_id
        self.file_id = file_id
        self.model = _Model(room.doc)
        self.presence = Presence(room)
        self._cells: Array = room.doc.get("cells", type=Array)

    async def __aenter__(self) -> Notebook:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Send pending edits and leave the room."""
        await self.room.close()

    # -- reading ------------------------------------------------------------------------

    @property
    def cells(self) -> list[Cell]:
        """The cells, in order (views by id: they stay valid while others insert or move cells)."""
        return [Cell(self, str(ycell["id"])) for ycell in self._cells]

    @property
    def cell_ids(self) -> list[str]:
        return [str(ycell["id"]) for ycell in self._cells]

    def cell(self, cell_id: str) -> Cell:
        """The cell with id ``cell_id``; :class:`~rtc_client.errors.NotFound` if there is none."""
        self.index(cell_id)
        return Cell(self, cell_id)

    def index(self, cell_id: str) -> int:
        """The position of cell ``cell_id``; :class:`~rtc_client.errors.NotFound` if there is none."""
        for i, ycell in enumerate(self._cells):
            if ycell.get("id") == cell_id:
                return i
        raise NotFound(f"no cell {cell_id!r} in {self.path or 'the notebook'}", code="not_found")

    def to_dict(self) -> dict[str, Any]:
        """The notebook as nbformat JSON (as it would be saved now)."""
        return self.model.get()

    # -- editing cells --------------------------------------------------------------------

    def insert_cell(
        self,
        index: int,
        source: str = "",
        cell_type: str = "code",
        *,
        metadata: dict | None = None,
        cell_id: str | None = None,
    ) -> Cell:
        """Insert a new cell at ``index`` (``len(cells)`` appends); return it."""
        self._check_writable()
        if not 0 <= index <= len(self._cells):
            raise IndexError(f"cell index {index} is outside 0..{len(self._cells)}")
        value: dict[str, Any] = {"cell_type": cell_type, "source": source, "metadata": metadata or {}}
        if cell_id:
            value["id"] = cell_id
        if cell_type == "code":
            value.update(outputs=[], execution_count=None)
        ycell = self.model.create_ycell(value)
        self._cells.insert(index, ycell)
        return Cell(self, str(ycell["id"]))

    def append_cell(self, source: str = "", cell_type: str = "code", **kw: Any) -> Cell:
        return self.insert_cell(len(self._cells), source, cell_type, **kw)

    def delete_cell(self, cell_id: str) -> None:
        self._check_writable()
        del self._cells[self.index(cell_id)]

    def move_cell(self, cell_id: str, index: int) -> None:
        """Move cell ``cell_id`` to position ``index`` (counted in the list without the cell)."""
        self._check_writable()
        old = self.index(cell_id)
        if not 0 <= index < len(self._cells):
            raise IndexError(f"cell index {index} is outside 0..{len(self._cells) - 1}")
        if old == index:
            return
        value = self._cells[old].to_py()
        value.pop("execution_state", None)
        with self.room.doc.transaction():
            del self._cells[old]
            ycell = self.model.create_ycell(value)
            self._cells.insert(index, ycell)

    def _check_writable(self) -> None:
        if self.room.access == "read":
            raise ReadOnly(f"{self.path or self.room.url} is open read-only", code="read_only")

    def _ycell(self, cell_id: str) -> Map:
        return self._cells[self.index(cell_id)]

    # -- the server's side ----------------------------------------------------------------------

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until the server holds every edit made here so far (before running what was just typed)."""
        await self.room.flush(timeout)

    async def execute(self, cell_ids: list[str] | None = None, **kw: Any) -> Execution:
        """Run cells of this notebook by id (every code cell when None), once the server has our edits;
        the keywords are :meth:`JupyterClient.execute`'s."""
        if self.server is None:
            raise TypeError("this notebook was not opened through a JupyterClient")
        await self.flush()
        return await self.server.execute(self.path, cell_ids, **kw)

    # -- waiting and following ----------------------------------------------------------------

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds, re-checked after every change received."""
        await self.room.wait_for(predicate, timeout)

    @property
    def loading(self) -> bool:
        """Whether the server is still sending outputs of the file: a notebook with large outputs is
        loaded in stages (the cells first, then the large outputs; the document's ``state`` map holds
        ``loading: true`` until they are all in)."""
        return bool(self.model.ystate.get("loading"))

    async def whole(self, timeout: float = 60.0) -> None:
        """Wait until the document holds the whole file (at once if it does already; see :attr:`loading`)."""
        await self.wait_for(lambda: not self.loading, timeout)

    async def changes(self) -> AsyncIterator[dict[str, Any]]:
        """Yield one event per change of the cells, as it happens (local and remote):

        - ``{"event": "cells", "cell_ids": [...]}`` — cells inserted, deleted or moved;
        - ``{"event": "cell", "cell_id", "field", "value"}`` — a field of a cell changed; ``value`` is the
          new ``source`` text, ``execution_count``, ``execution_state``, the number of ``outputs``, or the
          ``metadata``;
        - ``{"event": "overflow", "dropped": n}`` — more than 1,000 events were left unread; ``n`` were
          dropped (the oldest).

        Close the iterator (``aclose``, or leave an ``async with contextlib.aclosing(...)``) to stop.
        """
        pending: deque[dict[str, Any]] = deque()
        wake = asyncio.Event()
        dropped = 0

        def push(event: dict[str, Any]) -> None:
            nonlocal dropped
            if len(pending) >= _FEED_LIMIT:
                pending.popleft()
                dropped += 1
            pending.append(event)
            wake.set()

        def on_events(events: list[Any]) -> None:
            seen: set[tuple[str, str]] = set()
            for event in events:
                path = list(event.path)
                if not path:
                    if ("", "cells") not in seen:
                        seen.add(("", "cells"))
                        push({"event": "cells", "cell_ids": self.cell_ids})
                    continue
                index = path[0]
                if not isinstance(index, int) or index >= len(self._cells):
                    continue
                ycell = self._cells[index]
                fields = [path[1]] if len(path) > 1 else sorted(getattr(event, "keys", {}) or {})
                for field in fields:
                    key = (str(ycell.get("id")), str(field))
                    if key not in seen:
                        seen.add(key)
                        push({"event": "cell", "cell_id": key[0], "field": key[1], "value": _field_value(ycell, field)})

        sub = self._cells.observe_deep(on_events)
        try:
            while True:
                while pending:
                    if dropped:
                        count, dropped = dropped, 0
                        yield {"event": "overflow", "dropped": count}
                    yield pending.popleft()
                if self.room.closed.is_set():
                    return
                wake.clear()
                closed = asyncio.ensure_future(self.room.closed.wait())
                waiter = asyncio.ensure_future(wake.wait())
                try:
                    await asyncio.wait((closed, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for fut in (closed, waiter):
                        fut.cancel()
        finally:
            self._cells.unobserve(sub)


def _field_value(ycell: Map, field: Any) -> Any:
    value = ycell.get(field)
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, Array):
        return len(value)
    if isinstance(value, Map):
        return value.to_py()
    if field == "execution_count" and isinstance(value, float):
        return int(value)
    return value


class Cell:
    """One cell of a :class:`Notebook`, by id. Reading a field reads the live document."""

    def __init__(self, notebook: Notebook, cell_id: str) -> None:
        self.notebook = notebook
        self.id = cell_id

    def __repr__(self) -> str:
        return f"<Cell {self.id} {self.cell_type}>"

    @property
    def _ymap(self) -> Map:
        return self.notebook._ycell(self.id)

    @property
    def index(self) -> int:
        return self.notebook.index(self.id)

    @property
    def cell_type(self) -> str:
        return str(self._ymap["cell_type"])

    @property
    def source(self) -> str:
        return str(self._ymap["source"])

    @property
    def execution_count(self) -> int | None:
        count = self._ymap.get("execution_count")
        return int(count) if count is not None else None

    @property
    def execution_state(self) -> str | None:
        return self._ymap.get("execution_state")

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """The outputs as nbformat JSON (none for markdown and raw cells)."""
        return self.to_dict().get("outputs", [])

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self._ymap.get("metadata")
        return metadata.to_py() if isinstance(metadata, Map) else dict(metadata or {})

    def to_dict(self) -> dict[str, Any]:
        """The cell as nbformat JSON."""
        return self.notebook.model._cell_to_py(self._ymap)

    # -- editing the source -----------------------------------------------------------------

    def insert(self, index: int, text: str, *, unit: str = "char") -> None:
        """Insert ``text`` at ``index`` of the source (``unit``: ``"char"`` code points, or ``"utf16"``)."""
        self.replace(index, index, text, unit=unit)

    def delete(self, start: int, end: int, *, unit: str = "char") -> None:
        """Delete the source between ``start`` and ``end``."""
        self.replace(start, end, "", unit=unit)

    def replace(self, start: int, end: int, text: str, *, unit: str = "char") -> None:
        """Replace the source between ``start`` and ``end`` with ``text``, in one transaction."""
        self.notebook._check_writable()
        ytext: Text = self._ymap["source"]
        current = str(ytext)
        if unit == "utf16":
            start, end = utf16_to_index(current, start), utf16_to_index(current, end)
        elif unit != "char":
            raise ValueError(f"unit must be 'char' or 'utf16', not {unit!r}")
        if start > end:
            raise ValueError(f"start {start} is after end {end}")
        begin, stop = index_to_utf8(current, start), index_to_utf8(current, end)
        with self.notebook.room.doc.transaction():
            if stop > begin:
                del ytext[begin:stop]
            if text:
                ytext.insert(begin, text)

    def set_source(self, source: str) -> None:
        """Make the source ``source`` by the smallest edit (common prefix and suffix kept)."""
        start, end, inserted = minimal_edit(self.source, source)
        if start != end or inserted:
            self.replace(start, end, inserted)

    def set_metadata(self, key: str, value: Any) -> None:
        self.notebook._check_writable()
        self._ymap["metadata"][key] = value
