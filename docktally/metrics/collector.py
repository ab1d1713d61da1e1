"""prometheus_client collectors over what docktally already knows: the store's totals (one
snapshot, see summary.py) and the collector's health (health.py). Nothing is computed here
but the layout of the series."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np
import pandas as pd
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from docktally.analytics.model import STATES
from docktally.analytics.totals import (
    FAILURE_CAUSES,
    FAILURE_COUNTS,
    RETAIN_S,
    SERIES_LABELS,
    open_incidents,
    series,
)
from docktally.metrics.health import LAG_BUCKETS_S, HealthView
from docktally.metrics.summary import Snapshot

NS = 1e9
LABELS = ["host", "container", "service", "image", "policy"]  # SERIES_LABELS, as exposed


class ContainerCollector(Collector):
    """Per container (label set) counters and state, and open incidents per service."""

    def __init__(self, snapshot: Snapshot, retain_s: float = RETAIN_S) -> None:
        self.snapshot = snapshot
        self.retain_s = retain_s

    def collect(self) -> Iterator[Metric]:
        now = self.snapshot.now_ns
        rows = series(self.snapshot.totals, now, self.retain_s)
        restarts = CounterMetricFamily(
            "docktally_container_restarts",
            "Restarts after a failure (the engine's or a person's start), since the "
            "container's first stored event.",
            labels=LABELS,
        )
        failures = CounterMetricFamily(
            "docktally_container_failures",
            "Failures (up to down or unhealthy that nobody asked for), by cause.",
            labels=[*LABELS, "cause"],
        )
        ooms = CounterMetricFamily(
            "docktally_container_oom_kills", "Failures caused by an OOM kill.", labels=LABELS
        )
        downtime = CounterMetricFamily(
            "docktally_container_downtime_seconds",
            "Time down or unhealthy.",
            labels=LABELS,
            unit="seconds",
        )
        observed = CounterMetricFamily(
            "docktally_container_observed_seconds",
            "Time up, down or unhealthy (planned and unknown time excluded): availability is "
            "1 - increase(downtime) / increase(observed).",
            labels=LABELS,
            unit="seconds",
        )
        state = GaugeMetricFamily(
            "docktally_container_state",
            "1 for the container's current state (up, unhealthy, down, planned, unknown).",
            labels=[*LABELS, "state"],
        )
        exit_code = GaugeMetricFamily(
            "docktally_container_last_exit_code", "Exit code of the last exit.", labels=LABELS
        )
        exit_time = GaugeMetricFamily(
            "docktally_container_last_exit_timestamp_seconds",
            "When the container last exited.",
            labels=LABELS,
            unit="seconds",
        )
        labels = rows[SERIES_LABELS].to_numpy(dtype=object).tolist()
        counts = rows[["restarts", "oom_kills", *FAILURE_COUNTS]].to_numpy(np.int64).tolist()
        times = rows[["downtime_s", "observed_s"]].to_numpy(np.float64).tolist()
        states = rows["state"].tolist()
        codes = rows["last_exit_code"].tolist()
        exits = rows["last_exit_ns"].tolist()
        for lab, cnt, (down_s, obs_s), st, code, at in zip(
            labels, counts, times, states, codes, exits, strict=True
        ):
            restarts.add_metric(lab, cnt[0])
            ooms.add_metric(lab, cnt[1])
            for cause, n in zip(FAILURE_CAUSES, cnt[2:], strict=True):
                failures.add_metric([*lab, cause], n)
            downtime.add_metric(lab, down_s)
            observed.add_metric(lab, obs_s)
            for name in STATES:
                state.add_metric([*lab, name], 1.0 if name == st else 0.0)
            if not pd.isna(code):
                exit_code.add_metric(lab, int(code))
                exit_time.add_metric(lab, int(at) / NS)
        incident = GaugeMetricFamily(
            "docktally_incident_open",
            "1 while the service has an open incident: a container down or unhealthy, or a "
            "failure less than 60 s ago.",
            labels=["host", "service"],
        )
        for host, service, is_open in open_incidents(rows, now).itertuples(index=False):
            incident.add_metric([str(host), str(service)], int(is_open))
        yield from (restarts, failures, ooms, downtime, observed, state, exit_code, exit_time)
        yield incident


class HealthCollector(Collector):
    """The collector's health: from this process (events, lag, reconnects) where it collects,
    and from the store (gaps, newest event) always."""

    def __init__(self, snapshot: Snapshot, health: HealthView | None) -> None:
        self.snapshot = snapshot
        self.health = health

    def collect(self) -> Iterator[Metric]:
        store = self.snapshot.health
        gaps = CounterMetricFamily(
            "docktally_collector_gaps",
            "Gaps recorded in the store: times the engine could not replay what the collector "
            "missed.",
            labels=["host"],
        )
        for host, n in sorted(store.gaps.items()):
            gaps.add_metric([host], n)
        last = GaugeMetricFamily(
            "docktally_collector_last_event_timestamp_seconds",
            "Time of the newest stored event.",
            labels=["host"],
            unit="seconds",
        )
        for host, t in sorted(store.last_event_ns.items()):
            last.add_metric([host], t / NS)
        spool = GaugeMetricFamily(
            "docktally_collector_spool_depth",
            "Events waiting on disk for the database (always 0: this collector has no spool).",
        )
        spool.add_metric([], 0)
        snap = GaugeMetricFamily(
            "docktally_metrics_snapshot_timestamp_seconds",
            "When the container series were computed from the store.",
            unit="seconds",
        )
        snap.add_metric([], self.snapshot.now_ns / NS)
        yield from (gaps, last, spool, snap)
        if self.health is None:
            return
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
        yield from (events, lag, reconnects)
