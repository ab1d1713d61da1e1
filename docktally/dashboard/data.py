"""Cached loaders for the dashboard: the database, read-only, into the frames analytics takes,
and analytics' results for the pages to show.

Pages call these and show what comes back; they compute nothing. Everything here is keyed by
plain values (the database URL, the window in ns, the filters) so Streamlit can cache it.

The big results (history, report, timeline, intervals, failures, the container table) are
cached with st.cache_resource: one copy for every session and rerun, instead of cache_data's
pickled copy per call. Callers get them as shallow copies (`_own`) and never change values in
place.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from docktally.analytics import activity, incident_scopes, status
from docktally.analytics.backoff import POLICY_NAMES
from docktally.analytics.containers import container_table as container_table_of
from docktally.analytics.coverage import coverage_by_host
from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.fleet import FLEET_DETAILS, FleetOverview, fleet_overview_from_parts
from docktally.analytics.fleet import fleet_overview as fleet_overview_of
from docktally.analytics.incidents import find_incident
from docktally.analytics.incidents import incident_failures as incident_failures_of
from docktally.analytics.intervals import intervals_from_timeline
from docktally.analytics.model import History, Window
from docktally.analytics.policies import compare_policies
from docktally.analytics.report import build_report, build_report_with_timeline
from docktally.analytics.select import without_lab
from docktally.analytics.states import exit_code_meaning
from docktally.dashboard.status import STATUS_ENV
from docktally.errors import DocktallyError
from docktally.reports import postmortem as pm_reports
from docktally.store import db, reads

DB_ENV = db.ENV_DB

# Short: the collector writes while we read.
TTL_S = 15
# "Now" moves in steps, so reruns within one step hit the cache instead of reloading.
NOW_STEP_NS = 10 * 1_000_000_000

RANGES = ("1h", "6h", "24h", "7d", "30d", "90d", "365d")
DEFAULT_RANGE = "7d"
POLICIES = POLICY_NAMES
ANY = "(all)"


@dataclass(frozen=True)
class Filters:
    """What the sidebar selected. Empty strings mean "any"."""

    host: str = ""
    project: str = ""
    service: str = ""
    search: str = ""
    policy: str = ""
    # `docktally lab` runs are experiments: left out of the numbers unless asked for.
    include_lab: bool = False

    def key(self) -> tuple[Any, ...]:
        return (self.host, self.project, self.service, self.search, self.policy, self.include_lab)


@dataclass(frozen=True)
class View:
    """Everything a page needs to know to load its data."""

    url: str
    window: Window
    filters: Filters = field(default_factory=Filters)
    by: str = "container"
    slo: float | None = None  # availability target in percent (99.9), as `report --slo` takes it


def database_url() -> str:
    """The URL `docktally dashboard` passed in DOCKTALLY_DB (or the default SQLite file)."""
    return db.resolve_db_url(os.environ.get(DB_ENV) or None)


def now_ns() -> int:
    return time.time_ns() // NOW_STEP_NS * NOW_STEP_NS


def window_for(range_text: str, end_ns: int) -> Window:
    """The `range_text` (7d) before `end_ns`."""
    from docktally.timespec import parse_duration_ns

    return Window(end_ns - parse_duration_ns(range_text), end_ns)


def end_of_range(until: str | None, now: int) -> int:
    """Empty: now; else an ISO time or a duration before now, as --until takes it."""
    from docktally.timespec import parse_instant_ns

    if not until or not until.strip():
        return now
    return parse_instant_ns(until.strip(), now_ns=now, what="Until")


# --- the database ------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def engine(url: str) -> Engine:
    """One read-only Engine per URL for the whole server: connected once, to check the
    database is at head and say what is wrong if not; the reads go through `_reader`."""
    return db.connect(url, readonly=True)


@contextlib.contextmanager
def _reader(url: str) -> Iterator[db.ArrowReader]:
    """A connection of its own for each read (sessions' threads read side by side), through
    Arrow only: store.db.open_reader disposes the engine's connections first."""
    with db.open_reader(engine(url)) as reader:
        yield reader


def open_error(url: str) -> str | None:
    """Why the database cannot be read, or None. A missing file is the first-run case."""
    try:
        engine(url)
    except DocktallyError as exc:
        return str(exc)
    return None


@st.cache_data(ttl=TTL_S, show_spinner=False)
def event_count(url: str) -> int:
    with _reader(url) as reader:
        return reads.count_events(reader)


@st.cache_resource(ttl=TTL_S, max_entries=8, show_spinner=False)
def _history(url: str, start_ns: int, end_ns: int, include_lab: bool = False) -> History:
    # cache_resource, not cache_data: the frames are big and nobody mutates them, so every
    # session shares one copy instead of unpickling its own.
    with _reader(url) as reader:
        h = reads.load_history(reader, start_ns, end_ns)
    return h if include_lab else without_lab(h)


def _matching_ids(table: pd.DataFrame, f: Filters) -> set[tuple[str, str]]:
    return status.matching_containers(
        table, host=f.host, project=f.project, service=f.service, search=f.search, policy=f.policy
    )


def _select(history: History, f: Filters) -> History:
    if f == Filters(include_lab=f.include_lab):
        return history
    return status.select_containers(history, _matching_ids(container_table_of(history), f), f.host)


def history(view: View) -> History:
    h = _history(view.url, view.window.start_ns, view.window.end_ns, view.filters.include_lab)
    return _select(h, view.filters)


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=8)
def _container_table(url: str, start_ns: int, end_ns: int, include_lab: bool) -> pd.DataFrame:
    history = _history(url, start_ns, end_ns, include_lab)
    return container_table_of(history)


