"""Counters of one relay process, and their Prometheus text rendering (``GET /metrics``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

__all__ = ["Metrics", "Sample"]

Sample = tuple[str, str, str, dict[str, str], float]
"""One metric: ``(name, kind ("gauge" or "counter"), help, labels, value)``."""


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
        "joins_from_kept_state",
        "messages_out",
        "refused",
        "rooms_freed",
        "rooms_opened",
        "updates_dropped_readonly",
        "updates_in",
        "updates_out",
    )

    def __init__(self) -> None:
        self.connections_total = 0
        self.joins_from_kept_state = 0  # SyncStep2s sent from a JoinState rather than encoded
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
        self.refused: Counter[str] = Counter(rate_limited=0)  # websocket attempts answered 429 etc., by reason

    def samples(self, gauges: dict[str, tuple[str, Callable[[], float]]]) -> list[Sample]:
        """Every metric as ``(name, kind, help, labels, value)``; ``gauges`` maps a name to ``(help, read)``.

        Names carry the ``rtc_relay_`` prefix; counters end in ``_total``.
        """
        out: list[Sample] = [(f"rtc_relay_{name}", "gauge", help_, {}, read()) for name, (help_, read) in gauges.items()]
        counters = (
            ("connections_total", "Websocket connections accepted.", self.connections_total),
            ("updates_in_total", "Document updates received and applied.", self.updates_in),
            ("updates_out_total", "Document updates delivered (one per recipient).", self.updates_out),
            (
                "updates_dropped_readonly_total",
                "Document updates dropped because their connection is read-only.",
                self.updates_dropped_readonly,
            ),
            (
                "joins_from_kept_state_total",
                "Clients that joined with nothing and were sent the document as encoded for an earlier one.",
                self.joins_from_kept_state,
            ),
            ("awareness_in_total", "Awareness messages received.", self.awareness_in),
            ("messages_out_total", "Websocket frames queued to clients.", self.messages_out),
            ("bytes_in_total", "Bytes received from clients.", self.bytes_in),
            ("bytes_out_total", "Bytes written to clients.", self.bytes_out),
            ("rooms_opened_total", "Rooms loaded into memory.", self.rooms_opened),
            ("rooms_freed_total", "Rooms freed after their cleanup delay.", self.rooms_freed),
        )
        out += [(f"rtc_relay_{name}", "counter", help_, {}, value) for name, help_, value in counters]
        closed = "Connections closed, by reason."
        out += [
            ("rtc_relay_connections_closed_total", "counter", closed, {"reason": reason}, count)
            for reason, count in sorted(self.closed.items())
        ]
        refused = "Websocket connection attempts refused before the upgrade, by reason."
        out += [
            ("rtc_relay_connections_refused_total", "counter", refused, {"reason": reason}, count)
            for reason, count in sorted(self.refused.items())
        ]
        return out

    def render(self, gauges: dict[str, tuple[str, Callable[[], float]]], extra: Sequence[Sample] = ()) -> str:
        """Prometheus text exposition (``GET /metrics`` of the standalone relay); ``extra``: more samples
        (each metric's samples together)."""
        lines: list[str] = []
        described: set[str] = set()
        for name, kind, help_, labels, value in [*self.samples(gauges), *extra]:
            if name not in described:
                described.add(name)
                lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
            label = "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}" if labels else ""
            lines.append(f"{name}{label} {value}")
        if "rtc_relay_connections_closed_total" not in described:
            name = "rtc_relay_connections_closed_total"
            lines += [f"# HELP {name} Connections closed, by reason.", f"# TYPE {name} counter"]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    """A label value as Prometheus's text format writes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
