"""The shared update log of one room in Redis: a stream of updates, a snapshot, and their compaction.

Layout, for room ``R`` (``{R}`` is a Redis hash tag, so a room's keys stay together):

* ``rtc:{R}:log`` — a stream. An *update entry* has fields ``o`` (the 16-byte id of the relay
  that accepted the updates) and ``u`` (a batch: ``varUint(n)`` then n × ``varUint8Array(update)``,
  the Yjs updates in the order that relay applied them). A *compaction marker* has fields ``o``
  and ``t``: the stream entries up to id ``t`` (inclusive) were removed, their content is in the
  snapshot.
* ``rtc:{R}:snap`` — a hash ``{id, data}``: ``data`` is a Yjs update holding every update entry
  with a stream id <= ``id``.
* ``rtc:{R}:aw`` — the pub/sub channel of the room's awareness (``origin + update``; never stored).

The room's full history is the snapshot plus the update entries after its id; :meth:`RoomLog.load`
reads both in one transaction. :meth:`RoomLog.queue_compact` replaces the snapshot and trims the
stream in one Lua script, so a reader never sees the entries gone without the snapshot that holds
them. It trims only up to the previous snapshot (and keeps the last ``TRIM_GRACE_MS``), so relays
reading a little behind still get every entry; one that had not read trimmed entries learns it from
the marker (see ``redis_reader.py``). The log thus holds at most two compactions' worth of entries.
Stream ids compare as ``(milliseconds, sequence)``; :func:`parse_id` gives that tuple.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lib0 import read_var_uint, read_var_uint8array, var_uint, var_uint8array

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import Pipeline

__all__ = ["AWARENESS_PATTERN", "RoomLog", "decode_batch", "encode_batch", "parse_id"]

PREFIX = "rtc:"
AWARENESS_PATTERN = PREFIX + "aw:*"

# How long (ms) trimmed entries stay in the log past the previous snapshot, so that relays reading
# a little behind the one compacting still read every entry rather than fall back to the snapshot.
TRIM_GRACE_MS = 2000

# KEYS: log, snap. ARGV: covered id, snapshot, origin, grace (ms). Returns 1 if the snapshot was taken.
# The log is trimmed up to the *previous* snapshot's id (one compaction's worth of entries stays), and
# never past the entries of the last TRIM_GRACE_MS, then a marker names the last entry removed.
_COMPACT = """
local function newer(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
local previous = redis.call('HGET', KEYS[2], 'id')
if previous and not newer(ARGV[1], previous) then return 0 end
redis.call('HSET', KEYS[2], 'id', ARGV[1], 'data', ARGV[2])
if not previous then return 1 end
local now = redis.call('TIME')
local horizon = string.format('%d-0', tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[4]))
local cut = previous
if newer(cut, horizon) then cut = horizon end
local last = redis.call('XREVRANGE', KEYS[1], '(' .. cut, '-', 'COUNT', 1)
if #last > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', cut)
  redis.call('XADD', KEYS[1], '*', 'o', ARGV[3], 't', last[1][1])
end
return 1
"""


def parse_id(entry_id: bytes | str) -> tuple[int, int]:
    """A stream id ``b"ms-seq"`` as a comparable tuple."""
    if isinstance(entry_id, bytes):
        entry_id = entry_id.decode()
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def encode_batch(updates: list[bytes]) -> bytes:
    """Several Yjs updates as one entry value."""
    return var_uint(len(updates)) + b"".join(var_uint8array(u) for u in updates)


def decode_batch(data: bytes) -> list[bytes]:
    """The updates of an entry value. Raises ``DecodeError``/``IndexError`` on malformed data."""
    count, pos = read_var_uint(data, 0)
    updates = []
    for _ in range(count):
        update, pos = read_var_uint8array(data, pos)
        updates.append(update)
    return updates


def log_key(room: str) -> bytes:
    return f"{PREFIX}{{{room}}}:log".encode()


def snap_key(room: str) -> bytes:
    return f"{PREFIX}{{{room}}}:snap".encode()


def awareness_channel(room: str) -> bytes:
    return f"{PREFIX}aw:{room}".encode()


def room_of_channel(channel: bytes) -> str:
    return channel.decode()[len(PREFIX) + 3 :]


class RoomLog:
    """Reads and writes rooms' logs through one Redis client (which the caller owns)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def load(self, room: str) -> tuple[list[bytes], bytes]:
        """``(updates, last_id)``: the snapshot and every update after it, and the id of the last
        entry read (``b"0-0"`` for an empty log). Raises ``RedisError`` when Redis fails."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(snap_key(room))
            pipe.xrange(log_key(room))
            snap, entries = await pipe.execute()
        updates: list[bytes] = []
        last = snap.get(b"id", b"0-0")
        floor = parse_id(last)
        if snap.get(b"data"):
            updates.append(snap[b"data"])
        for entry_id, fields in entries:
            if parse_id(entry_id) > floor:  # (the entries up to the snapshot's id are in it)
                last = entry_id
                if b"u" in fields:
                    updates.extend(decode_batch(fields[b"u"]))
        return updates, last

    async def snapshot(self, room: str) -> bytes | None:
        """The room's snapshot, if any."""
        return await self._redis.hget(snap_key(room), "data")

    @staticmethod
    def queue_append(pipe: Pipeline, room: str, origin: bytes, updates: list[bytes]) -> None:
        """Queue one update entry on ``pipe``."""
        pipe.xadd(log_key(room), {b"o": origin, b"u": encode_batch(updates)})

    @staticmethod
    def queue_compact(pipe: Pipeline, room: str, covered: bytes, snapshot: bytes, origin: bytes) -> None:
        """Queue replacing the snapshot by ``snapshot`` (holding every entry up to ``covered``) and
        trimming the entries before it; a no-op when the stored snapshot is not older. (Compactions
        are rare: the script travels with each one rather than being cached.)"""
        pipe.eval(_COMPACT, 2, log_key(room), snap_key(room), covered, snapshot, origin, TRIM_GRACE_MS)
