"""The updates of a staged load's later stages, encoded here instead of built in a document.

A notebook loaded in stages (:class:`~supernode.stages.Stages`) gets its large outputs as one update
per cell, made with the load's own client id 0 after the first stage. Built in a document, each
megabyte is copied into the document, encoded again at the commit and copied once more into the
update: two thirds of the time a 50 MB notebook takes to reach its first client whole. Those updates
have one simple shape (new outputs in an empty array; a long stream's text appended a megabyte at a
time), so :class:`StageEncoder` writes them directly, in Yjs's update format (v1), as pycrdt commits
them (tested against it): the same items with the same ids, byte for byte but for the order of a JSON
object's entries (pycrdt's varies from one process to the next; this one is the object's own).

What it does not write the way pycrdt would, it does not take: :func:`encodable` says whether every
delayed output is plain JSON data it writes (strings that UTF-8 can encode, booleans, null, integers
of at most 2**53 in size, finite floats, lists, objects), and the stages are built in the document
otherwise. The ids of the cells' output arrays, which the updates name as their parents, are read
from the load's document after the first stage (:func:`outputs_arrays`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import Any

from pycrdt import Doc, Map
from rtc_relay.lib0 import DecodeError, read_var_uint, var_uint

__all__ = ["StageEncoder", "encodable", "outputs_arrays"]

ID = tuple[int, int]  # (client, clock)

# Yjs's struct info: the flags of what follows, and the content's kind in the low five bits.
_HAS_ORIGIN = 0x80
_HAS_PARENT_SUB = 0x20
_DELETED = 1
_STRING = 4
_TYPE = 7
_ANY = 8
_MAP, _TEXT = 1, 2  # type refs
_MAX_EXACT = 2**53  # integers pycrdt writes as numbers (beyond: as 64-bit integers)


def encodable(outputs_by_cell: Iterable[list[Any]]) -> bool:
    """Whether :class:`StageEncoder` writes every output of ``outputs_by_cell`` as pycrdt would."""
    for outputs in outputs_by_cell:
        for output in outputs:
            if not isinstance(output, dict) or not all(isinstance(key, str) for key in output):
                return False
            if output.get("output_type") == "stream":
                text = output.get("text", "")
                if not isinstance(text, str) or not _plain([output.get("name", "stdout"), text]):
                    return False
            elif not _plain(output.values()):
                return False
    return True


def _plain(values: Iterable[Any]) -> bool:
    pending = list(values)
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:  # a lone surrogate
                    return False
        elif isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                return False
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, bool) or value is None:
            pass
        elif isinstance(value, int):
            if abs(value) > _MAX_EXACT:
                return False
        elif isinstance(value, float):
            if math.isnan(value):
                return False
        else:
            return False
    return True


def outputs_arrays(cls: type, seed: Doc, cells: list[int]) -> tuple[int, dict[int, ID]]:
    """The next clock of client 0 in ``seed`` (the first stage of a notebook of document class ``cls``),
    and the id of the (empty) output array of each cell of ``cells``: read from an empty map added to
    each, which names its array as its parent. ``seed`` is changed: it is to be dropped afterwards.
    ``ValueError`` if what pycrdt wrote for those maps has another shape than expected."""
    (clock,) = [clock for client, clock in _state(seed.get_state()) if client == 0] or [0]
    notebook = cls(seed)
    made: list[bytes] = []
    subscription = seed.observe(lambda event: made.append(event.update))
    try:
        with seed.transaction():
            for index in cells:
                notebook.ycells[index]["outputs"].append(Map())
    finally:
        seed.unobserve(subscription)
    (update,) = made
    return clock, dict(zip(cells, _parents(update, len(cells)), strict=True))


class StageEncoder:
    """Writes the updates of a load's later stages, from client 0's clock ``clock`` on. Each update is
    made of pieces joined once (a megabyte of output is copied twice: encoded, joined)."""

    def __init__(self, clock: int) -> None:
        self.clock = clock

    def outputs(self, parent: ID, outputs: list[dict[str, Any]]) -> tuple[bytes, dict[int, ID]]:
        """The update that fills the empty array ``parent`` with ``outputs`` (as pycrdt's ``extend`` of
        :func:`~supernode.cell_outputs.to_ymap` of each), and the id of the last character of each
        stream's text, by the output's position (what :meth:`append` appends after)."""
        start = self.clock
        out: list[bytes] = []
        structs = 0
        ends: dict[int, ID] = {}
        previous: int | None = None
        for position, output in enumerate(outputs):
            at = self._next()
            if previous is None:
                out += (_info(_TYPE), _parent(parent), var_uint(_MAP))
            else:
                out += (_info(_TYPE | _HAS_ORIGIN), _id((0, previous)), var_uint(_MAP))
            structs += 1
            previous = at
            if output.get("output_type") == "stream":
                for key, value in (("output_type", "stream"), ("name", output.get("name", "stdout"))):
                    self._entry(out, at, key, value)
                text = output.get("text", "")
                text_at = self._next()
                out += (_info(_TYPE | _HAS_PARENT_SUB), _parent((0, at)), *_string("text"), var_uint(_TEXT))
                structs += 3  # its two entries and the text's type
                if text:
                    out += (_info(_STRING), _parent((0, text_at)), *_string(text))
                    structs += 1
                    self.clock += _length(text)
                    ends[position] = (0, self.clock - 1)
            else:
                for key, value in output.items():
                    self._entry(out, at, key, value)
                structs += len(output)  # an entry each
        return _update(start, structs, out, None), ends

    def append(self, last: ID, piece: str) -> tuple[bytes, ID]:
        """The update that appends ``piece`` after the character ``last`` of a stream's text as a block of
        its own (:func:`~supernode.doc_stream.insert_block`: behind a one-character placeholder, deleted
        in the same update), and the id of its last character."""
        start = self.clock
        placeholder = self._next()
        out = [_info(_DELETED | _HAS_ORIGIN), _id(last), var_uint(1)]
        out += (_info(_STRING | _HAS_ORIGIN), _id((0, placeholder)), *_string(piece))
        self.clock += _length(piece)
        return _update(start, 2, out, placeholder), (0, self.clock - 1)

    def _entry(self, out: list[bytes], parent: int, key: str, value: Any) -> None:
        self._next()
        out += (_info(_ANY | _HAS_PARENT_SUB), _parent((0, parent)), *_string(key), var_uint(1))
        _any(out, value)

    def _next(self) -> int:
        at = self.clock
        self.clock += 1
        return at


def _update(start: int, structs: int, out: list[bytes], deleted: int | None) -> bytes:
    """An update of client 0's ``structs`` structs (their pieces ``out``) from clock ``start`` on,
    deleting the one character at clock ``deleted`` (None: nothing)."""
    head = var_uint(1) + var_uint(structs) + var_uint(0) + var_uint(start)
    tail = var_uint(0) if deleted is None else var_uint(1) + var_uint(0) + var_uint(1) + var_uint(deleted) + var_uint(1)
    return b"".join((head, *out, tail))


def _info(value: int) -> bytes:
    return bytes((value,))


def _parent(parent: ID) -> bytes:
    return var_uint(0) + _id(parent)  # a parent named by id (not a root type's name)


def _id(item: ID) -> bytes:
    return var_uint(item[0]) + var_uint(item[1])


def _string(text: str) -> tuple[bytes, bytes]:
    """``text`` as lib0 writes a string: its length in UTF-8 bytes, then those bytes (two pieces)."""
    data = text.encode()
    return var_uint(len(data)), data


def _length(text: str) -> int:
    """``text``'s length in UTF-16 code units (Yjs's clock counts them)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def _any(out: list[bytes], value: Any) -> None:
    """Add ``value`` to ``out`` in lib0's ``writeAny`` format, as yrs writes pycrdt's conversion of it
    (an object's entries in their order here; pycrdt's vary from one process to the next)."""
    if isinstance(value, str):
        out += (b"\x77", *_string(value))
    elif isinstance(value, bool):
        out.append(b"\x78" if value else b"\x79")
    elif value is None:
        out.append(b"\x7e")
    elif isinstance(value, (int, float)):
        number = float(value)
        try:
            single = struct.pack(">f", number)
        except OverflowError:
            single = None
        if single is not None and struct.unpack(">f", single)[0] == number:
            out += (b"\x7c", single)  # what a 32-bit float holds exactly
        else:
            out += (b"\x7b", struct.pack(">d", number))
    elif isinstance(value, list):
        out += (b"\x75", var_uint(len(value)))
        for item in value:
            _any(out, item)
    elif isinstance(value, dict):
        out += (b"\x76", var_uint(len(value)))
        for key, item in value.items():
            out += _string(key)
            _any(out, item)
    else:
        raise TypeError(f"not plain JSON data: {type(value).__name__}")


