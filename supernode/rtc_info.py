"""Telling other extensions that collaboration is on: jupyterlab-chat's frontend and server extension.

jupyterlab-chat runs its chats as shared documents (the ``chat`` document type, rooms
``text:chat:{fileId}``) only when an RTC provider is active, and it recognises only
jupyter-collaboration's and jupyter-server-documents' extensions by name. Its server extension
publishes its finding in the page config (``serverSessionRtcInfo``), which its frontend reads
to choose between the collaborative model and a plain websocket of its own; and it builds its
chat manager (``settings["chat_manager"]``) in websocket mode. With ours serving the rooms,
:func:`announce` corrects both:

* ``page_config_data["serverSessionRtcInfo"]``: ``enabled: true``, provider
  ``jupyter_server_ydoc`` (whose API we answer at ``settings["jupyter_server_ydoc"]``);
* the chat manager is switched to collaborative mode (jupyterlab-chat 0.25's ``_rtc_enabled``
  and ``_wire_rtc_forwarding``): it then follows jupyter-collaboration's session events, which the
  supernode emits, and finds each open chat through ``get_document(room_id=..., copy=False)``.
  A chat manager without those (another version) is left as it is and the log says so once.

Nothing is changed when collaboration is disabled (``YDocExtension.disable_rtc``). It is
safe to call more than once; the supernode calls it when it loads (after jupyterlab-chat: server
extensions load in name order) and again when it starts.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["PAGE_CONFIG_KEY", "announce"]

log = logging.getLogger("supernode.rtc_info")

PAGE_CONFIG_KEY = "serverSessionRtcInfo"
PROVIDER = "jupyter_server_ydoc"  # the API we answer at settings["jupyter_server_ydoc"]


def announce(settings: dict[str, Any]) -> None:
    """Mark collaboration as on in the page config and in jupyterlab-chat's chat manager (see the module)."""
    page_config = settings.setdefault("page_config_data", {})
    published = page_config.get(PAGE_CONFIG_KEY)
    details = published.get("providerDetails") if isinstance(published, dict) else None
    details = dict(details) if isinstance(details, dict) else {"installed": [], "enabledByServer": [], "enabledByTrait": []}
    for field in ("enabledByServer", "enabledByTrait"):
        names = list(details.get(field) or [])
        if PROVIDER not in names:
            names.append(PROVIDER)
        details[field] = sorted(names)
    page_config[PAGE_CONFIG_KEY] = {"enabled": True, "provider": PROVIDER, "providerDetails": details}
    _collaborative_chat_manager(settings.get("chat_manager"))


def _collaborative_chat_manager(manager: Any) -> None:
    if manager is None or getattr(manager, "_rtc_enabled", True):
        return  # no jupyterlab-chat, or its manager is collaborative already
    wire = getattr(manager, "_wire_rtc_forwarding", None)
    if not callable(wire):
        log.warning(
            "jupyter-rtc: this version of jupyterlab-chat's chat manager cannot be switched to collaborative "
            "mode; chats still open and save as shared documents, but its server-side model lookup sees none"
        )
        manager._rtc_enabled = True  # don't try again
        return
    manager._rtc_enabled = True
    wire()
    log.info("jupyter-rtc: jupyterlab-chat's chat manager follows the collaboration rooms")
