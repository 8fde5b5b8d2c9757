"""Our metrics in jupyter_server's Prometheus endpoint (``GET /metrics``, behind ``authenticate_prometheus``).

jupyter_server serves ``prometheus_client``'s default registry. One collector per process is
registered there once; each extension adds a *source* (a function returning its samples) when it
starts and removes it when it stops, so several servers in one process (tests) never register a
metric twice. Names get the ``jupyter_rtc_`` prefix: the relay's ``rtc_relay_rooms`` is
``jupyter_rtc_relay_rooms``, the supernode's ``supernode_documents_open`` is
``jupyter_rtc_supernode_documents_open``.

A sample is ``(name, kind, help, labels, value)`` with kind ``"gauge"`` or ``"counter"`` (a counter's
name ends in ``_total``). A source that raises is logged and skipped; the scrape still answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["add_source", "remove_source"]

log = logging.getLogger(__name__)

Sample = tuple[str, str, str, dict[str, str], float]
_PREFIX = "jupyter_rtc_"
_sources: dict[object, Callable[[], Iterable[Sample]]] = {}
_collector: Any = None


def _public(name: str) -> str:
    return _PREFIX + (name[len("rtc_") :] if name.startswith("rtc_") else name)


class _Collector:
    """Turns the sources' samples into metric families at each scrape."""

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        families: dict[str, Any] = {}
        for key, source in list(_sources.items()):
            try:
                samples = list(source())
            except Exception:
                log.exception("metrics of %r could not be read", key)
                continue
            for name, kind, help_, labels, value in samples:
                public = _public(name)
                family = families.get(public)
                if family is None:
                    if kind == "counter":
                        family = CounterMetricFamily(public.removesuffix("_total"), help_, labels=list(labels))
                    else:
                        family = GaugeMetricFamily(public, help_, labels=list(labels))
                    families[public] = family
                family.add_metric([labels[k] for k in labels], value)
        yield from families.values()

    def describe(self) -> list[Any]:
        return []  # names vary with what the sources report: collected at scrape time only


def add_source(key: object, source: Callable[[], Iterable[Sample]]) -> None:
    """Report ``source()``'s samples at every scrape until :func:`remove_source` with the same ``key``."""
    global _collector
    if _collector is None:
        from prometheus_client import REGISTRY

        _collector = _Collector()
        REGISTRY.register(_collector)
    _sources[key] = source


def remove_source(key: object) -> None:
    _sources.pop(key, None)
