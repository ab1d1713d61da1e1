"""The fleet overview: each host's availability, watched time and engine restarts, and the
services that were least available across hosts. Pure: a History and a Window in.

From the events (`fleet_overview`), or from the store's day summaries and the partial days'
parts (`fleet_overview_from_parts`, analytics.daily): the same numbers, without reading a
year of events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics.coverage import coverage_by_host
from docktally.analytics.daily import FAIL_CAUSE, KEY, Parts, failures_by_cause, report_from_parts
from docktally.analytics.model import History, Window
from docktally.analytics.report import containers_with_time, timeline_groups
from docktally.analytics.timeline import CAUSE_NAMES, Timeline, build_timeline

HOST_COLUMNS = [
    "host",
    "availability",  # ratio 0..1 of the host's container time (null without up or down time)
    "uptime_s",
    "downtime_s",
    "unknown_s",
    "failures",  # container failures
    "restarts",
    "containers",  # containers with time in the window
    "services",  # service keys with time in the window
    "watched_ratio",  # share of the window a collector (or an import) covered
    "engine_restarts",  # engine restarts the collector saw begin in the window
    "engine_restart_failures",  # containers the engine's restarts took down (failures)
]
SERVICE_COLUMNS = [
    "service",
    "hosts",  # on how many hosts it ran in the window
    "host_names",  # those hosts, comma-separated
    "availability",  # of the service across hosts: up while any replica on any host is up
    "uptime_s",
    "downtime_s",
    "failures",  # service failures (every replica on every host down)
    "restarts",
    "oom_kills",
]
WORST_SERVICES = 10
# The details of the parts the overview reads (analytics.daily): only the failures by cause,
# for the engine's restarts; it shows no exit codes or causes of downtime.
FLEET_DETAILS = (FAIL_CAUSE,)


@dataclass(frozen=True)
class FleetOverview:
    window: Window
    hosts: pd.DataFrame  # HOST_COLUMNS, the least available first
    services: pd.DataFrame  # SERVICE_COLUMNS, the least available first
    # The services that were down at all, the least available first, at most WORST_SERVICES.
    worst_services: pd.DataFrame
    totals: dict[str, Any] = field(default_factory=dict)


def fleet_overview(history: History, window: Window, worst: int = WORST_SERVICES) -> FleetOverview:
    """Per host: the report's `--by host` numbers, how much of the window was watched, engine
    restarts; per service across hosts: the report's `--by service` numbers and its hosts."""
    tl = build_timeline(history, window)
    c = tl.containers
    real = containers_with_time(tl)
    live = pd.DataFrame(
        {
            "host": c["host"].astype(str).to_numpy(dtype=object)[real],
            "service": c["service"].astype(str).to_numpy(dtype=object)[real],
        }
    )

    return _overview(
        window,
        by_host=timeline_groups(tl, "host"),
        by_service=timeline_groups(tl, "service"),
        live=live,
        coverage=history.coverage,
        engine_restarts=_engine_restarts(history.engine_restarts, window),
        engine_restart_failures=_engine_restart_failures(tl),
        worst=worst,
    )


def fleet_overview_from_parts(
    parts: Parts,
    window: Window,
    coverage: pd.DataFrame,
    engine_restarts: pd.DataFrame,
    worst: int = WORST_SERVICES,
) -> FleetOverview:
    """fleet_overview from the parts of pieces that tile the window, with the services' own
    (report_parts(..., by="service")); coverage and engine restarts as History holds them."""
    # The containers with time in the window, and each one's service (its latest piece's).
    r = parts.rows
    r = r[(r["start_ns"] >= window.start_ns) & (r["start_ns"] < window.end_ns)]
    has = (r["real"].to_numpy() > 0) | (r["lead"].to_numpy() > 0)
    latest = r[has].sort_values("start_ns", kind="stable").drop_duplicates(KEY, keep="last")
    live = pd.DataFrame(
        {
            "host": latest["host"].astype(str).to_numpy(dtype=object),
            "service": latest["service"].astype(str).to_numpy(dtype=object),
        }
    )
    metric_drop = ["stops", "forced_stops", "stop_mean_s", "stop_max_s"]
    by_host = report_from_parts(parts, window, by="host").groups.drop(columns=metric_drop)
    by_service = report_from_parts(parts, window, by="service").groups.drop(columns=metric_drop)
    return _overview(
        window,
        by_host=by_host,
        by_service=by_service,
        live=live,
        coverage=coverage,
        engine_restarts=_engine_restarts(engine_restarts, window),
        engine_restart_failures=failures_by_cause(parts, window, "host", "engine_restart"),
        worst=worst,
    )


