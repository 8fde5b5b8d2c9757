"""Settings written for jupyter-collaboration, honoured by our extensions.

A ``jupyter_server_config.py`` written for jupyter-collaboration configures ``YDocExtension``.
When one of our own settings is not set explicitly, the matching ``YDocExtension`` setting is
taken instead, and the log says which. A ``YDocExtension`` setting we cannot honour is named in
one warning, with what happens instead.

Mapping (``YDocExtension`` → ours):

========================================  ==================================================
``document_save_delay`` (s)               ``SupernodeExtension.save_delay``
``file_poll_interval`` (s; 0: no poll)    ``SupernodeExtension.file_poll_interval``
``server_side_execution``                 ``SupernodeExtension.server_side_execution``
``document_load_progressively``           ``SupernodeExtension.load_progressively``
``notebook_output_delay_threshold_mb``    ``SupernodeExtension.output_delay_threshold_mb``
``disable_rtc``                           the page config ``disableRTC`` (the frontend stays
                                          single-user; our server extensions still serve)
``document_cleanup_delay`` (s)            ``RelayExtension.cleanup_delay`` (read by the relay
                                          extension, see :mod:`rtc_relay.jupyter`)
========================================  ==================================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["JC_SECTION", "adopt", "unhonoured"]

JC_SECTION = "YDocExtension"

# YDocExtension settings we take, as (theirs, ours on SupernodeExtension).
_SUPERNODE = (
    ("document_save_delay", "save_delay"),
    ("file_poll_interval", "file_poll_interval"),
    ("server_side_execution", "server_side_execution"),
    ("document_load_progressively", "load_progressively"),
    ("notebook_output_delay_threshold_mb", "output_delay_threshold_mb"),
)
# Ours where None is a value (JC's None means the same: nothing delayed).
_NONE_MEANS_OFF = frozenset({"output_delay_threshold_mb"})
# Settings read elsewhere (the relay extension; the page config): not reported as unhonoured.
_ELSEWHERE = frozenset({"document_cleanup_delay", "disable_rtc"})
# What happens instead of each setting we cannot honour.
_INSTEAD = {
    "ystore_class": "rooms that are not documents are kept in RelayExtension.store; documents are their files",
    "file_stop_poll_on_errors_after": "a file that cannot be read is logged once per version and polled on",
}


def _section(config: Any) -> Mapping[str, Any]:
    section = config.get(JC_SECTION) if hasattr(config, "get") else None
    return section if isinstance(section, Mapping) else {}


log = logging.getLogger("supernode.settings")


def adopt(app: Any) -> dict[str, Any]:
    """Set ``app``'s (the SupernodeExtension's) settings that are not set explicitly from ``YDocExtension``.

    Returns what was taken (our name → value). ``document_save_delay = None`` (never save) is not
    honoured: it is reported by :func:`unhonoured`.
    """
    jc = _section(app.config)
    ours = _section_of(app)
    taken: dict[str, Any] = {}
    for theirs, name in _SUPERNODE:
        if theirs not in jc or name in ours:
            continue
        value = jc[theirs]
        if value is None and name not in _NONE_MEANS_OFF:
            continue
        setattr(app, name, value)
        taken[name] = value
        log.info("jupyter-rtc: SupernodeExtension.%s = %r, from YDocExtension.%s", name, value, theirs)
    return taken


def unhonoured(config: Any) -> dict[str, str]:
    """``YDocExtension`` settings present in ``config`` that we cannot honour → what happens instead."""
    jc = _section(config)
    found = {name: _INSTEAD[name] for name in jc if name in _INSTEAD}
    if jc.get("document_save_delay", 0) is None:
        found["document_save_delay"] = "documents are saved (SupernodeExtension.save_delay); never saving loses work"
    unknown = set(jc) - set(_INSTEAD) - {theirs for theirs, _ in _SUPERNODE} - _ELSEWHERE
    for name in sorted(unknown):
        found[name] = "not a setting jupyter-rtc knows"
    return found


def _section_of(app: Any) -> Mapping[str, Any]:
    """The settings given to ``app`` explicitly (its own config section)."""
    section = app.config.get(type(app).__name__)
    return section if isinstance(section, Mapping) else {}