def container_table(view: View) -> pd.DataFrame:
    """The window's containers, before the sidebar's filters (but for lab runs)."""
    w = view.window
    return _own(_container_table(view.url, w.start_ns, w.end_ns, view.filters.include_lab))


def _own(df: pd.DataFrame) -> pd.DataFrame:
    """A cached frame for one caller: columns it adds or replaces stay its own (and with
    pandas' copy-on-write, any change)."""
    return df.copy(deep=False)


def selected_containers(view: View) -> pd.DataFrame:
    """The containers the sidebar's filters select, from the cached container table."""
    table = container_table(view)
    if view.filters == Filters(include_lab=view.filters.include_lab):
        return table
    return status.rows_of(table, _matching_ids(table, view.filters))


def filter_options(view: View) -> dict[str, list[str]]:
    """The values the sidebar offers, from what the window holds."""
    table = container_table(view)

    def values(col: str, df: pd.DataFrame = table) -> list[str]:
        return sorted({str(v) for v in df[col].dropna().unique()})

    in_project = (
        table[table["compose_project"] == view.filters.project] if view.filters.project else table
    )
    return {
        "host": values("host"),
        "project": values("compose_project"),
        "service": values("compose_service", in_project),
    }


# --- analytics ----------------------------------------------------------------------------------


def _view_key(view: View) -> tuple[Any, ...]:
    return (
        view.url,
        view.window.start_ns,
        view.window.end_ns,
        view.filters.key(),
        view.by,
        view.slo,
    )


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=8)
def _analysis(key: tuple[Any, ...]) -> tuple[Any, Any]:
    # One timeline per view serves the report, the intervals (and so "down now") and the
    # failures. cache_resource: a report of 10,000 groups and its timeline are big,
    # and nobody mutates them, so sessions share them instead of unpickling copies.
    view = _view_from_key(key)
    h = history(view)
    report_and_timeline: tuple[Any, Any] = build_report_with_timeline(
        h, view.window, by=view.by, slo=view.slo
    )
    return report_and_timeline


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=32)
def _report(key: tuple[Any, ...], every: str) -> Any:
    view = _view_from_key(key)
    h = history(view)
    return build_report(h, view.window, by=view.by, slo=view.slo, every=every)


def _view_from_key(key: tuple[Any, ...]) -> View:
    url, start_ns, end_ns, fkey, by, slo = key
    return View(url, Window(start_ns, end_ns), Filters(*fkey), by, slo)


def report(view: View, every: str | None = None) -> Any:
    """analytics.report.build_report for the view: `.groups`, and `.breakdown` with `every`."""
    if every is None:
        return _analysis(_view_key(view))[0]
    return _report(_view_key(view), every)


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=8)
def _intervals(key: tuple[Any, ...]) -> pd.DataFrame:
    # The report's timeline: an SLO's look-back changes nothing here (intervals and failures
    # are the window's; tests/test_dashboard.py checks it).
    timeline = _analysis(key)[1]
    return intervals_from_timeline(timeline)


