"""Classroom tickets: how a student on another Jupyter server reads a classroom of this one without a login here.

The join code is the secret. ``POST /api/rtc/classrooms/tickets {"code"}`` (no Jupyter login) answers a
*ticket*: a signed room token (:mod:`rtc_relay.tokens`, ``rtc1.`` format) for the session's room
``classroom/{id}``, read-only, valid :attr:`ClassroomTickets.lifetime` seconds, signed with a secret this
server draws at start (:mod:`secrets`, 256 bits) and never tells anyone: tickets die with the server
process, and a restarted server's sessions are new ones anyway. The ticket opens the session's room at
``/api/rtc/classrooms/socket/{id}?ticket=`` (:class:`rtc_relay.jupyter_ticket_socket.TicketWebsocketHandler`),
read-only, until it expires; the holder fetches a new one before that, with the code again, so a session
that ended, or a server that stopped admitting remote students, lets no one in for longer than a ticket lives.

Remote joining is off unless the server's owner turns it on (``SupernodeExtension.classroom_remote_join``):
then every ticket request is refused with 403 and every ticket socket with 4401, saying so.

Guessing codes: a code has about 40 bits; each client address may get :attr:`failures_per_minute` wrong
codes a minute (a token bucket: a burst of that many, then one every ``60 / failures_per_minute`` s); past
that, every ticket request of the address, right code or not, is answered 429 with ``Retry-After`` until
its bucket refills. At 10 a minute, finding one given session takes an address about 10^11 minutes. The
address is tornado's ``remote_ip`` (behind a proxy, the proxy's unless ``ServerApp.trust_xheaders``).
Memory: one bucket per address that failed in the last minutes, forgotten once full again, at most
:data:`MAX_ADDRESSES` (past that, the fullest go first).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from rtc_relay.limits import TokenBucket
from rtc_relay.tokens import mint

from .classrooms import Classrooms
from .errors import ApiError

__all__ = ["MAX_ADDRESSES", "ClassroomTickets", "RateLimited"]

log = logging.getLogger("supernode.classroom")

MAX_ADDRESSES = 10_000  # addresses with a failure bucket at once, at most
ROOM_PREFIX = "classroom/"
_SWEEP_EVERY = 1.0  # seconds between sweeps of the full buckets


class RateLimited(ApiError):
    """Too many wrong codes from one address: 429, retry after :attr:`retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__("rate_limited", message)
        self.retry_after = retry_after


class ClassroomTickets:
    """Issues and checks the tickets of ``classrooms``' sessions (see the module docstring).

    ``enabled``: called at each request (the server's ``classroom_remote_join``); ``lifetime``: seconds a
    ticket is valid; ``failures_per_minute``: wrong codes an address may send a minute (0: unlimited);
    ``clock``: the monotonic clock of the buckets (the event loop's ``time`` in the server).
    """

    def __init__(
        self,
        classrooms: Classrooms,
        *,
        enabled: Callable[[], bool],
        lifetime: float = 600.0,
        failures_per_minute: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.classrooms = classrooms
        self.enabled = enabled
        self.lifetime = lifetime
        self.failures_per_minute = failures_per_minute
        self._clock = clock
        self._secret = secrets.token_urlsafe(32)
        self._failures: dict[str, TokenBucket] = {}
        self._next_sweep = 0.0

    # -- issuing --------------------------------------------------------------------------------

    def issue(self, code: Any, address: str) -> dict[str, Any]:
        """A ticket for the session of join code ``code``, asked from ``address``.

        Raises :class:`ApiError`: ``forbidden`` (remote joining is off), :class:`RateLimited` (this address
        sent too many wrong codes), ``bad_request`` (no code), ``not_found`` (no session has this code).
        """
        if not self.enabled():
            raise ApiError("forbidden", "this server does not admit students of other servers to its classrooms")
        now = self._clock()
        retry_after = self._locked_out(address, now)
        if retry_after is not None:
            raise RateLimited(
                f"too many wrong classroom codes from this address: try again in {retry_after} s", retry_after
            )
        if not isinstance(code, str) or not code.strip():
            raise ApiError("bad_request", "'code' (the classroom's join code) is required")
        try:
            session = self.classrooms.by_code(code)
        except ApiError:
            self._failed(address, now)
            raise
        if getattr(session, "upstream", None) is not None:  # a mirror of another server's session: not ours to hand on
            self._failed(address, now)
            raise ApiError("not_found", "no classroom session has this code (ended, or mistyped)")
        issued = time.time()
        ticket = mint(self._secret, room=session.room, access="read", expires_in=self.lifetime, now=issued)
        log.info("classroom %s: ticket issued to %s, valid %g s", session.code, address, self.lifetime)
        return {
            "ticket": ticket,
            "room": session.room,
            "expires": round(issued + self.lifetime, 3),
            "session": {
                "id": session.id,
                "code": session.code,
                "path": session.path,
                "teacher": session.teacher,
                "outputs": session.outputs,
            },
        }

    def _locked_out(self, address: str, now: float) -> int | None:
        """Seconds until ``address`` may try a code again, or None when it may now."""
        self._sweep(now)
        bucket = self._failures.get(address)
        if bucket is None:
            return None
        bucket.take(0.0, now)  # refills it up to now
        if bucket.tokens >= 1.0:
            return None
        return max(1, int((1.0 - bucket.tokens) / bucket.rate + 0.999))

    def _failed(self, address: str, now: float) -> None:
        if self.failures_per_minute <= 0:
            return
        bucket = self._failures.get(address)
        if bucket is None:
            if len(self._failures) >= MAX_ADDRESSES:
                fullest = max(self._failures, key=lambda a: self._failures[a].tokens)
                del self._failures[fullest]
            bucket = self._failures[address] = TokenBucket(
                self.failures_per_minute / 60.0, self.failures_per_minute, now
            )
        bucket.take(1.0, now)
        if bucket.tokens < 1.0:
            log.warning(
                "classroom tickets: %s sent %g wrong codes within a minute; its ticket requests are refused (429) "
                "until its allowance refills",
                address,
                self.failures_per_minute,
            )

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + _SWEEP_EVERY
        for address in [a for a, bucket in self._failures.items() if bucket.full_at() <= now]:
            del self._failures[address]

    # -- checking (rtc_relay.jupyter_ticket_socket.TicketIssuer) ----------------------------------

    def room_of(self, argument: str) -> str:
        return ROOM_PREFIX + argument

    def secrets(self) -> Sequence[str]:
        return [self._secret] if self.enabled() else []

    def refusal(self) -> str | None:
        if not self.enabled():
            return "this server does not admit students of other servers to its classrooms"
        return None