def _state(vector: bytes) -> list[ID]:
    """The (client, clock) pairs of an encoded state vector."""
    reader = _Reader(vector)
    return [(reader.uint(), reader.uint()) for _ in range(reader.uint())]


class _Reader:
    """Reads lib0 values in order (:func:`~rtc_relay.lib0.read_var_uint`); past the end, ``DecodeError``
    (a ``ValueError``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        if self.at >= len(self.data):
            raise DecodeError("truncated")
        self.at += 1
        return self.data[self.at - 1]

    def uint(self) -> int:
        value, self.at = read_var_uint(self.data, self.at)
        return value


def _parents(update: bytes, count: int) -> list[ID]:
    """The parents of the ``count`` empty maps :func:`outputs_arrays` added, in order (one client's
    structs, each a map type named by its parent's id)."""
    reader = _Reader(update)
    if reader.uint() != 1 or reader.uint() != count:
        raise ValueError("not the probe's update")
    reader.uint(), reader.uint()  # its client and first clock
    parents = []
    for _ in range(count):
        if reader.byte() != _TYPE or reader.uint() != 0:
            raise ValueError("not a map added to an empty array")
        parents.append((reader.uint(), reader.uint()))
        if reader.uint() != _MAP:
            raise ValueError("not a map added to an empty array")
    return parents
