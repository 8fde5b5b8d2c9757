"""supernode: the server-side peer of the relay for Jupyter.

It owns the documents of collaboration rooms (loads each file once, saves it,
reloads edits made on disk) — see :mod:`supernode.documents`. Later: shared tables
of the server's state, and execution of cells by id.
"""

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict]:
    """The jupyter_server extension (imported only when Jupyter loads it)."""
    from .app import SupernodeExtension

    return [{"module": "supernode.app", "app": SupernodeExtension}]
