"""prometheus_client collectors over what docktally already knows: the store's totals (one
snapshot, see summary.py) and the collector's health (health.py). Nothing is computed here
but the layout of the series."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
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
from docktally.metrics.summary import Snapshot

NS = 1e9
LABELS = SERIES_LABELS  # host, container, service, image, policy


@dataclass(frozen=True)
class Family:
    """One metric family of rows with one sample each (or one per value of `extra`): its name,
    type, help, unit, the rows' columns its values come from, the columns its labels come from
    (a container's LABELS, unless said), and its one label beyond those (failures have a cause,
    the state set a state)."""

    name: str
    kind: str  # "counter" | "gauge"
    help: str
    columns: tuple[str, ...]
    unit: str = ""
    extra: str | None = None
    labels: tuple[str, ...] = tuple(LABELS)

    def new(self) -> CounterMetricFamily | GaugeMetricFamily:
        labels = [*self.labels, self.extra] if self.extra else list(self.labels)
        cls = CounterMetricFamily if self.kind == "counter" else GaugeMetricFamily
        return cls(self.name, self.help, labels=labels, unit=self.unit)


RESTARTS = Family(
    "docktally_container_restarts",
    "counter",
    "Restarts after a failure (the engine's or a person's start), since the container's "
    "first stored event.",
    ("restarts",),
)
FAILURES = Family(
    "docktally_container_failures",
    "counter",
    "Failures (up to down or unhealthy that nobody asked for), by cause.",
    tuple(FAILURE_COUNTS),
    extra="cause",
)
OOM_KILLS = Family(
    "docktally_container_oom_kills", "counter", "Failures caused by an OOM kill.", ("oom_kills",)
)
DOWNTIME = Family(
    "docktally_container_downtime_seconds",
    "counter",
    "Time down or unhealthy.",
    ("downtime_s",),
    "seconds",
)
OBSERVED = Family(
    "docktally_container_observed_seconds",
    "counter",
    "Time up, down or unhealthy (planned and unknown time excluded): availability is "
    "1 - increase(downtime) / increase(observed).",
    ("observed_s",),
    "seconds",
)
STATE = Family(
    "docktally_container_state",
    "gauge",
    "1 for the container's current state (up, unhealthy, down, planned, unknown).",
    ("state",),
    extra="state",
)
EXIT_CODE = Family(
    "docktally_container_last_exit_code",
    "gauge",
    "Exit code of the last exit.",
    ("last_exit_code",),
)
EXIT_TIME = Family(
    "docktally_container_last_exit_timestamp_seconds",
    "gauge",
    "When the container last exited.",
    ("last_exit_ns",),
    "seconds",
)
CONTAINER_FAMILIES = (
    RESTARTS,
    FAILURES,
    OOM_KILLS,
    DOWNTIME,
    OBSERVED,
    STATE,
    EXIT_CODE,
    EXIT_TIME,
)
INCIDENT = Family(
    "docktally_incident_open",
    "gauge",
    "1 while the service has an open incident: a container down or unhealthy, or a failure "
    "less than 60 s ago.",
    ("open",),
    labels=("host", "service"),
)


def family_values(f: Family, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `rows`: the values of its samples in family `f` (one column per sample:
    the causes, the states), and whether it has any (the exit families: only containers that
    exited)."""
    has = np.ones(len(rows), dtype=bool)
    if f is FAILURES:
        values = rows[list(FAILURE_COUNTS)].to_numpy(np.int64)
    elif f is STATE:
        state = rows["state"].to_numpy(dtype=object)
        values = np.stack([state == name for name in STATES], axis=1).astype(np.float64)
        values = values.reshape(len(rows), len(STATES))
    elif f in (EXIT_CODE, EXIT_TIME):
        has = rows["last_exit_ns"].notna().to_numpy()
        values = np.zeros((len(rows), 1), dtype=np.int64 if f is EXIT_CODE else np.float64)
        exited = rows.loc[has, f.columns[0]].to_numpy(np.int64)
        values[has, 0] = exited / NS if f is EXIT_TIME else exited
    else:
        dtype = np.float64 if f.unit == "seconds" else np.int64
        values = rows[f.columns[0]].to_numpy(dtype).reshape(len(rows), 1)
    return values, has


def family_extras(f: Family) -> tuple[str, ...] | None:
    """The values of a family's label beyond its labels, one per column of family_values."""
    return FAILURE_CAUSES if f is FAILURES else STATES if f is STATE else None


class ContainerCollector(Collector):
    """Per container (label set) counters and state, from analytics.totals.series rows: the
    given families, or all of them."""

    def __init__(
        self, rows: pd.DataFrame, families: tuple[Family, ...] = CONTAINER_FAMILIES
    ) -> None:
        self.rows = rows
        self.families = families

    def collect(self) -> Iterator[Metric]:
        labels = self.rows[LABELS].to_numpy(dtype=object).tolist()
        for f in self.families:
            yield family_metric(f, self.rows, labels)


def family_metric(f: Family, rows: pd.DataFrame, labels: Sequence[Sequence[str]]) -> Metric:
    """Family `f` with the samples of `rows` (whose f.labels values are `labels`), in order."""
    metric = f.new()
    values, has = family_values(f, rows)
    extras = family_extras(f)
    for lab, row_values, present in zip(labels, values.tolist(), has.tolist(), strict=True):
        if not present:
            continue
        if extras is None:
            metric.add_metric(lab, row_values[0])
        else:
            for extra, value in zip(extras, row_values, strict=True):
                metric.add_metric([*lab, extra], value)
    return metric


def incident_rows(rows: pd.DataFrame, now_ns: int) -> pd.DataFrame:
    """The INCIDENT family's rows from the series rows: one per host and service."""
    return open_incidents(rows, now_ns)


class IncidentCollector(Collector):
    def __init__(self, rows: pd.DataFrame, now_ns: int) -> None:
        self.rows = rows
        self.now_ns = now_ns

    def collect(self) -> Iterator[Metric]:
        incidents = incident_rows(self.rows, self.now_ns)
        labels = incidents[list(INCIDENT.labels)].to_numpy(dtype=object).tolist()
        yield family_metric(INCIDENT, incidents, labels)


def container_rows(snapshot: Snapshot, retain_s: float = RETAIN_S) -> pd.DataFrame:
    """The snapshot's series rows (analytics.totals.series): one per label set."""
    return series(snapshot.totals, snapshot.now_ns, retain_s)


class StoreHealthCollector(Collector):
    """What the store says about collection: gaps, the newest event; when the series were
    computed. (The spool depth is the collector's own: the store cannot know what it lacks.)"""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

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
        snap = GaugeMetricFamily(
            "docktally_metrics_snapshot_timestamp_seconds",
            "When the container series were computed from the store.",
            unit="seconds",
        )
        snap.add_metric([], self.snapshot.now_ns / NS)
        yield from (gaps, last, snap)
