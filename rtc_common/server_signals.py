"""SIGINT stops a non-interactive Jupyter server cleanly, as SIGTERM does (JupyterHub stops servers with it).

jupyter_server handles SIGINT itself only when its stdin is a terminal (it asks "Shut down this Jupyter
server?"). Otherwise Python's default handler raises ``KeyboardInterrupt`` out of the event loop and the
process exits *without* the server's cleanup: no extension is stopped, so edits still waiting for their
debounced save are lost, and kernels are left to notice their parent is gone. JupyterHub's local
spawners stop a user's server with SIGINT first (SIGTERM only ``Spawner.interrupt_timeout`` later), so
under ``jupyterhub-singleuser`` every stop of a server was such an exit.

:func:`stop_cleanly_on_sigint` makes that SIGINT do what SIGTERM does (``ServerApp.stop``: every
extension stops, our rooms save what they hold, kernels shut down). A second SIGINT while stopping
raises ``KeyboardInterrupt`` as before. A server on a terminal, or one whose SIGINT is ignored or
handled by someone else, is left alone. :func:`restore_sigint` (when the extensions stop) puts Python's
default handler back, so a server started inside another program (a test runner) is not kept alive by it.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["restore_sigint", "stop_cleanly_on_sigint"]


def stop_cleanly_on_sigint(serverapp: Any) -> bool:
    """Install the handler if SIGINT still has Python's default handler (idempotent; main thread only).
    Returns whether SIGINT now stops ``serverapp`` cleanly."""
    if threading.current_thread() is not threading.main_thread():
        return False
    current = signal.getsignal(signal.SIGINT)
    if getattr(current, "rtc_stops", None) is serverapp:
        return True
    if current is not signal.default_int_handler:
        return False

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a second SIGINT interrupts at once
        serverapp.log.critical("received SIGINT, stopping (every extension saves and stops first)")
        serverapp.stop(from_signal=True)

    stop.rtc_stops = serverapp  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, stop)
    return True


def restore_sigint(serverapp: Any) -> None:
    """Put Python's default SIGINT handler back if ours for ``serverapp`` is installed (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if getattr(signal.getsignal(signal.SIGINT), "rtc_stops", None) is serverapp:
        signal.signal(signal.SIGINT, signal.default_int_handler)