def intervals(view: View) -> pd.DataFrame:
    return _own(_intervals(_view_key(view)))


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=8)
def _failures(key: tuple[Any, ...]) -> pd.DataFrame:
    timeline = _analysis(key)[1]
    return failures_from_timeline(timeline)


def failures(view: View) -> pd.DataFrame:
    return _own(_failures(_view_key(view)))


def with_names(df: pd.DataFrame, view: View) -> pd.DataFrame:
    """Add the container's name (and compose labels) to rows keyed by host + container_id."""
    if "name" in df.columns:
        return df
    table = container_table(view)
    names = table[["host", "container_id", "name", "compose_project", "compose_service"]]
    return df.merge(names.astype(object), on=["host", "container_id"], how="left")


# Rows a table sends to the browser at most: 10,000 rows (a big fleet) took a browser 8-11 s to
# show and a second of the page's first render to serialise; the sidebar's filters narrow a
# selection, `docktally report --format csv` gives every row.
ROW_LIMIT = 1000


def worst_first(table: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """At most `limit` rows (ROW_LIMIT by default): when the table is longer, the ones with
    the lowest availability, in the table's order."""
    limit = ROW_LIMIT if limit is None else limit
    if len(table) <= limit:
        return table
    if "availability" not in table.columns:
        return table.head(limit)
    keep = table["availability"].rank(method="first", na_option="bottom") <= limit
    return table[keep.to_numpy()]


def first_rows(table: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """At most `limit` rows (ROW_LIMIT by default), the first ones."""
    return table.head(ROW_LIMIT if limit is None else limit)


def fleet(rep: Any) -> dict[str, Any]:
    """The whole selection in one row, as analytics summed it."""
    return dict(getattr(rep, "fleet", None) or {})


def key_columns(groups: pd.DataFrame) -> list[str]:
    """The columns that name a group (container, service, host, ...): the ones before the
    metrics."""
    cols = list(groups.columns)
    return cols[: cols.index("uptime_s")] if "uptime_s" in cols else cols[:1]


def downtime_by_cause(rep: Any) -> pd.DataFrame:
    """Seconds of downtime per cause over the whole selection."""
    return status.downtime_by_cause(fleet(rep), rep.groups)


def down_now(view: View) -> pd.DataFrame:
    """Containers whose last state in the window is down or unhealthy, longest first."""
    iv = intervals(view)
    if not len(iv):
        return pd.DataFrame(columns=["host", "container_id", "name", "state", "cause", "since"])
    last = with_names(status.down_now(iv, view.window.end_ns), view)
    out = last[["name", "host", "container_id", "state", "cause", "start_ns"]].copy()
    out["container_id"] = out["container_id"].astype(str).str[:12]
    out["since"] = pd.to_datetime(out.pop("start_ns"), unit="ns", utc=True)
    return out.reset_index(drop=True)


def unknown_now(view: View) -> int:
    """How many containers of the selection nobody watches at the end of the range."""
    return status.unknown_now(intervals(view), view.window.end_ns)


def exit_codes(view: View) -> pd.DataFrame:
    """Failures counted by exit code and cause, with what each code means."""
    return status.exit_code_counts(failures(view))


# --- the collector ------------------------------------------------------------------------------


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _coverage_rows(url: str) -> pd.DataFrame:
    with _reader(url) as reader:
        return reads.load_coverage_rows(reader)


def coverage_rows(url: str, host: str = "") -> pd.DataFrame:
    """Every coverage row as stored (of `host` only, when given)."""
    return status.of_host(_coverage_rows(url), host)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _gap_rows(url: str) -> pd.DataFrame:
    with _reader(url) as reader:
        return reads.load_gaps(reader)


def gap_rows(url: str, host: str = "") -> pd.DataFrame:
    """The gaps the collectors recorded (of `host` only, when given)."""
    return status.of_host(_gap_rows(url), host)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def last_events(url: str, limit: int = 20, host: str = "") -> pd.DataFrame:
    with _reader(url) as reader:
        return reads.last_events(reader, limit, host)


def watching(url: str, now: int, host: str = "") -> pd.DataFrame:
    """Coverage rows of collectors that are watching now (open, with a fresh heartbeat), of
    `host` only when given."""
    return status.watching(coverage_rows(url, host), now)


def collector_status(env: dict[str, str] | None = None) -> dict[str, Any] | None:
    """What `docktally up` says about its collector (None when not run by `up`)."""
    env = dict(os.environ) if env is None else env
    path = env.get(STATUS_ENV)
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def engine_status_table(status: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "engine": str(e.get("url") or "(DOCKER_HOST)"),
            "state": str(e.get("state", "?")),
            "detail": str(e.get("detail") or ""),
            "since": pd.to_datetime(int(e.get("since_ns") or 0), unit="ns", utc=True),
        }
        for e in status.get("engines", [])
        if isinstance(e, dict)
    ]
    return pd.DataFrame(rows, columns=["engine", "state", "detail", "since"])


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=8)
def _event_bins(key: tuple[Any, ...]) -> tuple[pd.DataFrame, str]:
    view = _view_from_key(key)
    return activity.events_per_bin(history(view).events, view.window), activity.bin_for(
        view.window
    )[1]


