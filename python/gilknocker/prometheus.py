"""Prometheus metrics for a long-running service (needs ``prometheus_client``).

    import gilknocker
    from gilknocker.prometheus import GilCollector
    from prometheus_client import REGISTRY, start_http_server

    knocker = gilknocker.Knocker()          # continuous, ~1000 knocks/s, well under 1% CPU
    knocker.start()
    REGISTRY.register(GilCollector(knocker))
    start_http_server(8000)

Exposes ``gil_busy_fraction`` (gauge: busy fraction over the last ``window_s`` seconds),
``gil_wait_seconds_total`` (counter: time knocks spent waiting for the GIL; ``rate()`` of it
is the average wait per second) and ``gil_knocks_total`` (counter).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gilknocker._api import Knocker

try:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector
except ImportError as err:  # pragma: no cover - exercised when prometheus_client is absent
    raise ImportError(
        "gilknocker.prometheus needs prometheus_client: pip install prometheus_client"
    ) from err


class GilCollector(Collector):  # type: ignore[misc,unused-ignore]
    """A custom collector reading a running :class:`gilknocker.Knocker` at scrape time."""

    def __init__(self, knocker: Knocker, window_s: float = 10.0, prefix: str = "gil") -> None:
        self.knocker = knocker
        self.window_s = window_s
        self.prefix = prefix

    def collect(self) -> Iterator[Any]:
        live = self.knocker.live_metrics(self.window_s)
        busy = GaugeMetricFamily(
            f"{self.prefix}_busy_fraction",
            f"Fraction of the last {self.window_s:g} s during which the GIL was busy "
            "(a thread asking for it would have waited)",
        )
        busy.add_metric([], live.busy_fraction)
        yield busy
        wait = CounterMetricFamily(
            f"{self.prefix}_wait_seconds",
            "Time the gilknocker probe spent waiting for the GIL",
        )
        wait.add_metric([], live.gil_wait_seconds_total)
        yield wait
        knocks = CounterMetricFamily(f"{self.prefix}_knocks", "GIL knocks made by gilknocker")
        knocks.add_metric([], live.knocks_total)
        yield knocks
