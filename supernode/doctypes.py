"""Document types: which jupyter_ydoc class holds a room's document.

A room ``{format}:{type}:{fileId}`` holds a document of the class registered for
``type`` with jupyter_ydoc, through the ``jupyter_ydoc`` entry point group: jupyter_ydoc's
own ``notebook``, ``file``, ``blob`` and ``unicode``, and whatever another package
registers (jupyterlab-chat's ``chat``, say). The rule, first match wins:

* type ``file`` (or ``blob``) in format ``base64`` is a binary file (``YBlob``);
* any other type (``notebook``, ``file``, ``chat``, ...) is the class registered under its name: ``jupyter_ydoc.ydocs`` as read when
  jupyter_ydoc was imported, else the entry points as they are now (a package installed, or put
  on ``sys.path``, after that import is found without a restart).

A type nobody registered raises :class:`UnknownDocumentType`, which names the registered
types; a registered class that cannot be imported raises it too, with the import error.

The classes handed out are subclasses of the registered ones without an undo manager: the
server never undoes, and an undo manager keeps every deleted item alive for as long as the
document lives.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import jupyter_ydoc
from jupyter_ydoc.ybasedoc import YBaseDoc

from .keys import DocumentKey

__all__ = ["UnknownDocumentType", "document_class", "registered_types"]

log = logging.getLogger("supernode.documents")

ENTRY_POINTS = "jupyter_ydoc"


class UnknownDocumentType(Exception):
    """No usable jupyter_ydoc class is registered for a document type; the message says which and why."""

    def __init__(self, type_name: str, why: str) -> None:
        super().__init__(f"document type {type_name!r}: {why}")
        self.type_name = type_name
        self.why = why


class _NoUndo:
    """Stands in for a document's undo manager (see the module docstring)."""

    def expand_scope(self, scope: object) -> None:
        return None


_NO_UNDO = _NoUndo()
_served: dict[type[YBaseDoc], type[YBaseDoc]] = {}  # registered class -> the class we build


def _without_undo(cls: type[YBaseDoc]) -> type[YBaseDoc]:
    served = _served.get(cls)
    if served is None:
        served = _served[cls] = type(
            cls.__name__, (cls,), {"undo_manager": property(lambda self: _NO_UNDO), "__module__": __name__}
        )
    return served


def registered_types() -> list[str]:
    """The names of every registered document type, sorted (for messages)."""
    names = set(jupyter_ydoc.ydocs)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINTS))
    return sorted(names)


def _registered(type_name: str) -> type[YBaseDoc]:
    cls = jupyter_ydoc.ydocs.get(type_name)
    if cls is not None:
        return cls
    found = [ep for ep in entry_points(group=ENTRY_POINTS) if ep.name == type_name]
    if not found:
        raise UnknownDocumentType(
            type_name, f"not registered with jupyter_ydoc (registered: {', '.join(registered_types())})"
        )
    try:
        cls = found[0].load()
    except Exception as exc:
        log.warning("the jupyter_ydoc entry point %s cannot be loaded: %r", found[0].value, exc)
        raise UnknownDocumentType(type_name, f"its class {found[0].value} cannot be loaded: {exc!r}") from exc
    if not (isinstance(cls, type) and issubclass(cls, YBaseDoc)):
        raise UnknownDocumentType(type_name, f"{found[0].value} is not a jupyter_ydoc YBaseDoc class")
    return cls


def document_class(key: DocumentKey) -> type[YBaseDoc]:
    """The class of the documents of rooms like ``key`` (see the module docstring).

    Raises :class:`UnknownDocumentType`.
    """
    return _without_undo(_registered(key.kind))