def event_bins(view: View) -> tuple[pd.DataFrame, str]:
    """Events of the selection per host and time bin (a bin size that fits the range), and
    the bin's name."""
    return _event_bins(_view_key(view))


def watched_spans(view: View) -> pd.DataFrame:
    """Per host of the selection, the range cut into watched spans and gaps."""
    hosts = list(selected_containers(view)["host"].astype(str).unique())
    return activity.watched_spans(history(view).coverage, view.window, hosts)


def coverage_summary(view: View) -> pd.DataFrame:
    """Per host: how much of the window a collector (or an import) covered."""
    return coverage_by_host(history(view).coverage, view.window)


@st.cache_resource(ttl=TTL_S, show_spinner=False, max_entries=8)
def _fleet_overview(key: tuple[Any, ...]) -> FleetOverview:
    view = _view_from_key(key)
    if view.filters.key() == Filters().key():  # the whole fleet: the day summaries serve it
        from_summaries = _fleet_from_summaries(view.url, view.window)
        if from_summaries is not None:
            return from_summaries
    return fleet_overview_of(history(view), view.window)


def _fleet_from_summaries(url: str, window: Window) -> FleetOverview | None:
    """The overview from the store's day summaries and the other days' events (the same
    numbers as from the events); None when no built day is inside or they do not serve it."""
    from docktally.analytics.daily import serves
    from docktally.store import summaries

    with _reader(url) as reader:
        parts = summaries.report_parts(
            reader, window, [], None, "service", detail_parts=FLEET_DETAILS
        )
        if parts is None or not serves(parts, "service"):
            return None
        coverage = reads.load_coverage(reader, window.start_ns, window.end_ns)
        restarts = reads.load_engine_restarts(reader, window.start_ns, window.end_ns)
    return fleet_overview_from_parts(parts, window, coverage, restarts)


def fleet_overview(view: View) -> FleetOverview:
    """analytics.fleet's overview of the selection: hosts, engine restarts, worst services."""
    return _fleet_overview(_view_key(View(view.url, view.window, view.filters)))


# --- timeline, incidents, policies -------------------------------------------------------------

TIMELINE_MAX_CONTAINERS = 40


@dataclass(frozen=True)
class TimelineData:
    intervals: pd.DataFrame
    failures: pd.DataFrame
    shown: int
    total: int


def timeline(view: View, limit: int = TIMELINE_MAX_CONTAINERS) -> TimelineData:
    """Intervals and failures of at most `limit` containers: the ones with the most time not up
    (a browser cannot draw a thousand rows usefully)."""
    iv = intervals(view)
    fl = failures(view)
    total = len(iv[["host", "container_id"]].drop_duplicates())
    if total > limit:
        pick = status.most_time_not_up(iv, limit)
        iv, fl = status.rows_of(iv, pick), status.rows_of(fl, pick)
    shown = min(total, limit)
    return TimelineData(with_names(iv.reset_index(drop=True), view), fl, shown, total)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def _incidents(key: tuple[Any, ...]) -> pd.DataFrame:
    view = _view_from_key(key)
    # Incidents of a service are per host (--by host,service), whatever the grouping.
    scope = "service" if view.by in ("service", "host,service") else "container"
    return incident_scopes.incidents_from_timeline(
        _analysis(key)[1],
        scope=scope,
        slo=None if view.slo is None else view.slo / 100.0,  # incidents take a ratio
        exit_meaning=exit_code_meaning,
        engine_restarts=history(view).engine_restarts,
    )


def incidents(view: View) -> pd.DataFrame:
    """Incidents in the window, newest first."""
    df = _incidents(_view_key(view))
    return df.sort_values("start_ns", ascending=False, kind="stable").reset_index(drop=True)


