"""The few y-websocket (y-protocols) messages the loadgen sends or recognises.

A websocket message is ``varUint(messageType)`` + body; messageType 0 = sync, whose body is
``varUint(syncType)`` + ``varUint8Array(data)`` with syncType 0 = step1 (data = state vector),
1 = step2 (data = update), 2 = update. Every type number used here is < 128, so each varUint of a
type is exactly one byte, which is what the ``is_*`` tests rely on.
"""

from __future__ import annotations

from pycrdt import write_var_uint as varuint

MSG_SYNC = 0
SYNC_STEP1 = 0
SYNC_STEP2 = 1
SYNC_UPDATE = 2

# SyncStep1 for an empty document: the empty state vector encodes as varUint(0) = b"\x00".
SYNC_STEP1_EMPTY = bytes([MSG_SYNC, SYNC_STEP1, 1, 0])

_UPDATE_PREFIX = bytes([MSG_SYNC, SYNC_UPDATE])


def update_message(update: bytes) -> bytes:
    """Wrap a Yjs v1 update as a y-websocket sync/update message."""
    return _UPDATE_PREFIX + varuint(len(update)) + update


def is_update(message: bytes) -> bool:
    return message[:2] == _UPDATE_PREFIX


def is_step2(message: bytes) -> bool:
    """True for the relay's answer to a SyncStep1 (sync message, syncType 1)."""
    return len(message) >= 2 and message[0] == MSG_SYNC and message[1] == SYNC_STEP2
