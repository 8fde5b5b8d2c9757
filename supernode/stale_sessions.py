"""Clients of an earlier load of a room: a ``sessionId`` that is not the room's current load's epoch.

Such a client's history cannot be merged into this load. :func:`refusal` is the room's answer to its
join: refused with the reload dialog (close 1003, reason ``unknown_session``), and told with the stock
frontend's raw ``{"type": "conflict"}`` message (JupyterLab's Edit Conflict dialog: Save As, Show Diff,
Revert) the first time; a session told once is fenced again, untold, when it reconnects.
:func:`keep_unseen` keeps the document such a client sent beside the file (a conflict copy) when it holds
text the room does not, once per content.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from jupyter_ydoc import YNotebook
from jupyter_ydoc.ybasedoc import YBaseDoc

from rtc_common.close_codes import close_code
from .conflict_copy import save_conflict_copy
from .content import load_update

if TYPE_CHECKING:
    from .document import LiveDocument
    from .events import DocumentEvents

__all__ = ["CONFLICT_NOTICE", "has_unseen_content", "keep_unseen", "refusal"]

log = logging.getLogger("supernode.documents")

# The stock frontend's raw message for an edit conflict (jupyter-docprovider shows its Edit Conflict dialog on
# any message whose type is "conflict"); the reason tells other clients this copy is fenced off the room.
CONFLICT_NOTICE = {"type": "conflict", "reason": "unknown_session"}


def refusal(name: str, live: LiveDocument, session: str | None) -> tuple[int, str, bool, dict] | None:
    """The answer to a client of session ``session`` joining room ``name`` (a relay policy's ``admit``):
    None for the current load's clients (and those that name none)."""
    if not session or session == live.epoch:
        return None
    reason = json.dumps({"reason": "unknown_session", "sessionId": session, "reloadable": True})
    told = session in live.told
    log.info("room %s: refusing a client of an earlier load (session %s%s)", name, session, ", told before" * told)
    # Told before (a browser reconnecting after a network blip, or after its save request closed it):
    # fenced again without a second dialog.
    return close_code("unsupported_data"), reason, True, {} if told else CONFLICT_NOTICE


async def keep_unseen(
    contents_manager: Any, events: DocumentEvents, name: str, live: LiveDocument, update: bytes, session: str
) -> bool:
    """Keep the document of a client of an earlier load (``update``) beside the file if it holds text the
    room does not; True if it does (the client is then told and fenced), or if the client was told
    before. The same content coming back (a reconnect) is not copied twice."""
    stale = load_update(live.key, update)
    if not has_unseen_content(stale, live.document):
        return session in live.told
    data = stale.get()
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=repr).encode()).hexdigest()
    kept = live.conflict_copies.get(digest)
    if kept is None:
        kept = await save_conflict_copy(contents_manager, live.key, live.path, data)
        live.conflict_copies[digest] = kept
        events.emit("conflict", room=name, path=live.path, conflict_path=kept)
        log.warning(
            "room %s: a client of an earlier load of %s held unsaved content; kept it in %s and told the client",
            name,
            live.path,
            kept,
        )
    live.told.add(session)
    return True


def has_unseen_content(stale: YBaseDoc, current: YBaseDoc) -> bool:
    """Whether ``stale`` holds text that ``current`` does not (cell sources, or the whole text)."""
    if isinstance(stale, YNotebook):
        known = {cell.get("source", "") for cell in current.get()["cells"]}
        return any(cell.get("source", "") not in known for cell in stale.get()["cells"])
    return stale.get() != current.get()
