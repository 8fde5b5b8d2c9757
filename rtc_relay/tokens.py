"""Signed room tokens: an app's backend mints one per user and room (or room prefix) with a secret the
relay shares (``--token-secret``); the relay checks it without asking anyone.

Format (version 1): ``rtc1.<payload>.<signature>``, where ``<payload>`` is the base64url (no padding)
of a compact JSON object and ``<signature>`` the base64url (no padding) of
HMAC-SHA256(secret, ``"rtc1." + <payload>``). The payload's fields:

* ``room`` (string): the one room the token opens; or ``prefix`` (string): every room whose name
  starts with it (``"team/"``; ``""`` is every room). Exactly one of the two.
* ``access``: ``"write"`` or ``"read"`` (a read-only connection: its document updates are dropped).
* ``exp``: expiry, Unix time in seconds (a number). The relay refuses the token from then on, and
  closes a connection that joined with it at that moment.
* ``user`` (string, optional): who the token is for. The relay shows it in its room list and logs,
  and never takes a user id from a client's awareness.

Error handling: :func:`verify` raises :class:`TokenError` whose ``reason`` says which check failed
(``malformed token``, ``bad signature``, ``token expired``, ``token not for this room``); the relay
sends that reason with close code 4401.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PREFIX", "Grant", "TokenError", "main", "mint", "verify"]

PREFIX = "rtc1."
MAX_TOKEN_BYTES = 4096


class TokenError(ValueError):
    """A signed token that does not open the room; ``reason`` is safe to tell the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Grant:
    """What a token lets its holder do. ``room`` xor ``prefix`` (the static tokens of ``--token`` are
    ``prefix=""``); ``expires``: Unix seconds, or None (never); ``user``: from a signed token, else None."""

    access: str
    room: str | None = None
    prefix: str | None = ""
    expires: float | None = None
    user: str | None = None

    def covers(self, room: str) -> bool:
        """Whether the grant opens room ``room``."""
        if self.room is not None:
            return room == self.room
        return self.prefix is not None and room.startswith(self.prefix)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, signed: str) -> str:
    return _b64(hmac.new(secret.encode(), signed.encode("ascii"), hashlib.sha256).digest())


def mint(
    secret: str,
    *,
    room: str | None = None,
    prefix: str | None = None,
    access: str = "write",
    expires_in: float = 3600.0,
    user: str | None = None,
    now: float | None = None,
) -> str:
    """A token for ``room`` (or every room starting with ``prefix``), valid ``expires_in`` seconds from
    ``now`` (default: the current time). Raises ``ValueError`` for arguments that make no token."""
    if (room is None) == (prefix is None):
        raise ValueError("give exactly one of room and prefix")
    if access not in ("write", "read"):
        raise ValueError(f"access must be 'write' or 'read', not {access!r}")
    if not secret:
        raise ValueError("the secret is empty")
    payload: dict[str, object] = {"access": access, "exp": round((time.time() if now is None else now) + expires_in, 3)}
    payload["room" if room is not None else "prefix"] = room if room is not None else prefix
    if user:
        payload["user"] = user
    body = PREFIX + _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_sign(secret, body)}"


def is_signed(token: str) -> bool:
    """Whether ``token`` has the form of a signed token (else it may be a static ``--token``)."""
    return token.startswith(PREFIX)


def verify(secrets: Sequence[str], token: str, room: str | None, *, now: float | None = None) -> Grant:
    """The grant of ``token`` signed with one of ``secrets`` (several: while rotating the secret), checked
    for ``room`` (None: only signature and expiry). Raises :class:`TokenError`."""
    if len(token) > MAX_TOKEN_BYTES or not is_signed(token):
        raise TokenError("malformed token")
    body, dot, signature = token.rpartition(".")
    if not dot or body.count(".") != 1:
        raise TokenError("malformed token")
    if not any(hmac.compare_digest(_sign(secret, body), signature) for secret in secrets if secret):
        raise TokenError("bad signature")
    try:
        payload = json.loads(_unb64(body[len(PREFIX) :]))
    except ValueError:
        raise TokenError("malformed token") from None
    grant = _grant(payload)
    if grant.expires is not None and (time.time() if now is None else now) >= grant.expires:
        raise TokenError("token expired")
    if room is not None and not grant.covers(room):
        raise TokenError("token not for this room")
    return grant


def _grant(payload: object) -> Grant:
    if not isinstance(payload, dict):
        raise TokenError("malformed token")
    access, exp, user = payload.get("access"), payload.get("exp"), payload.get("user")
    room, prefix = payload.get("room"), payload.get("prefix")
    if (
        access not in ("write", "read")
        or not isinstance(exp, (int, float))
        or isinstance(exp, bool)
        or (user is not None and not isinstance(user, str))
        or (room is None) == (prefix is None)
        or not isinstance(room if room is not None else prefix, str)
    ):
        raise TokenError("malformed token")
    return Grant(access=access, room=room, prefix=prefix, expires=float(exp), user=user)


def main(argv: list[str] | None = None) -> int:
    """``python -m rtc_relay mint-token``: print a signed token (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m rtc_relay mint-token",
        description="Print a signed room token for a relay started with --token-secret.",
    )
    parser.add_argument("--secret", help="the relay's --token-secret [env: RTC_RELAY_TOKEN_SECRET, its first value]")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--room", help="the one room the token opens")
    where.add_argument("--prefix", help="open every room whose name starts with this ('' for every room)")
    parser.add_argument("--read", action="store_true", help="read-only (default: write)")
    parser.add_argument("--expires-in", type=float, default=3600.0, help="seconds until it expires (default 3600)")
    parser.add_argument("--user", help="the user id the relay shows for connections with this token")
    args = parser.parse_args(argv)
    secret = args.secret or os.environ.get("RTC_RELAY_TOKEN_SECRET", "").split(",")[0].strip()
    if not secret:
        parser.error("no secret: pass --secret or set RTC_RELAY_TOKEN_SECRET")
    try:
        token = mint(
            secret,
            room=args.room,
            prefix=args.prefix,
            access="read" if args.read else "write",
            expires_in=args.expires_in,
            user=args.user,
        )
    except ValueError as exc:
        parser.error(str(exc))
    print(token)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
