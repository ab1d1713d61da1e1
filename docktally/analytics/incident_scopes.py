"""Incidents of a timeline, by scope: per container from its failures; per service from the
service's own failures on each host (analytics.service_state, the same ones
`report --by host,service` counts).
Engine restarts make their own incidents in both scopes (analytics.incidents)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incidents import (
    DEFAULT_BUDGET_PERIOD_S,
    DEFAULT_STABLE_S,
    INCIDENT_COLUMNS,
    SCOPES,
    _overlaps,
    group_incidents,
)
from docktally.analytics.intervals import intervals_from_timeline
from docktally.analytics.service_state import service_failures, service_intervals, service_timeline
from docktally.analytics.timeline import Timeline


def incidents_from_timeline(
    tl: Timeline,
    *,
    scope: str = "container",
    stable_s: float = DEFAULT_STABLE_S,
    slo: float | None = None,
    exit_meaning: Callable[[int], str] | None = None,
    engine_restarts: pd.DataFrame | None = None,
    budget_period_s: float = DEFAULT_BUDGET_PERIOD_S,
) -> pd.DataFrame:
    """INCIDENT_COLUMNS, oldest first. With scope "service", one replica of two crashing is no
    service incident: the service stays up while any of its containers is."""
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    window = tl.window
    failures = failures_from_timeline(tl)
    intervals = intervals_from_timeline(tl)

    def group(
        f: pd.DataFrame, scope: str, iv: pd.DataFrame, restarts: pd.DataFrame | None
    ) -> pd.DataFrame:
        return group_incidents(
            f,
            window,
            scope=scope,
            stable_s=stable_s,
            slo=slo,
            exit_meaning=exit_meaning,
            intervals=iv,
            engine_restarts=restarts,
            budget_period_s=budget_period_s,
        )

    if scope == "container":
        return group(failures, "container", intervals, engine_restarts)
    engine = failures["cause"].astype(str) == "engine_restart"
    by_engine = group(failures[engine], "container", intervals, engine_restarts)
    sv = service_timeline(tl)
    sf = service_failures(tl, sv)
    own = sf[sf["cause"].astype(str) != "engine_restart"]
    by_service = group(own, "service", service_intervals(sv, window.start_ns), None)
    parts = [p for p in (by_engine, by_service) if len(p)]
    if not parts:
        return pd.DataFrame(columns=INCIDENT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["overlapping"] = _overlaps(out, window)
    return out.sort_values(["start_ns", "id"], kind="stable").reset_index(drop=True)
