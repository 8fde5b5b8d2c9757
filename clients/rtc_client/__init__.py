"""rtc_client: Python client of jupyter-rtc.

- :class:`RoomClient` keeps a pycrdt document in sync with one relay room (any websocket URL) and
  follows its presence; it can reconnect by itself.
- :class:`RelayClient` talks to a standalone relay: join rooms, list them, read its health.
- :class:`JupyterClient` talks to a Jupyter server running jupyter-rtc: open a notebook as a live
  :class:`Notebook`, run its cells by id (:class:`Execution`), follow a notebook's change feed
  (:class:`NotebookEvents`, rebuilt by :class:`FeedModel`), list rooms.
- :mod:`rtc_client.errors` is the one error hierarchy; :mod:`rtc_client.text` converts text positions
  between Python, pycrdt (UTF-8) and Yjs (UTF-16).
- ``jupyter-rtc`` (``python -m rtc_client``) is the command line (:mod:`rtc_client.cli`).
"""

from .errors import (
    ApiError,
    BadRequest,
    ClientError,
    Conflict,
    ConnectionClosed,
    ConnectionFailed,
    DeadlineExceeded,
    ExecutionFailed,
    Forbidden,
    NotFound,
    ReadOnly,
    ServerFailure,
    SessionExpired,
    SourceChanged,
    Unauthorized,
)
from .room import RoomClient

__all__ = [
    "ApiError",
    "BadRequest",
    "ClientError",
    "Conflict",
    "ConnectionClosed",
    "ConnectionFailed",
    "DeadlineExceeded",
    "Execution",
    "ExecutionFailed",
    "FeedModel",
    "Forbidden",
    "JupyterClient",
    "LiveTables",
    "Notebook",
    "NotebookEvents",
    "NotFound",
    "ReadOnly",
    "RelayClient",
    "RoomClient",
    "ServerFailure",
    "SessionExpired",
    "SourceChanged",
    "TablesOverflow",
    "Unauthorized",
]


def __getattr__(name: str):
    # The server-facing clients import tornado and jupyter_ydoc: loaded on first use, so the
    # in-process users of RoomClient (the supernode) do not pay for them.
    if name in ("JupyterClient",):
        from .jupyter import JupyterClient

        return JupyterClient
    if name == "RelayClient":
        from .relay import RelayClient

        return RelayClient
    if name == "Notebook":
        from .notebook import Notebook

        return Notebook
    if name in ("LiveTables", "TablesOverflow"):
        from . import tables

        return getattr(tables, name)
    if name == "Execution":
        from .execution import Execution

        return Execution
    if name == "NotebookEvents":
        from .notebook_events import NotebookEvents

        return NotebookEvents
    if name == "FeedModel":
        from .feed_model import FeedModel

        return FeedModel
    raise AttributeError(name)
