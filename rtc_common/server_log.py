"""Our loggers' lines in jupyter_server's log, with the server's format and level.

jupyter_server logs through its own logger (``ServerApp``) and gives the root logger no handler,
so the lines of our module loggers (``rtc_relay.*``, ``supernode.*``) would reach nobody below
warning level, and warnings would be printed without the server's format. :func:`join_server_log`
gives a logger family the server's handlers and level, once.
"""

from __future__ import annotations

import logging

__all__ = ["join_server_log"]


def join_server_log(name: str, server_log: logging.Logger) -> logging.Logger:
    """Make logger ``name`` (and its children) write through ``server_log``'s handlers at its level.

    Idempotent (a handler is added once, however many extensions call it). The logger still
    propagates to the root logger, which has no handler in a Jupyter server (and collects the
    lines under a test runner).
    """
    logger = logging.getLogger(name)
    level = server_log.getEffectiveLevel()
    logger.setLevel(level)
    for handler in server_log.handlers:
        if handler not in logger.handlers and not type(handler).__name__.startswith("LogCapture"):
            logger.addHandler(handler)
    return logger
