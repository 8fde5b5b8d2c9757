"""Counters of one relay process, and their Prometheus text rendering (``GET /metrics``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

__all__ = ["Metrics"]


class Metrics:
    """Plain integer counters, bumped inline on the hot path (no locks: one event loop).

    Gauges that are cheap to read when scraped (rooms, clients, store size) are
    passed in as callables rather than tracked.
    """

    __slots__ = (
        "awareness_in",
        "bytes_in",
        "bytes_out",
        "closed",
        "connections_total",
        "messages_out",
        "rooms_freed",
        "rooms_opened",
        "updates_dropped_readonly",
        "updates_in",
        "updates_out",
    )

    def __init__(self) -> None:
        self.connections_total = 0
        self.updates_in = 0
        self.updates_out = 0
        self.updates_dropped_readonly = 0
        self.awareness_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.rooms_opened = 0
        self.rooms_freed = 0
        self.closed: Counter[str] = Counter()

    def render(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> str:
        """Prometheus text exposition. ``gauges`` maps a name to ``(help, read)``."""
        lines: list[str] = []

        def emit(name: str, kind: str, help_: str, value: float) -> None:
            lines.extend((f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"))

        for name, (help_, read) in gauges.items():
            emit(f"rtc_relay_{name}", "gauge", help_, read())
        emit("rtc_relay_connections_total", "counter", "Websocket connections accepted.", self.connections_total)
        emit("rtc_relay_updates_in_total", "counter", "Document updates received and applied.", self.updates_in)
        emit(
            "rtc_relay_updates_out_total",
            "counter",
            "Document updates delivered (one per recipient).",
            self.updates_out,
        )
        emit(
            "rtc_relay_updates_dropped_readonly_total",
            "counter",
            "Document updates dropped because their connection is read-only.",
            self.updates_dropped_readonly,
        )
        emit("rtc_relay_awareness_in_total", "counter", "Awareness messages received.", self.awareness_in)
        emit("rtc_relay_messages_out_total", "counter", "Websocket frames queued to clients.", self.messages_out)
        emit("rtc_relay_bytes_in_total", "counter", "Bytes received from clients.", self.bytes_in)
        emit("rtc_relay_bytes_out_total", "counter", "Bytes written to clients.", self.bytes_out)
        emit("rtc_relay_rooms_opened_total", "counter", "Rooms loaded into memory.", self.rooms_opened)
        emit("rtc_relay_rooms_freed_total", "counter", "Rooms freed after their cleanup delay.", self.rooms_freed)
        name = "rtc_relay_connections_closed_total"
        lines += [f"# HELP {name} Connections closed, by reason.", f"# TYPE {name} counter"]
        lines += [f'{name}{{reason="{reason}"}} {count}' for reason, count in sorted(self.closed.items())]
        return "\n".join(lines) + "\n"