def _overview(
    window: Window,
    *,
    by_host: pd.DataFrame,
    by_service: pd.DataFrame,
    live: pd.DataFrame,
    coverage: pd.DataFrame,
    engine_restarts: pd.Series,
    engine_restart_failures: pd.Series,
    worst: int,
) -> FleetOverview:
    """The overview from the report's groups by host and by service and the containers with
    time (`live`: host, service)."""
    hosts = by_host[["host", "availability", "uptime_s", "downtime_s", "unknown_s"]].copy()
    hosts["failures"] = by_host["failures"].to_numpy(dtype=np.int64)
    hosts["restarts"] = by_host["restarts"].to_numpy(dtype=np.int64)
    host_of = hosts["host"].astype(str)
    hosts["containers"] = host_of.map(live.groupby("host").size()).fillna(0)
    hosts["services"] = host_of.map(live.groupby("host")["service"].nunique()).fillna(0)
    cov = coverage_by_host(coverage, window)
    watched = pd.Series(cov["covered_pct"].to_numpy() / 100.0, index=cov["host"].astype(str))
    hosts["watched_ratio"] = host_of.map(watched).fillna(0.0)
    hosts["engine_restarts"] = host_of.map(engine_restarts).fillna(0)
    hosts["engine_restart_failures"] = host_of.map(engine_restart_failures).fillna(0)
    for col in ("containers", "services", "engine_restarts", "engine_restart_failures"):
        hosts[col] = hosts[col].astype(np.int64)
    hosts = _least_available_first(hosts, "host")[HOST_COLUMNS]

    names = live.groupby("service")["host"].agg(lambda h: sorted(set(h)))
    on = by_service["service"].astype(str).map(names)
    on = on.map(lambda h: h if isinstance(h, list) else [])
    services = by_service[["service"]].copy()
    services["hosts"] = on.map(len).astype(np.int64)
    services["host_names"] = on.map(", ".join)
    for col in SERVICE_COLUMNS[3:]:
        services[col] = by_service[col]
    services = _least_available_first(services, "service")[SERVICE_COLUMNS]
    down = services[(services["downtime_s"] > 0) | (services["failures"] > 0)]

    up, downtime = float(hosts["uptime_s"].sum()), float(hosts["downtime_s"].sum())
    totals = {
        "hosts": len(hosts),
        "containers": len(live),
        "services": len(services),
        "availability": up / (up + downtime) if up + downtime > 0 else None,
        "failures": int(hosts["failures"].sum()),
        "engine_restarts": int(hosts["engine_restarts"].sum()),
    }
    return FleetOverview(
        window=window,
        hosts=hosts,
        services=services,
        worst_services=down.head(worst).reset_index(drop=True),
        totals=totals,
    )


def _least_available_first(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Lowest availability first (none last), then the most downtime, then by name."""
    return df.sort_values(
        ["availability", "downtime_s", name],
        ascending=[True, False, True],
        na_position="last",
        kind="stable",
    ).reset_index(drop=True)


def _engine_restarts(er: pd.DataFrame, window: Window) -> pd.Series:
    """Per host: the engine restarts (History.engine_restarts) that began in the window."""
    if not len(er):
        return pd.Series(dtype=np.int64)
    start = er["start_ns"].to_numpy(dtype=np.int64)
    inside = er[(start >= window.start_ns) & (start < window.end_ns)]
    return inside.groupby(inside["host"].astype(str)).size()


def _engine_restart_failures(tl: Timeline) -> pd.Series:
    """Per host: container failures in the window whose cause is the engine's restart."""
    f = tl.failures
    code = int(np.flatnonzero(CAUSE_NAMES == "engine_restart")[0])
    t = f["time_ns"].to_numpy(dtype=np.int64)
    hit = (f["cause"].to_numpy() == code) & (t >= tl.window.start_ns) & (t < tl.window.end_ns)
    hosts = tl.containers["host"].astype(str).to_numpy(dtype=object)
    on = hosts[f["ck"].to_numpy(dtype=np.int64)[hit]]
    return pd.Series(on, dtype=object).value_counts()
