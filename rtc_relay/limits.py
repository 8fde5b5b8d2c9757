"""Rate limits: messages and bytes per second per connection, connection attempts per minute per address.

Each limit is a token bucket: it holds up to ``capacity`` tokens, refills at ``rate`` tokens a
second, and starts full; a message (or an attempt) takes its cost from it. A client may thus send
a burst of up to ``capacity`` at any speed (a large paste, the first sync of a big document), and
keep on at ``rate`` for as long as it likes. A limit of 0 is off.

* :class:`ConnectionThrottle`: one per connection. :meth:`ConnectionThrottle.over` says why a
  message would go over (the connection is then closed with ``RATE_LIMITED``, 4430); messages are
  counted as they arrive, before anything else is done with them, so a flood costs the relay no more
  than its burst before it is cut.
* :class:`AttemptLimiter`: one per relay. :meth:`AttemptLimiter.check` says whether a websocket
  upgrade from an address may go ahead, or how to refuse it: HTTP 429 with ``Retry-After``, answered
  after up to ``TARPIT_DELAY`` seconds (reading nothing meanwhile), so that a client retrying in a loop
  makes a few attempts a second rather than thousands, each costing what a connection costs; at most
  ``TARPIT_MAX`` refusals wait at once, the others are answered at once. It counts refusals in the
  relay's metrics and logs once per address when its attempts start being refused. It keeps one bucket
  per address seen in the last minute: a bucket full again is forgotten (it says no more than a new
  one), so memory follows the addresses active in the last minute, swept at most once a second.

Times are the event loop's clock (``loop.time()``, seconds). No task, no lock: everything runs on
the event loop.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass

__all__ = ["TARPIT_DELAY", "TARPIT_MAX", "AttemptLimiter", "AttemptRefusal", "ConnectionThrottle", "TokenBucket"]

log = logging.getLogger("rtc_relay.limits")

_SWEEP_EVERY = 1.0  # seconds between sweeps of the full buckets of the attempt limiter
TARPIT_DELAY = 0.5  # seconds a refused websocket attempt waits for its 429, at most
TARPIT_MAX = 256  # refused attempts waiting at once, at most; more are answered at once


class TokenBucket:
    """Up to ``capacity`` tokens, refilled at ``rate`` per second from ``now`` on; starts full."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, cost: float, now: float) -> bool:
        """Take ``cost`` tokens if the bucket holds them (True); else take nothing (False)."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        if tokens > self.capacity:
            tokens = self.capacity
        self.stamp = now
        if tokens < cost:
            self.tokens = tokens
            return False
        self.tokens = tokens - cost
        return True

    def full_at(self) -> float:
        """The loop time at which the bucket is full again."""
        return self.stamp + (self.capacity - self.tokens) / self.rate


class ConnectionThrottle:
    """The message and byte buckets of one connection (see the module docstring).

    ``messages``: messages a second (0: unlimited); ``bytes_``: bytes a second (0: unlimited);
    ``burst``: seconds of traffic a bucket holds; ``largest``: bytes of the largest message the relay
    accepts: the byte bucket holds at least that, so any message the relay takes fits a full bucket.
    """

    __slots__ = ("_bytes", "_messages")

    def __init__(self, messages: float, bytes_: float, burst: float, largest: int, now: float) -> None:
        self._messages = TokenBucket(messages, max(1.0, messages * burst), now) if messages > 0 else None
        self._bytes = TokenBucket(bytes_, max(float(largest), bytes_ * burst), now) if bytes_ > 0 else None

    @staticmethod
    def for_config(config, now: float) -> ConnectionThrottle | None:
        """The throttle ``config`` (a :class:`~rtc_relay.config.RelayConfig`) asks for; None when both limits are off."""
        if config.messages_per_second <= 0 and config.bytes_per_second <= 0:
            return None
        return ConnectionThrottle(
            config.messages_per_second, config.bytes_per_second, config.rate_burst, config.max_message_size, now
        )

    def allowance(self, now: float) -> int:
        """How many messages to read at most now: those the message bucket lets through, and the one that
        goes over (a large number when messages are unlimited)."""
        bucket = self._messages
        if bucket is None:
            return sys.maxsize
        return int(min(bucket.capacity, bucket.tokens + (now - bucket.stamp) * bucket.rate)) + 1

    def over(self, size: int, now: float) -> str | None:
        """Count one message of ``size`` bytes; None if it is within the limits, else the reason for the client."""
        if self._messages is not None and not self._messages.take(1.0, now):
            return f"more than {_rate(self._messages)} messages a second"
        if self._bytes is not None and not self._bytes.take(size, now):
            return f"more than {_rate(self._bytes)} bytes a second"
        return None


def _rate(bucket: TokenBucket) -> str:
    return f"{bucket.rate:g}"


@dataclass(frozen=True)
class AttemptRefusal:
    """How to refuse one websocket attempt: HTTP 429 with ``message`` and ``Retry-After: retry_after``
    (seconds), answered after ``delay`` seconds (0: at once; else call :meth:`AttemptLimiter.answered`
    once it is answered or gone)."""

    message: str
    retry_after: int
    delay: float


class AttemptLimiter:
    """Websocket connection attempts per address: ``per_minute`` each minute, all of them at once if it
    comes to that (0: unlimited). ``refused`` (the relay's metrics counter) counts refusals under
    ``"rate_limited"``. See the module docstring."""

    __slots__ = ("_buckets", "_next_sweep", "_streaks", "_waiting", "per_minute", "refused")

    def __init__(self, per_minute: float, refused: Counter[str]) -> None:
        self.per_minute = per_minute
        self.refused = refused
        self._buckets: dict[str, TokenBucket] = {}
        self._next_sweep = 0.0
        self._streaks: dict[str, int] = {}  # address -> attempts refused since it was last allowed one
        self._waiting = 0  # refusals waiting for their answer

    def check(self, address: str, now: float) -> AttemptRefusal | None:
        """Count one attempt from ``address``; None when it may go ahead, else how to refuse it."""
        if self.per_minute <= 0:
            return None
        if now >= self._next_sweep:
            self._sweep(now)
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.per_minute / 60.0, self.per_minute, now)
        if bucket.take(1.0, now):
            self._streaks.pop(address, None)
            return None
        self.refused["rate_limited"] += 1
        streak = self._streaks[address] = self._streaks.get(address, 0) + 1
        if streak == 1:  # a storm of attempts is not a storm of lines
            log.warning(
                "refusing websocket attempts from %s: more than %g a minute (the next ones are only counted, "
                "in rtc_relay_connections_refused_total)",
                address,
                self.per_minute,
            )
        retry_after = max(1, int(bucket.stamp + (1.0 - bucket.tokens) / bucket.rate - now + 0.999))
        delay = 0.0
        if self._waiting < TARPIT_MAX:
            self._waiting += 1
            delay = min(float(retry_after), TARPIT_DELAY)
        return AttemptRefusal(f"more than {self.per_minute:g} connection attempts a minute\n", retry_after, delay)

    def answered(self) -> None:
        """A refusal with a delay was answered, or its client left first."""
        self._waiting -= 1

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + _SWEEP_EVERY
        full = [address for address, bucket in self._buckets.items() if bucket.full_at() <= now]
        for address in full:
            del self._buckets[address]
            self._streaks.pop(address, None)
