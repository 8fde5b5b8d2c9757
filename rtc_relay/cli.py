"""``python -m rtc_relay``: run a relay until SIGINT or SIGTERM.

Every option of :class:`RelayConfig` is a flag (``--max-message-size``) and an
environment variable (``RTC_RELAY_MAX_MESSAGE_SIZE``); flags win.
``python -m rtc_relay mint-token ...`` prints a signed room token instead (:func:`rtc_relay.tokens.main`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from dataclasses import MISSING, fields

from . import tokens
from .config import DEFAULT_PORT, RelayConfig, redact
from .server import Relay
from .store import StoreUnavailable

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rtc_relay",
        description=(
            "A CRDT relay for Yjs clients (y-websocket protocol). Clients join room NAME at "
            f"ws://HOST:PORT/NAME (or /api/collaboration/room/NAME). Default: 127.0.0.1:{DEFAULT_PORT}, "
            "rooms persisted in SQLite. Every option can also be set as an environment variable "
            "RTC_RELAY_<OPTION> (e.g. RTC_RELAY_PORT=8000; lists comma-separated). "
            "`python -m rtc_relay mint-token --help`: mint a signed room token for --token-secret."
        ),
    )
    for f in fields(RelayConfig):
        flag = "--" + f.name.replace("_", "-")
        env = f"RTC_RELAY_{f.name.upper()}"
        help_ = f"{f.metadata['help']} [env: {env}]"
        kind = str(f.type)
        if kind == "bool" and f.default is True:  # on by default: --NAME / --no-NAME
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_)
        elif kind == "bool":
            parser.add_argument(flag, action="store_true", default=None, help=help_)
        elif kind.startswith("list"):
            parser.add_argument(flag, action="append", default=None, metavar=f.name.upper(), help=help_)
        else:
            default = f.default if f.default is not MISSING else None
            parser.add_argument(
                flag,
                type={"int": int, "float": float}.get(kind, str),
                default=None,
                metavar=f.name.split("_")[-1].upper(),
                help=f"{help_} (default: {default!r})" if default not in ("", None) else help_,
            )
    return parser


def config_from_args(argv: list[str] | None = None) -> RelayConfig:
    """Defaults, then environment, then command-line flags."""
    args = build_parser().parse_args(argv)
    overrides = {name: value for name, value in vars(args).items() if value is not None}
    return RelayConfig.from_env(**overrides)


async def run(config: RelayConfig) -> None:
    """Serve until SIGINT/SIGTERM, then stop cleanly (everything flushed to the store)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Relay(config) as relay:
        store = redact(config.redis_url) if config.redis_url else config.store_spec()
        print(f"rtc_relay listening on {relay.url} (store: {store})", flush=True)
        await stop.wait()
        logging.getLogger("rtc_relay").info("signal received, stopping")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["mint-token"]:
        return tokens.main(argv[1:])
    try:
        config = config_from_args(argv)
        config.check()
    except ValueError as exc:
        print(f"rtc_relay: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(run(config))
    except StoreUnavailable as exc:
        print(f"rtc_relay: {exc}; not starting", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"rtc_relay: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    return 0
