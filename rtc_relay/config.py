"""Every setting of the relay, with its unit, default, command-line flag and environment variable.

:class:`RelayConfig` is the one place settings are declared; ``python -m rtc_relay
--help`` is generated from the ``help`` of each field, and each field ``name`` can
also be set through the environment variable ``RTC_RELAY_<NAME>``.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["DEFAULT_PORT", "RelayConfig", "default_data_dir", "redact", "setting_help"]

DEFAULT_PORT = 1234  # the port y-websocket's examples use


def default_data_dir() -> Path:
    """``$RTC_RELAY_DATA_DIR``, else ``$XDG_DATA_HOME/jupyter-rtc``, else ``~/.local/share/jupyter-rtc``."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "jupyter-rtc"


def _opt(help_: str, **kw: object) -> dict:
    return {"metadata": {"help": help_}, **kw}


@dataclass
class RelayConfig:
    """Settings of one relay. Durations are in seconds, sizes in bytes."""

    host: str = field(default="127.0.0.1", **_opt("Address to listen on."))
    port: int = field(default=DEFAULT_PORT, **_opt("TCP port to listen on; 0 picks a free port."))
    store: str = field(
        default="",
        **_opt(
            "Where rooms persist: 'memory' (lost on exit) or the path of an SQLite file. "
            "Default: relay.sqlite in the data directory."
        ),
    )
    data_dir: str = field(
        default="",
        **_opt(
            "Data directory for the default SQLite store. "
            "Default: $XDG_DATA_HOME/jupyter-rtc or ~/.local/share/jupyter-rtc."
        ),
    )
    redis_url: str = field(
        default="",
        **_opt(
            "Share rooms with every relay using this Redis (redis://HOST:PORT/DB, rediss:// for TLS, "
            "unix:///path.sock): updates and presence fan out through it and each room's update log lives "
            "in it, instead of in --store. Needs the redis package (pip install 'jupyter-rtc[redis]')."
        ),
    )
    redis_timeout: float = field(
        default=5.0,
        **_opt(
            "Seconds a Redis call may take before Redis counts as unreachable: a Redis that stops answering "
            "(a stopped process, a network stall) is reported on /health like a refused connection within this "
            "plus half a second, while the relay keeps serving its clients and keeping their updates."
        ),
    )
    token: list[str] = field(
        default_factory=list,
        **_opt(
            "Write token (repeatable; comma-separated in the environment). When any token is set, "
            "a client must present one as ?token=... or 'Authorization: Bearer ...', else it is closed with 4401."
        ),
    )
    read_token: list[str] = field(
        default_factory=list,
        **_opt(
            "Read-only token (repeatable). Its client receives everything and its presence flows, "
            "but its document updates are dropped; it is told so by an 'access' notice."
        ),
    )
    token_secret: list[str] = field(
        default_factory=list,
        **_opt(
            "Secret for signed room tokens (repeatable, to rotate: a token signed with any of them is accepted). "
            "An app's backend mints a token per user and room or room prefix, read or write, with an expiry "
            "(python -m rtc_relay mint-token, or rtc_relay.tokens.mint); the relay refuses an expired, "
            "wrong-room or badly signed one with 4401 and closes a connection when its token expires."
        ),
    )
    allow_unauthenticated: bool = field(
        default=False,
        **_opt(
            "Allow listening on a non-loopback address with no token set (anyone who can reach it can edit every room)."
        ),
    )
    allow_origin: list[str] = field(
        default_factory=list,
        **_opt(
            "Browser origins allowed to connect (repeatable; '*' for any). Default: with a token, any origin; "
            "without one, only loopback origins (http://localhost:*, http://127.0.0.1:*) "
            "and clients that send no Origin."
        ),
    )
    log_level: str = field(default="info", **_opt("Log level: debug, info, warning, error."))
    cleanup_delay: float = field(
        default=30.0,
        **_opt("Seconds an empty room stays in memory before it is freed; a client joining within it cancels that."),
    )
    max_message_size: int = field(
        default=256 * 1024 * 1024,
        **_opt("Largest message a client may send, in bytes; a bigger one closes its connection with 1009."),
    )
    max_outbox: int = field(
        default=32 * 1024 * 1024,
        **_opt("Bytes a client may leave unread before the relay drops it as a slow consumer (4429)."),
    )
    ping_interval: float = field(default=20.0, **_opt("Seconds between websocket pings to every client."))
    presence_renewal: float = field(
        default=1.0,
        **_opt(
            "Seconds after a client joins a room where others are present before they are asked to announce "
            "their presence again (joins within it are coalesced; 0: never), and again twice, this many seconds "
            "apart. A client's interface may only show presence that changes after it is ready; this makes it "
            "change, also for an interface that got ready a few seconds after its page joined."
        ),
    )
    echo: bool = field(
        default=True,
        **_opt(
            "Send each document update back to its sender too, as the reference y-websocket server does: "
            "y-websocket 4 counts a local edit as confirmed (sync-status green) only once the server sends "
            "back an update holding it. --no-echo (RTC_RELAY_ECHO=0) sends updates to the other clients only."
        ),
    )
    messages_per_second: int = field(
        default=500,
        **_opt(
            "Messages a client may send per second, on average over --rate-burst seconds; one that sends "
            "more is closed with 4430 (rate limited). 0: unlimited."
        ),
    )
    bytes_per_second: int = field(
        default=8 * 1024 * 1024,
        **_opt(
            "Bytes a client may send per second, on average over --rate-burst seconds (and never less than "
            "one --max-message-size at once); one that sends more is closed with 4430 (rate limited). 0: unlimited."
        ),
    )
    rate_burst: float = field(
        default=10.0,
        **_opt(
            "Seconds of --messages-per-second and --bytes-per-second a client may send at once (a paste, "
            "the first sync of a big document) before the per-second rates apply."
        ),
    )
    connections_per_minute: int = field(
        default=0,
        **_opt(
            "Websocket connection attempts an address may make per minute (all at once if it comes to that); "
            "more are answered with HTTP 429 and Retry-After before the upgrade. 0 (the default): unlimited, "
            "since clients behind one NAT or reverse proxy share its address (a restart reconnects them all "
            "at once). A relay that faces the internet directly: 60, say."
        ),
    )
    idle_timeout: float = field(
        default=60.0, **_opt("Seconds a client may stay silent (no message, no pong) before it is closed with 4408.")
    )
    handshake_timeout: float = field(default=10.0, **_opt("Seconds a new connection has to complete its HTTP upgrade."))
    compact_after_bytes: int = field(
        default=1024 * 1024,
        **_opt(
            "Compact a room's stored history into one snapshot once the history since the last snapshot "
            "(its bytes plus 64 bytes per update) exceeds both this many bytes and the snapshot itself."
        ),
    )

    webhook: list[str] = field(
        default_factory=list,
        **_opt(
            "URL to POST a signed JSON event to (repeatable; http:// or https://) when a room is loaded or freed, "
            "a client joins or leaves, or a room's document changed (schema/webhook-event.json). Needs "
            "--webhook-secret. Each URL has its own bounded queue; delivery is retried with back-off."
        ),
    )
    webhook_secret: str = field(
        default="",
        **_opt(
            "Secret (at least 16 characters) the webhook events are signed with: header "
            "X-RTC-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + body)> "
            "(rtc_relay.webhooks.verify_signature checks it)."
        ),
    )
    webhook_debounce: float = field(
        default=2.0,
        **_opt("Seconds a room's document must stay unchanged before its document.changed event is sent."),
    )
    webhook_max_wait: float = field(
        default=10.0,
        **_opt(
            "Seconds after a room's first unreported change by which its document.changed event is sent, "
            "even while the document keeps changing."
        ),
    )
    webhook_timeout: float = field(
        default=5.0,
        **_opt("Seconds one webhook request may take (connecting, sending, the answer's head) before it is retried."),
    )
    webhook_queue: int = field(
        default=1000,
        **_opt(
            "Events waiting per webhook URL; beyond, the oldest are dropped and counted "
            "(rtc_relay_webhook_events_dropped_total): a dead endpoint never grows memory or slows rooms."
        ),
    )
    webhook_max_backoff: float = field(
        default=30.0,
        **_opt("Longest wait, in seconds, between retries of a failed delivery (the first is 0.1 s, doubling)."),
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> RelayConfig:
        """Defaults, then ``RTC_RELAY_*`` variables, then ``overrides``."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(f"RTC_RELAY_{f.name.upper()}")
            if raw is not None:
                values[f.name] = parse_value(f.type, raw, f.name)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def store_spec(self) -> str:
        """The store setting with its default resolved."""
        if self.store:
            return self.store
        base = Path(self.data_dir) if self.data_dir else default_data_dir()
        return str(base / "relay.sqlite")

    def check(self) -> None:
        """Raise ``ValueError`` (saying why) for settings the relay must not run with."""
        if not (0 <= self.port < 65536):
            raise ValueError(f"port {self.port} is out of range")
        for name in ("max_message_size", "max_outbox", "compact_after_bytes", "redis_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("messages_per_second", "bytes_per_second", "connections_per_minute"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (unlimited) or positive")
        if self.rate_burst <= 0:
            raise ValueError("rate_burst must be positive")
        if self.redis_url:
            if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError(f"--redis-url {self.redis_url!r} must start with redis://, rediss:// or unix://")
            if self.store:
                raise ValueError("--store and --redis-url exclude each other: with Redis, rooms persist in Redis")
            if importlib.util.find_spec("redis") is None:
                raise ValueError("--redis-url needs the redis package: pip install 'jupyter-rtc[redis]'")
        if self.webhook:
            from .webhook_endpoint import check_url

            for url in self.webhook:
                check_url(url)
            if len(self.webhook_secret) < 16:
                raise ValueError("--webhook needs --webhook-secret, at least 16 characters long")
        for name in ("webhook_debounce", "webhook_max_wait", "webhook_timeout", "webhook_queue", "webhook_max_backoff"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if any(len(secret) < 16 for secret in self.token_secret):
            raise ValueError("a --token-secret must be at least 16 characters long")
        if not self.guarded and not self.allow_unauthenticated and not is_loopback(self.host):
            raise ValueError(
                f"refusing to listen on {self.host!r} with no token: anyone who can reach it could read and edit "
                "every room. Set --token (and --read-token) or --token-secret, or pass --allow-unauthenticated if "
                "a proxy in front does authentication."
            )

    @property
    def guarded(self) -> bool:
        """Whether a client needs a token (``--token``, ``--read-token`` or ``--token-secret``)."""
        return bool(self.token or self.read_token or self.token_secret)


def setting_help(name: str) -> str:
    """The help text of setting ``name`` (for the same setting declared elsewhere, e.g. as a trait)."""
    return next(f.metadata["help"] for f in fields(RelayConfig) if f.name == name)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def is_loopback(host: str) -> bool:
    """True for loopback addresses and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_value(kind: object, raw: str, name: str) -> object:
    """Convert an environment string to the type of field ``name``."""
    kind = str(kind)
    if kind.startswith("list"):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"RTC_RELAY_{name.upper()}={raw!r} is not a boolean")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw
