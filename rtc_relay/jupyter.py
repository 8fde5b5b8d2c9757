"""rtc_relay as a jupyter_server extension: the room websocket at ``/api/collaboration/room/{room}``.

This is the only module of ``rtc_relay`` that imports jupyter_server. Identity,
authorization and origin checks are Jupyter's own: joining a room needs
``contents:read``; a connection without ``contents:write`` is read-only at the
relay (its updates are dropped, it is told, its presence still shows). The
relay's :class:`~rtc_relay.core.RelayCore` is published in the tornado settings
under ``"rtc_relay"`` for other extensions (the supernode registers its document
policy there).

Resource handling: a client's messages that arrive while its room loads are not
buffered: :meth:`RoomWebsocketHandler.on_message` returns an awaitable until the
room admits it, and tornado reads the next frame only once that is done, so unread
input stays in the kernel's buffers. A client that leaves more than ``max_outbox``
bytes unwritten behind the write in progress (which may be one message larger than
the limit) is a slow consumer: what is queued for it is dropped, it leaves its
room and gets the close frame 4429 behind what it has not read (tornado drops the
connection if the client does not answer within 5 s). When the extension stops,
every room websocket is closed with 1001 (going away).

Rate limits (:mod:`rtc_relay.limits`): a message past the connection's ``messages_per_second`` or
``bytes_per_second`` (beyond their burst) closes it with 4430 (rate limited) before it is handled;
with ``connections_per_minute``, an upgrade from an address past it is answered with HTTP 429 (the
address is tornado's ``remote_ip``: behind a proxy, the proxy's unless ``trust_xheaders``).
"""

from __future__ import annotations

import json
import logging
import os

from jupyter_core.paths import jupyter_data_dir
from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from rtc_common.prometheus import add_source, remove_source
from rtc_common.schema import schema_path
from rtc_common.server_log import join_server_log
from rtc_common.server_signals import restore_sigint, stop_cleanly_on_sigint
from tornado import web
from traitlets import Bool, Float, Int, List, Unicode

from .config import RelayConfig, setting_help
from .core import RelayCore
from .jupyter_documents import HANDLERS as DOCUMENT_HANDLERS
from .jupyter_socket import (  # RoomWebsocketHandler: re-exported
    AWARENESS_EVENTS,
    SETTINGS_KEY,
    SOCKETS_KEY,
    _STOP_GRACE,
    OpenSockets,
    RoomWebsocketHandler,
    conflicting_extension,
)
from .listing import room_list
from .store import StoreUnavailable

__all__ = ["RelayExtension", "RoomListHandler", "RoomWebsocketHandler", "conflicting_extension"]

log = logging.getLogger("rtc_relay.jupyter")


class RoomListHandler(APIHandler):
    """``GET /api/rtc/rooms``: the rooms in memory (``schema/room-list.json``); needs ``contents:read``."""

    auth_resource = "contents"

    @web.authenticated
    async def get(self) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "read", "contents")):
            raise web.HTTPError(403, "contents:read is required to list rooms")
        core: RelayCore = self.settings[SETTINGS_KEY]
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(room_list(core)))


