"""Updates packed one after the other in one blob: the later stages of a notebook loaded in stages.

A staged load (:class:`~supernode.stages.Stages`) keeps the update of each stage apart, in a tuple;
the load cache writes them as one blob, an entry's rest (:func:`packed_pieces`, through SQLite's
incremental blob handle), and reads it back (:func:`read_parts`) as the updates apart; the live
document keeps either form as the base of its merges, and the timeline decodes it (:func:`iter_parts`
takes both).

Each part is its length (``PART_HEADER`` bytes, little-endian), then its bytes. A blob that is not
made of parts (cut short, or a length that runs past its end) raises ``ValueError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = [
    "PART_HEADER",
    "Packed",
    "append_part",
    "iter_parts",
    "pack_parts",
    "packed_pieces",
    "packed_size",
    "read_parts",
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


# Updates packed by append_part in one blob, or already apart (a tuple, as :func:`read_parts` reads them).
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


def read_parts(read: Callable[[int], bytes], length: int, seen: Callable[[bytes], object]) -> list[bytes]:
    """The parts of a blob of ``length`` bytes that ``read(n)`` reads in order (an SQLite blob handle's
    ``read``), each read into a bytes of its own; each piece read (lengths and parts) is given to ``seen``
    in order (the update of the blob's digest). ``ValueError`` if the blob is cut short."""
    parts = []
    at = 0
    while at < length:
        head = read(PART_HEADER)
        size = int.from_bytes(head, "little")
        at += PART_HEADER
        if len(head) < PART_HEADER or at + size > length:
            raise ValueError("is cut short")
        part = read(size)
        if len(part) < size:
            raise ValueError("is cut short")
        seen(head)
        seen(part)
        parts.append(part)
        at += size
    return parts
