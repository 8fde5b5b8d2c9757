"""Updates packed one after the other in one blob: the later stages of a notebook loaded in stages.

A staged load (:class:`~supernode.stages.Stages`) keeps the update of each stage apart, in a tuple;
the load cache writes them as one blob, an entry's rest (:func:`packed_pieces`, through SQLite's
incremental blob handle), and reads it back one part at a time, into a tuple again
(:func:`supernode.cache_rests.stream_rest`); the live document keeps either form as the base of its
merges, applies and decodes it (:func:`iter_parts` takes both, copying a blob's parts out one at a
time; :func:`count_parts` walks a blob's layout).

Each part is its length (``PART_HEADER`` bytes, little-endian), then its bytes. A blob that is not
made of parts (cut short, or a length that runs past its end) raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = [
    "PART_HEADER",
    "Packed",
    "append_part",
    "count_parts",
    "iter_parts",
    "pack_parts",
    "packed_pieces",
    "packed_size",
    "unpack_parts",
]

PART_HEADER = 8  # bytes of a part's length (little-endian) before it


def append_part(packed: bytearray, part: bytes) -> None:
    """Add ``part`` to ``packed``: its length (8 bytes, little-endian), then its bytes."""
    packed += len(part).to_bytes(PART_HEADER, "little")
    packed += part


def pack_parts(parts: list[bytes]) -> bytes:
    """``parts`` as one blob (see :func:`append_part`)."""
    packed = bytearray()
    for part in parts:
        append_part(packed, part)
    return bytes(packed)


# Updates packed by append_part in one blob (as the load cache reads them), or already apart (a tuple).
Packed = bytes | bytearray | tuple[bytes, ...]


def iter_parts(packed: Packed) -> Iterator[bytes]:
    """The parts in ``packed``, each copied out when it is reached (a tuple's as they are). Raises
    ``ValueError`` for a blob :func:`append_part` did not write."""
    if isinstance(packed, tuple):
        yield from packed
        return
    view = memoryview(packed)
    at = 0
    while at < len(view):
        size, at = _part_at(view, at)
        yield bytes(view[at : at + size])
        at += size


def count_parts(packed: Packed) -> int:
    """How many parts ``packed`` holds (a blob's lengths are walked, nothing is copied). Raises
    ``ValueError`` for a blob :func:`append_part` did not write."""
    if isinstance(packed, tuple):
        return len(packed)
    view = memoryview(packed)
    at = count = 0
    while at < len(view):
        size, at = _part_at(view, at)
        at += size
        count += 1
    return count


def packed_pieces(packed: Packed) -> Iterator[bytes | bytearray]:
    """The bytes of ``packed`` as :func:`pack_parts` lays them out, in pieces (a blob whole; a tuple's
    parts each after its length), for a digest or a blob handle to take without a copy joining them."""
    if isinstance(packed, tuple):
        for part in packed:
            yield len(part).to_bytes(PART_HEADER, "little")
            yield part
    else:
        yield packed


def packed_size(packed: Packed) -> int:
    """The length in bytes of ``packed`` as one blob."""
    if isinstance(packed, tuple):
        return sum(PART_HEADER + len(part) for part in packed)
    return len(packed)


def unpack_parts(packed: Packed) -> list[bytes]:
    """The parts :func:`pack_parts` packed."""
    return list(iter_parts(packed))


def _part_at(view: memoryview, at: int) -> tuple[int, int]:
    if at + PART_HEADER > len(view):
        raise ValueError("a part's length is cut short")
    size = int.from_bytes(view[at : at + PART_HEADER], "little")
    at += PART_HEADER
    if at + size > len(view):
        raise ValueError("a part is cut short")
    return size, at
