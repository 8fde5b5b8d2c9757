"""Webhooks: the relay's room events, signed and POSTed to every ``--webhook`` URL.

Events (JSON bodies, ``schema/webhook-event.json``), each with a unique ``id``, its ``type``, ``time`` (Unix
seconds), ``room`` and ``relay`` (an id of the relay process, so that relays sharing rooms through Redis can
be told apart):

* ``room.loaded`` / ``room.freed``: a room came into memory (its first client, or an HTTP request), or was
  freed once idle. An unreported change of a room being freed is sent before its ``room.freed``.
* ``client.joined`` / ``client.left``: a websocket client entered a loaded room, or left it; ``client`` holds
  its ``connection`` (the relay's label, ``#12``) and ``user`` (from its signed token, or Jupyter's user name;
  null when there is none: never taken from awareness); ``clients``: the room's websocket clients after it.
* ``document.changed``: the room's document changed (by any client, the HTTP API, another relay or an
  in-process writer). Debounced per room: sent once the document stayed unchanged ``debounce`` seconds, or
  ``max_wait`` seconds after its first unreported change while it keeps changing; ``changes`` counts the
  transactions it reports, ``since`` is the time of the first.

Signature: every request carries ``X-RTC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." +
body)>``, ``X-RTC-Event`` (the type) and ``X-RTC-Event-Id``. A receiver checks it with
:func:`verify_signature`, which also refuses a timestamp older than five minutes (a replayed request); a
retried event keeps its ``id`` and is signed again at each attempt. Delivery: :mod:`rtc_relay.webhook_endpoint`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .config import RelayConfig
from .webhook_endpoint import WebhookEndpoint

if TYPE_CHECKING:
    from rtc_common.tasks import TaskSet

    from .metrics import Sample
    from .room import Peer, Room

__all__ = ["SignatureError", "Webhooks", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-RTC-Signature"
TOLERANCE = 300.0  # seconds a signature's timestamp may be old (or ahead) before verify_signature refuses it


class SignatureError(ValueError):
    """A webhook request whose signature does not check out; the message says why."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-RTC-Signature`` value for ``body`` at ``timestamp`` (Unix seconds; default now)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: float = TOLERANCE, now: float | None = None
) -> int:
    """Check an ``X-RTC-Signature`` header against the raw ``body``; return its timestamp.

    Raises :class:`SignatureError` for a malformed header, a wrong signature, or a timestamp more than
    ``tolerance`` seconds away from ``now`` (a replay). Use the body's bytes as received, before parsing.
    """
    fields = dict(part.strip().partition("=")[::2] for part in header.split(","))
    try:
        t = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        raise SignatureError("malformed signature header") from None
    expected = sign(secret, body, t).partition(",v1=")[2]
    if not hmac.compare_digest(expected, given):
        raise SignatureError("bad signature")
    if abs((time.time() if now is None else now) - t) > tolerance:
        raise SignatureError("signature timestamp too old or in the future")
    return t


@dataclass
class _Changes:
    """A room's changes not reported yet: loop times of the first and last, their count, the check timer."""

    first: float
    since: float  # Unix time of the first
    last: float
    count: int = 0
    timer: asyncio.TimerHandle | None = None
    subscription: Any = None


