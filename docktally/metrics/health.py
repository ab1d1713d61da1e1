"""The collector's own health, kept in memory as it runs: events committed, the lag from an
event's time to its commit (updated from the writer's commit hook with a few additions per
event, so the event-to-commit path does not wait on the endpoint); reconnects and the events
waiting in its spool, read from the collector at a scrape."""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

NS = 1_000_000_000
# Seconds; the collector commits within 200 ms of a batch's first event when all is well.
LAG_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class HealthView:
    events: dict[str, int]  # host -> events committed by this process
    lag_buckets: dict[str, list[int]]  # host -> count per LAG_BUCKETS_S bucket, +Inf last
    lag_sum_s: dict[str, float]
    reconnects: dict[str, int]  # engine URL -> sessions after the first
    spooled: dict[str, int]  # engine URL -> events waiting in its spool for the database


class Spooled(Protocol):
    @property
    def events(self) -> int: ...


class Watched(Protocol):
    """What the endpoint reads of a collector.runner.Collector at each scrape."""

    @property
    def sessions(self) -> int: ...

    @property
    def spool(self) -> Spooled: ...


class CollectorHealth:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, int] = {}
        self._buckets: dict[str, list[int]] = {}
        self._lag_sum: dict[str, float] = {}
        self._watched: dict[str, Watched] = {}

    def on_commit(self, rows: Sequence[Mapping[str, Any]], committed_ns: int) -> None:
        """The collector's commit hook: rows just committed from the live stream."""
        with self._lock:
            for row in rows:
                host = str(row["host"])
                lag_s = max(0.0, (committed_ns - int(row["time_ns"])) / NS)
                buckets = self._buckets.get(host)
                if buckets is None:
                    buckets = self._buckets[host] = [0] * (len(LAG_BUCKETS_S) + 1)
                    self._events[host] = 0
                    self._lag_sum[host] = 0.0
                buckets[bisect.bisect_left(LAG_BUCKETS_S, lag_s)] += 1
                self._events[host] += 1
                self._lag_sum[host] += lag_s

    def watch(self, engine_url: str, collector: Watched) -> None:
        """The collector of an engine, read at each scrape: its session count (each session
        after the first is a reconnect) and its spool's events (O(1) counters)."""
        with self._lock:
            self._watched[engine_url] = collector

    def view(self) -> HealthView:
        with self._lock:
            return HealthView(
                events=dict(self._events),
                lag_buckets={h: list(b) for h, b in self._buckets.items()},
                lag_sum_s=dict(self._lag_sum),
                reconnects={u: max(0, c.sessions - 1) for u, c in self._watched.items()},
                spooled={u: c.spool.events for u, c in self._watched.items()},
            )


class ProcessHealthCollector(Collector):
    """The collector's health as this process saw it: events, commit lag, reconnects, spool."""

    def __init__(self, health: HealthView) -> None:
        self.health = health

    def collect(self) -> Iterator[Metric]:
        h = self.health
        events = CounterMetricFamily(
            "docktally_collector_events",
            "Events received from the live stream and committed, by this process.",
            labels=["host"],
        )
        lag = HistogramMetricFamily(
            "docktally_collector_commit_lag_seconds",
            "From an event's time (the engine's clock) to its commit.",
            labels=["host"],
            unit="seconds",
        )
        for host in sorted(h.events):
            events.add_metric([host], h.events[host])
            cumulative = list(itertools.accumulate(h.lag_buckets[host]))
            bounds = [*(f"{b:g}" for b in LAG_BUCKETS_S), "+Inf"]
            lag.add_metric([host], list(zip(bounds, cumulative, strict=True)), h.lag_sum_s[host])
        reconnects = CounterMetricFamily(
            "docktally_collector_reconnects",
            "Connections to the engine after the first one.",
            labels=["engine"],
        )
        for url, n in sorted(h.reconnects.items()):
            reconnects.add_metric([url], n)
        spool = GaugeMetricFamily(
            "docktally_collector_spool_depth",
            "Events received from the engine and waiting in the collector's spool (memory, "
            "then its file) for the database.",
            labels=["engine"],
        )
        for url, n in sorted(h.spooled.items()):
            spool.add_metric([url], n)
        yield from (events, lag, reconnects, spool)
