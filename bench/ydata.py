"""Pre-generated, valid Yjs updates for one loadgen writer (made with pycrdt).

Each writer owns a pycrdt ``Doc`` with its own client id and its own text root ``t{writer}``; every
update is one small text insert made in its own transaction, so a CRDT relay can apply the updates
of many writers in any interleaving (roots never collide, and each writer's updates reach the relay
in order over its one TCP connection, which is all a writer's own chain of inserts needs).

Inserts go at index 0 (prepend), not at the end: yrs finds an index by walking the text's items,
so appending costs O(length) per insert (150 µs per update by 50k inserts) while prepending is O(1)
(~3 µs). For the relay both are equally cheap to apply (integration by origin id, no index walk).

Contract: ``UpdateStream.extend(count, text)`` appends ``count`` updates, each inserting ``text``, or
by default its own marker ``marker(writer, seq)``. ``messages[seq]`` is the y-websocket update message
of update ``seq``; ``frames[seq]`` the same as a ready-to-write masked client frame;
``registry[messages[seq]] == (writer, seq)`` (the registry is shared by all streams of a run, so a
receiver can identify any update from its payload alone). A relay that merges updates (Hocuspocus,
rtc_relay) sends bytes no registry holds: :func:`markers` then finds the ``(writer, seq)`` of every
update a message holds from the markers in it (inserted strings travel as they are, merged or not).
"""

from __future__ import annotations

import re

import pycrdt

from wsframe import OP_BINARY, encode_frame
from yproto import update_message


_MARKER = re.compile(rb"\x1e(\d{4})(\d{8})")


def marker(writer: int, seq: int) -> str:
    """The text update ``seq`` of ``writer`` inserts: 13 characters no update's other bytes spell."""
    return f"\x1e{writer:04d}{seq:08d}"


def markers(message: bytes) -> list[tuple[int, int]]:
    """The ``(writer, seq)`` of every marked update ``message`` holds, in the order of its bytes."""
    return [(int(w), int(s)) for w, s in _MARKER.findall(message)]


class UpdateStream:
    def __init__(self, writer: int, client_id: int, registry: dict[bytes, tuple[int, int]]) -> None:
        self.writer = writer
        self.registry = registry
        self.messages: list[bytes] = []
        self.frames: list[bytes] = []
        self._doc = pycrdt.Doc(client_id=client_id)
        self._doc[f"t{writer}"] = self._text = pycrdt.Text()
        self._pending: list[bytes] = []
        self._sub = self._doc.observe(lambda event: self._pending.append(event.update))

    def __len__(self) -> int:
        return len(self.messages)

    def extend(self, count: int, text: str | None = None) -> None:
        first = len(self.messages)
        for i in range(count):
            self._text.insert(0, marker(self.writer, first + i) if text is None else text)
        for update in self._pending:
            message = update_message(update)
            self.registry[message] = (self.writer, len(self.messages))
            self.messages.append(message)
            self.frames.append(encode_frame(OP_BINARY, message, mask=True))
        self._pending.clear()
