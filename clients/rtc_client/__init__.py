"""rtc_client: Python client of the jupyter-rtc relay.

:class:`RoomClient` keeps a pycrdt document in sync with one relay room and
follows the room's presence. See its docstring.
"""

from .errors import ClientError, ConnectionClosed
from .room import RoomClient

__all__ = ["ClientError", "ConnectionClosed", "RoomClient"]
