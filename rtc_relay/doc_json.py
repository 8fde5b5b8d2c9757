"""A Yjs document's top-level types as JSON (``GET /api/rtc/rooms/{room}/json``).

Each root becomes a member of one JSON object: a Text its string, an Array a list, a Map an object, an
XmlFragment its XML as a string; values inside are converted the same way (numbers that are whole
become integers, binary values base64 strings, sub-documents and non-finite numbers null).

What a root is: an update does not say which type a root has (Yjs knows it from the code that calls
``getText``/``getMap``), so a document the relay only relays has roots of unknown type. In order:

1. the caller's hint (``types={"title": "text", "cells": "array"}``; kinds: text, array, map, xml);
2. the type the document's own code gave it (e.g. an in-process writer's jupyter_ydoc notebook);
3. its content, read in a scratch copy of the document (the room's own is never cast): entries under
   keys → map; text characters → text; XML elements → xml; other items → array. A root with no content
   at all is null.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

__all__ = ["KINDS", "document_json", "parse_types"]

KINDS: dict[str, type] = {"text": Text, "array": Array, "map": Map, "xml": XmlFragment}


def parse_types(hint: str) -> dict[str, str]:
    """``"title:text,cells:array"`` → ``{"title": "text", "cells": "array"}`` (a root name may hold colons:
    the kind is after the last one). Raises ``ValueError`` saying what is wrong."""
    types: dict[str, str] = {}
    for item in hint.split(","):
        if not item:
            continue
        name, colon, kind = item.rpartition(":")
        if not colon or not name:
            raise ValueError(f"types: {item[:80]!r} is not NAME:KIND")
        if kind not in KINDS:
            raise ValueError(f"types: unknown kind {kind[:20]!r} (text, array, map or xml)")
        types[name] = kind
    return types


def document_json(doc: Doc, types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Every root of ``doc`` as JSON (see the module docstring); ``types``: hints, root name → kind.

    Roots the hints name that the document does not have are left out.
    """
    types = types or {}
    roots = doc._roots  # name -> typed root, or None for a root whose type nobody gave
    out: dict[str, Any] = {}
    scratch: Doc | None = None
    for name in sorted(roots):
        root = roots[name]
        kind = types.get(name)
        if root is None or kind is not None:
            if scratch is None:
                scratch = Doc()
                scratch.apply_update(doc.get_update())
            root = scratch.get(name, type=KINDS[kind]) if kind else _guess(scratch, name)
        out[name] = None if root is None else _value(root)
    return out


def _guess(doc: Doc, name: str) -> Any:
    """The root ``name`` of scratch document ``doc``, cast to the type its content says (None: no content)."""
    as_map = doc.get(name, type=Map)
    if len(as_map):
        return as_map
    as_text = doc.get(name, type=Text)
    if str(as_text):
        return as_text
    as_array = doc.get(name, type=Array)
    if not len(as_array):
        return None
    if isinstance(as_array[0], (XmlElement, XmlText)):
        return doc.get(name, type=XmlFragment)
    return as_array


def _value(value: Any) -> Any:
    if isinstance(value, Text):
        return str(value)
    if isinstance(value, Map):
        return {key: _value(item) for key, item in value.items()}
    if isinstance(value, Array):
        return [_value(item) for item in value]
    if isinstance(value, (XmlFragment, XmlElement, XmlText)):
        return str(value)
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {str(key): _value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value(item) for item in value]
    return None  # a sub-document, or a value of no JSON kind