def incident_table(df: pd.DataFrame) -> pd.DataFrame:
    """The incident list as shown, in the order shown: lists and dicts as text, times as
    datetimes. Its end and restarts are left to the postmortem under it: with them the list
    was wider than the page at 1,400 px. The id, last, is for the page, not shown."""
    cols = [
        "key",
        "start_ns",
        "downtime_s",
        "failures",
        "crash_loop",
        "causes",
        "exit_codes",
        "policy",
        "open",
        "host",
        "id",
    ]
    out = df[[c for c in cols if c in df.columns]].copy()
    for col in ("causes", "exit_codes"):
        if col in out.columns:
            out[col] = out[col].map(lambda v: ", ".join(f"{k}: {n}" for k, n in dict(v).items()))
    out["start_ns"] = pd.to_datetime(out["start_ns"], unit="ns", utc=True)
    return out.rename(columns={"start_ns": "start"})


def incident(view: View, incident_id: str) -> pd.Series | None:
    found: pd.Series | None = find_incident(_incidents(_view_key(view)), incident_id)
    return found


def incident_failures(view: View, inc: pd.Series) -> pd.DataFrame:
    df: pd.DataFrame = incident_failures_of(failures(view), inc)
    return df


def incident_timeline(view: View, inc: pd.Series) -> TimelineData:
    """The incident's containers, from a little before its first failure to its end."""
    pad = 60 * 1_000_000_000
    start = max(view.window.start_ns, int(inc["start_ns"]) - pad)
    end_ns = inc["end_ns"]
    end = view.window.end_ns if pd.isna(end_ns) else min(view.window.end_ns, int(end_ns) + pad)
    sub = View(view.url, Window(start, max(end, start + 1)), view.filters, view.by, view.slo)
    iv = intervals(sub)
    fl = failures(sub)
    ids = set(inc["container_ids"])
    iv = iv[(iv["host"] == inc["host"]) & iv["container_id"].isin(ids)]
    fl = fl[(fl["host"] == inc["host"]) & fl["container_id"].isin(ids)] if len(fl) else fl
    return TimelineData(with_names(iv.reset_index(drop=True), view), fl, len(ids), len(ids))


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def _postmortem(key: tuple[Any, ...], incident_id: str) -> Any:
    view = _view_from_key(key)
    incidents_df = _incidents(key)
    row = find_incident(incidents_df, incident_id)
    if row is None:
        return None
    start_ns, end_ns = pm_reports.evidence_span(row)
    with _reader(view.url) as reader:
        tails, probes = reads.load_incident_evidence(
            reader,
            host=str(row["host"]),
            container_ids=row["container_ids"],
            start_ns=start_ns,
            end_ns=end_ns,
        )
    return pm_reports.build_postmortem(
        history(view).events,
        failures(view),
        incidents_df,
        row,
        view.window,
        tails,
        health_probes=probes,
    )


def postmortem(view: View, incident_id: str) -> Any:
    """reports.postmortem's Postmortem of one incident: timeline, recovery breakdown, log tails."""
    return _postmortem(_view_key(view), incident_id)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def _rendered(key: tuple[Any, ...], incident_id: str, fmt: str) -> str:
    pm = _postmortem(key, incident_id)
    return "" if pm is None else str(pm_reports.render(pm, fmt))


def render_postmortem(view: View, incident_id: str, fmt: str) -> str:
    """The postmortem as `markdown` or `html`, exactly as `docktally postmortem` writes it."""
    return _rendered(_view_key(view), incident_id, fmt)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=16)
def _policies(key: tuple[Any, ...], retries: int, manual_mttr_s: float | None) -> dict[str, Any]:
    view = _view_from_key(key)
    result: dict[str, Any] = compare_policies(
        failures(view),
        intervals(view),
        history(view).facts,
        view.window,
        retries=retries,
        manual_mttr_s=manual_mttr_s,
    )
    return result


def policies(view: View, retries: int, manual_mttr_s: float | None = None) -> dict[str, Any]:
    """Observed outcomes by policy in effect, and the what-if replay under every policy."""
    return _policies(_view_key(view), retries, manual_mttr_s)


def parse_labels(raw: object) -> dict[str, Any]:
    """The labels column (JSON text from inspect, or missing) as a dict."""
    if not isinstance(raw, str) or not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