class Webhooks:
    """The relay's events sent to its ``--webhook`` URLs (the room manager calls the four hooks).

    Resource handling: :meth:`start` starts one delivery loop per URL in ``tasks``; :meth:`stop` reports the
    changes not reported yet and waits at most ``grace`` seconds for the queues to drain (the loops are then
    cancelled with ``tasks``). Hooks never raise and never block: they only queue.
    """

    def __init__(self, config: RelayConfig) -> None:
        self.relay_id = uuid.uuid4().hex[:12]
        self._secret = config.webhook_secret
        self._debounce = config.webhook_debounce
        self._max_wait = config.webhook_max_wait
        self.endpoints = [
            WebhookEndpoint(
                url,
                sign=self._headers,
                capacity=config.webhook_queue,
                timeout=config.webhook_timeout,
                max_backoff=config.webhook_max_backoff,
            )
            for url in config.webhook
        ]
        self._rooms: dict[str, _Changes | None] = {}  # rooms observed: their unreported changes, if any
        self._observed: dict[str, tuple[Room, Any]] = {}
        self._members: dict[Peer, None] = {}  # clients whose client.joined was sent
        self.loop: asyncio.AbstractEventLoop | None = None

    def _headers(self, body: bytes) -> dict[str, str]:
        return {SIGNATURE_HEADER: sign(self._secret, body)}

    async def start(self, tasks: TaskSet) -> None:
        """Start one delivery loop per URL."""
        self.loop = asyncio.get_running_loop()
        for endpoint in self.endpoints:
            await tasks.start(endpoint.run, f"webhook {endpoint.label}")

    async def stop(self, grace: float) -> None:
        """Report the pending changes, then give the queues up to ``grace`` seconds to drain."""
        for name in list(self._rooms):
            self._report(name)
        if self.endpoints:
            await asyncio.gather(*(endpoint.drained(grace) for endpoint in self.endpoints))

    # -- hooks (called by the RoomManager) ---------------------------------------------------

    def loaded(self, room: Room) -> None:
        """``room`` is loaded: watch its document, send room.loaded."""
        name = room.name
        self._send("room.loaded", name)
        self._rooms[name] = None
        self._observed[name] = (room, room.doc.observe(lambda _event: self._changed(name)))

    def freed(self, room: Room) -> None:
        """``room`` was freed: report its last changes, stop watching, send room.freed."""
        name = room.name
        observed = self._observed.get(name)
        if observed is None or observed[0] is not room:
            return
        self._report(name)
        del self._observed[name]
        self._rooms.pop(name, None)
        try:
            room.doc.unobserve(observed[1])
        except ValueError:  # the document dropped its subscriptions already
            pass
        self._send("room.freed", name)

    def joined(self, room: Room, peer: Peer) -> None:
        """``peer`` joined ``room``: client.joined once the room is loaded (never for a room that failed)."""
        if not peer.remote:
            return
        if room.ready.done():
            self._joined(room, peer)
        else:
            room.ready.add_done_callback(lambda _: self._joined(room, peer))

    def _joined(self, room: Room, peer: Peer) -> None:
        if room.failed is not None or peer not in room.members or peer in self._members:
            return
        self._members[peer] = None
        self._send("client.joined", room.name, client=_client(peer), clients=room.remote_members)

    def left(self, room: Room, peer: Peer) -> None:
        """``peer`` left ``room`` (sent only if its client.joined was)."""
        if self._members.pop(peer, False) is not False:
            self._send("client.left", room.name, client=_client(peer), clients=room.remote_members)

    # -- document changes ----------------------------------------------------------------------

    def _changed(self, name: str) -> None:
        """Called by the document's observer inside a commit: count, and arm the check timer once."""
        loop = self.loop
        if loop is None:
            return
        now = loop.time()
        changes = self._rooms.get(name)
        if changes is None:
            changes = self._rooms[name] = _Changes(first=now, since=time.time(), last=now)
            changes.timer = loop.call_later(min(self._debounce, self._max_wait), self._check, name)
        changes.count += 1
        changes.last = now

    def _check(self, name: str) -> None:
        changes = self._rooms.get(name)
        if changes is None or self.loop is None:
            return
        now = self.loop.time()
        due = min(changes.last + self._debounce, changes.first + self._max_wait)
        if now >= due - 0.001:
            self._report(name)
        else:
            changes.timer = self.loop.call_later(due - now, self._check, name)

    def _report(self, name: str) -> None:
        changes = self._rooms.get(name)
        if changes is None:
            return
        if changes.timer is not None:
            changes.timer.cancel()
        self._rooms[name] = None
        self._send("document.changed", name, changes=changes.count, since=round(changes.since, 3))

    # -- sending ------------------------------------------------------------------------------

    def _send(self, kind: str, room: str, **fields: object) -> None:
        if not self.endpoints:
            return
        event = {
            "id": uuid.uuid4().hex,
            "type": kind,
            "time": round(time.time(), 3),
            "room": room,
            "relay": self.relay_id,
            **fields,
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        for endpoint in self.endpoints:
            endpoint.put(kind, body)

    def samples(self) -> list[Sample]:
        """The delivery metrics of every URL (labelled ``endpoint``: the URL without credentials or query)."""
        eps = self.endpoints
        out: list[Sample] = [
            ("rtc_relay_webhook_queue", "gauge", "Webhook events not delivered yet.", {"endpoint": e.label}, e.waiting)
            for e in eps
        ]
        out += [
            (
                "rtc_relay_webhook_events_delivered_total",
                "counter",
                "Webhook events delivered (2xx).",
                {"endpoint": e.label},
                e.delivered,
            )
            for e in eps
        ]
        out += [
            (
                "rtc_relay_webhook_events_dropped_total",
                "counter",
                "Webhook events dropped: pushed out of a full queue (overflow), or refused with a 4xx (rejected).",
                {"endpoint": e.label, "reason": reason},
                count,
            )
            for e in eps
            for reason, count in sorted(e.dropped.items())
        ]
        out += [
            (
                "rtc_relay_webhook_failed_attempts_total",
                "counter",
                "Webhook requests that failed (no connection, timeout, 5xx, 408, 429) and were retried.",
                {"endpoint": e.label},
                e.failed_attempts,
            )
            for e in eps
        ]
        return out


def _client(peer: Peer) -> dict[str, object]:
    return {"connection": peer.label.split(" ", 1)[0], "user": getattr(peer, "user", None)}
