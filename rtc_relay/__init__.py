"""rtc_relay: a fast CRDT relay for Yjs clients.

Clients join rooms over websockets and exchange Yjs updates and awareness; the
relay keeps each room's document, fans updates out, persists them and frees idle
rooms. See :class:`Relay` and :class:`RelayConfig`.
"""

from .catalogue import CloseCode
from .config import RelayConfig
from .server import Relay

__all__ = ["CloseCode", "Relay", "RelayConfig"]
__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict]:
    """The jupyter_server extension (imported only when Jupyter loads it)."""
    from .jupyter import RelayExtension

    return [{"module": "rtc_relay.jupyter", "app": RelayExtension}]
