"""The later stages of a notebook loaded in stages: the large outputs its first stage left out.

:func:`~supernode.content.build_in_stages` builds a notebook's cells without their large outputs
(the first stage, what a client sees first) and gives a :class:`Stages` for the rest: one update per
cell, and one per megabyte of a long stream. They are encoded directly
(:mod:`supernode.stage_encoding`) when every output is plain JSON data, and built in the load's own
document otherwise; either way the same items with the same ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from jupyter_ydoc.ybasedoc import YBaseDoc
from pycrdt import Doc

from .cell_outputs import to_ymap
from .doc_stream import insert_block
from .stage_encoding import StageEncoder, encodable, outputs_arrays

__all__ = ["Stages"]

log = logging.getLogger("supernode.stages")


class Stages:
    """The outputs a notebook's first stage left out (see :func:`~supernode.content.build_in_stages`),
    to be made next; ``seed`` is the load's own document (client id 0) after the first stage, ``first``
    its update.

    :meth:`updates` (or :meth:`next`, one at a time) makes them one cell at a time (encoded by
    :class:`~supernode.stage_encoding.StageEncoder`, or built in ``seed`` when an output is not plain
    JSON data), and yields each as an update for the live document; a stream longer than ``_STAGE_CHARS``
    characters comes in pieces of that size, each its own update (the first with the cell's outputs,
    the rest appended to the stream's text, each a block of its own: :func:`_append_piece`), so no
    update, and no turn of the event loop applying it, holds more than about a megabyte: a 20 MB log
    would otherwise hold the event loop for a quarter of a second. :attr:`parts` counts the updates,
    :attr:`cells` the cells. :attr:`packed` then holds those updates, in order, apart (a tuple, as
    a load from the cache reads them: :func:`~supernode.packed_parts.iter_parts` takes it): the first
    stage's update followed by them holds the whole file (what the load would have built in one
    piece). They are not copied into one buffer as they come: growing it took a fifth of the stages'
    time in copies, on the way to the client. The load's own document is dropped as soon as it is not
    needed (encoded: once the first update is made; built: once done); memory: one copy of the
    notebook, the live document's.
    """

    def __init__(
        self, cls: type[YBaseDoc], seed: Doc, delayed: dict[int, list[dict[str, Any]]], first: bytes
    ) -> None:
        self._cls = cls
        self._seed: Doc | None = seed
        self._first = first  # the seed's content, as an update
        self._delayed = delayed
        self.cells = len(delayed)
        self.parts = 0
        self.packed: tuple[bytes, ...] = ()  # set once done
        self._made: list[bytes] = []
        self._stream: Iterator[bytes] | None = None  # next()'s
        self.done = False

    async def next(self) -> bytes | None:
        """The next update (made now: the stages are built from the notebook the load read); None once
        they are all made (:attr:`done`)."""
        if self._stream is None:
            self._stream = self.updates()
        return next(self._stream, None)

    def updates(self) -> Iterator[bytes]:
        seed, first = self._seed, self._first
        assert seed is not None, "the stages were built already"
        self._seed, self._first = None, b""
        if encodable(self._delayed.values()):
            made = self._encoded(seed, first)
        else:
            made = self._built(seed)
        del seed
        for update in made:
            self._made.append(update)
            self.parts += 1
            yield update
        self._delayed = {}
        self.packed, self._made = tuple(self._made), []
        self.done = True

    def _encoded(self, seed: Doc, first: bytes) -> Iterator[bytes]:
        """The updates, written by :class:`~supernode.stage_encoding.StageEncoder` (the same bytes as
        :meth:`_built`'s, without a copy of the outputs in the seed); ``seed`` is only read for the
        ids of the output arrays (and is changed doing so: it is dropped afterwards)."""
        try:
            clock, parents = outputs_arrays(self._cls, seed, list(self._delayed))
        except ValueError as exc:  # a first stage of another shape than pycrdt's: built in a copy of it
            log.warning("the later stages of a load are built in a document: %s", exc)
            again = Doc(client_id=0)
            again.apply_update(first)
            yield from self._built(again)
            return
        del seed
        encoder = StageEncoder(clock)
        for index, outputs in self._delayed.items():
            head, tails = _stream_tails(outputs)
            update, ends = encoder.outputs(parents[index], head)
            yield update
            for position, tail in tails:
                last = ends[position]
                for at in range(0, len(tail), _STAGE_CHARS):
                    update, last = encoder.append(last, tail[at : at + _STAGE_CHARS])
                    yield update

    def _built(self, seed: Doc) -> Iterator[bytes]:
        """The updates, built in ``seed`` (client id 0) one transaction each."""
        notebook = self._cls(seed)
        for index, outputs in self._delayed.items():
            head, tails = _stream_tails(outputs)
            youtputs = notebook.ycells[index]["outputs"]
            yield _part(seed, youtputs.extend, [to_ymap(output) for output in head])
            for position, tail in tails:
                ytext = youtputs[position]["text"]
                for at in range(0, len(tail), _STAGE_CHARS):
                    yield _part(seed, _append_piece, ytext, tail[at : at + _STAGE_CHARS])


def _part(seed: Doc, write: Any, *args: Any) -> bytes:
    """``write(*args)`` into ``seed`` in one transaction; its update. The update is the transaction's
    own, as its commit encodes it: ``get_update`` of the state before would encode the same items
    again, by a walk of the document."""
    updates: list[bytes] = []
    subscription = seed.observe(lambda event: updates.append(event.update))
    try:
        with seed.transaction():
            write(*args)
    finally:
        seed.unobserve(subscription)
    return updates[0] if updates else _NO_CHANGE


_NO_CHANGE = b"\x00\x00"  # an update that changes nothing (no structs, an empty delete set)
_STAGE_CHARS = 1 << 20  # characters of a stream's text one update of a staged load writes at most


def _append_piece(ytext: Any, piece: str) -> None:
    """Append ``piece`` to ``ytext`` as a block of its own (:func:`~supernode.doc_stream.insert_block`).
    Yrs (and Yjs) merge a block written right after another of the same client into it, copying the
    text written so far: appending a 20 MB log a megabyte at a time copied 200 MB in each document that
    applied it (0.6 s), where separate blocks cost 0.1 s. The text is the same."""
    insert_block(ytext, len(ytext), piece)


def _stream_tails(outputs: list[Any]) -> tuple[list[Any], list[tuple[int, str]]]:
    """``outputs`` with each stream's text cut to ``_STAGE_CHARS`` characters, and what was cut, by
    the stream's position in the list."""
    head: list[Any] = []
    tails: list[tuple[int, str]] = []
    for position, output in enumerate(outputs):
        text = output.get("text") if isinstance(output, dict) and output.get("output_type") == "stream" else None
        if isinstance(text, str) and len(text) > _STAGE_CHARS:
            head.append({**output, "text": text[:_STAGE_CHARS]})
            tails.append((position, text[_STAGE_CHARS:]))
        else:
            head.append(output)
    return head, tails