class RelayExtension(ExtensionApp):
    """Serves relay rooms inside jupyter_server."""

    name = "rtc_relay"

    store = Unicode(
        "",
        config=True,
        help="Where rooms persist: 'memory' or the path of an SQLite file; default: jupyter_rtc/rooms.sqlite "
        "in the Jupyter data dir. Document rooms are the projection of their files and are not stored by the relay.",
    )
    redis_url = Unicode(
        "",
        config=True,
        help="Share rooms with every relay (standalone or in other Jupyter servers) using this Redis, "
        "e.g. redis://HOST:6379/0: updates and presence fan out through it and the rooms the relay stores "
        "persist in it (instead of `store`). Document rooms stay with this server, which loads and saves "
        "their files. Needs the redis package (pip install 'jupyter-rtc[redis]').",
    )
    redis_timeout = Float(
        5.0,
        config=True,
        help="Seconds a Redis call may take before Redis counts as unreachable (with `redis_url`): a Redis that "
        "stops answering is reported like a refused connection within this plus half a second.",
    )
    cleanup_delay = Float(60.0, config=True, help="Seconds an empty room stays in memory before it is freed.")
    max_message_size = Int(
        1024**3, config=True, help="Largest message a client may send, in bytes (a notebook with big outputs is big)."
    )
    max_outbox = Int(
        256 * 1024**2,
        config=True,
        help="Bytes a client may leave unread before it is closed as a slow consumer (close code 4429).",
    )

    messages_per_second = Int(
        500,
        config=True,
        help="Messages a client may send per second, on average over `rate_burst` seconds; one that sends more "
        "is closed with 4430 (rate limited). 0: unlimited.",
    )
    bytes_per_second = Int(
        8 * 1024**2,
        config=True,
        help="Bytes a client may send per second, on average over `rate_burst` seconds (and never less than one "
        "`max_message_size` at once); one that sends more is closed with 4430 (rate limited). 0: unlimited.",
    )
    rate_burst = Float(
        10.0,
        config=True,
        help="Seconds of `messages_per_second` and `bytes_per_second` a client may send at once (a paste, a "
        "large notebook's first sync) before the per-second rates apply.",
    )
    connections_per_minute = Int(
        0,
        config=True,
        help="Room websocket attempts an address may make per minute (tornado's remote_ip); more are answered "
        "with HTTP 429. 0 (the default): unlimited (Jupyter authenticates every attempt, and behind a proxy "
        "such as JupyterHub's every user has the proxy's address).",
    )

    echo = Bool(
        True,
        config=True,
        help="Send each document update back to its sender too, as the reference y-websocket server does "
        "(y-websocket 4 reports a local edit confirmed, sync-status green, only once it comes back). False: "
        "updates go to the other clients only.",
    )

    webhook = List(Unicode(), config=True, help=setting_help("webhook"))
    webhook_secret = Unicode("", config=True, help=setting_help("webhook_secret"))
    webhook_debounce = Float(2.0, config=True, help=setting_help("webhook_debounce"))
    webhook_max_wait = Float(10.0, config=True, help=setting_help("webhook_max_wait"))
    webhook_timeout = Float(5.0, config=True, help=setting_help("webhook_timeout"))
    webhook_queue = Int(1000, config=True, help=setting_help("webhook_queue"))
    webhook_max_backoff = Float(30.0, config=True, help=setting_help("webhook_max_backoff"))

    def initialize_settings(self) -> None:
        join_server_log("rtc_relay", self.serverapp.log)
        stop_cleanly_on_sigint(self.serverapp)  # a hub stops servers with SIGINT: the store flushes first
        self._adopt_jc_cleanup_delay()
        store = self.store
        if self.redis_url:
            store = ""  # Redis is the store
        elif not store:
            folder = os.path.join(jupyter_data_dir(), "jupyter_rtc")
            os.makedirs(folder, exist_ok=True)
            store = os.path.join(folder, "rooms.sqlite")
        config = RelayConfig(
            store=store,
            redis_url=self.redis_url,
            redis_timeout=self.redis_timeout,
            cleanup_delay=self.cleanup_delay,
            max_message_size=self.max_message_size,
            max_outbox=self.max_outbox,
            echo=self.echo,
            **{name: getattr(self, name) for name in self.trait_names() if name.startswith("webhook")},
            messages_per_second=self.messages_per_second,
            bytes_per_second=self.bytes_per_second,
            rate_burst=self.rate_burst,
            connections_per_minute=self.connections_per_minute,
        )
        self.core = RelayCore(config)
        self.settings[SETTINGS_KEY] = self.core
        logger = self.serverapp.event_logger
        if AWARENESS_EVENTS not in set(getattr(logger.schemas, "schema_ids", ()) or ()):
            logger.register_event_schema(schema_path("events/jc-awareness.json"))
        add_source(self, self.core.metric_samples)  # in the server's /metrics, as jupyter_rtc_relay_*
        self.sockets = OpenSockets()
        self.settings[SOCKETS_KEY] = self.sockets

    def _adopt_jc_cleanup_delay(self) -> None:
        """jupyter-collaboration's ``YDocExtension.document_cleanup_delay`` when ours is not set (see
        :mod:`supernode.jc_settings`); its None (keep forever) becomes ten years."""
        ours = self.config.get(type(self).__name__)
        jc = self.config.get("YDocExtension")
        if not hasattr(jc, "get") or "document_cleanup_delay" not in jc:
            return
        if hasattr(ours, "get") and "cleanup_delay" in ours:
            return
        value = jc["document_cleanup_delay"]
        self.cleanup_delay = 10 * 365 * 86400.0 if value is None else float(value)
        log.info("jupyter-rtc: RelayExtension.cleanup_delay = %r, from YDocExtension.document_cleanup_delay", value)

    def initialize_handlers(self) -> None:
        other = conflicting_extension(self.serverapp)
        if other:
            log.error(
                "jupyter-rtc: %s is also enabled and serves the same /api/collaboration endpoints; "
                "%s serves them and jupyter-rtc stays off. Run `jupyter server extension disable %s` "
                "to use jupyter-rtc.",
                other,
                other,
                other,
            )
            return
        self.handlers.append((r"/api/collaboration/room/(.*)", RoomWebsocketHandler))
        self.handlers.append((r"/api/rtc/rooms", RoomListHandler))
        self.handlers.extend(DOCUMENT_HANDLERS)  # /api/rtc/rooms/{room}/update and /json

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        try:
            await self.core.ensure_started()
        except StoreUnavailable as exc:
            log.error("jupyter-rtc: %s; collaboration rooms are not served", exc)
            raise

    async def stop_extension(self) -> None:
        """Close every room websocket with 1001 (clients reconnect once the server is back), then free
        the rooms and flush the store."""
        restore_sigint(self.serverapp)
        await self.sockets.close_all(_STOP_GRACE)
        await self.core.stop()
        remove_source(self)
