"""Pieces every page shares: the sidebar filters (kept in the URL), the empty state, banners,
and safe ways to show user data (container names and labels are only ever shown as text)."""

from __future__ import annotations

import time
from typing import Any, NoReturn

import pandas as pd
import streamlit as st

from docktally.dashboard import data, server
from docktally.dashboard import status as status_mod
from docktally.dashboard.data import ANY, Filters, View
from docktally.errors import DocktallyError
from docktally.reports import humane

_VIEW_KEY = "_docktally_view"
_RENDERED_KEY = "_docktally_rendered_at"
REFRESH_S = data.TTL_S

EMPTY_STATE = """\
**No container events in this database yet.** docktally learns about containers from the Docker
engine's own events. Get some with one of:
"""
HOW_TO_GET_DATA = """\
docktally collect             # watch the engine DOCKER_HOST names, until Ctrl-C
docktally up                  # collect and serve this dashboard together
docktally lab                 # run a restart-policy experiment on the engine
docktally import FILE         # load `docker events --format '{{json .}}'` lines
"""

# --- the sidebar --------------------------------------------------------------------------------


def _choice(label: str, key: str, options: list[str], help_text: str) -> str:
    value = st.sidebar.selectbox(
        label, [ANY, *options], key=key, bind="query-params", help=help_text
    )
    return "" if value in (None, ANY) else str(value)


def sidebar(url: str, *, live_default: bool) -> View:
    """Render the filters (under the sidebar's "Filters" heading, which app.py writes) and
    return the view they select. Widgets are bound to the URL's query parameters, so a link
    reproduces the view."""
    rng = st.sidebar.selectbox(
        "Time range",
        list(data.RANGES),
        index=data.RANGES.index(data.DEFAULT_RANGE),
        key="range",
        bind="query-params",
        help="how far back from now",
    )
    until = st.sidebar.text_input(
        "Until",
        key="until",
        bind="query-params",
        placeholder="now",
        help="end of the range: empty for now, or an ISO time such as 2026-11-01T12:00",
    )
    now = data.now_ns()
    try:
        end = data.end_of_range(until, now)
    except DocktallyError as exc:
        st.sidebar.error(str(exc))
        end = now
    include_lab = st.sidebar.toggle(
        "Include lab runs",
        key="lab",
        bind="query-params",
        help="count the containers of `docktally lab` experiments too (left out by default: "
        "they are not the fleet)",
    )
    # The lists below offer what the selection holds: with the lab's containers when they count.
    base = View(
        url=url,
        window=data.window_for(str(rng), end),
        filters=Filters(include_lab=bool(include_lab)),
    )
    options = data.filter_options(base) if data.open_error(url) is None else {}
    host = _choice("Host", "host", options.get("host", []), "the engine's host")
    project = _choice("Compose project", "project", options.get("project", []), "")
    service_opts = (
        data.filter_options(
            View(url, base.window, Filters(project=project, include_lab=bool(include_lab)))
        ).get("service", [])
        if options
        else []
    )
    service = _choice("Compose service", "service", service_opts, "")
    search = st.sidebar.text_input(
        "Container", key="q", bind="query-params", help="name contains, or an id prefix"
    )
    policy = _choice("Restart policy", "policy", list(data.POLICIES), "policy in effect")
    by = st.sidebar.radio(
        "Group by",
        ["container", "service", "host,service"],
        key="by",
        bind="query-params",
        horizontal=True,
        help="service: one row per service across hosts; host,service: one per host",
    )
    slo_pct = st.sidebar.number_input(
        "SLO target (% availability)",
        min_value=0.001,
        max_value=99.999,
        value=None,
        step=0.1,
        format="%.3f",
        key="slo",
        bind="query-params",
        help="leave empty for no SLO",
    )
    st.sidebar.divider()
    live = st.sidebar.toggle(
        "Auto-refresh",
        value=live_default,
        key="live",
        help=f"reload the data every {REFRESH_S} s while the collector runs",
    )
    view = View(
        url=url,
        window=base.window,
        filters=Filters(host, project, service, (search or "").strip(), policy, bool(include_lab)),
        by=str(by or "container"),
        slo=None if slo_pct is None else float(slo_pct),
    )
    st.session_state[_VIEW_KEY] = view
    st.session_state[_RENDERED_KEY] = time.monotonic()
    if live:
        with st.sidebar:
            _auto_refresh()
    return view


@st.fragment(run_every=REFRESH_S)
def _auto_refresh() -> None:
    # The fragment runs with the page, then every REFRESH_S seconds on its own: those later runs
    # rerun the whole app, which reloads the (by then expired) cached data.
    rendered = st.session_state.get(_RENDERED_KEY, 0.0)
    if time.monotonic() - float(rendered) >= REFRESH_S - 1:
        st.rerun(scope="app")


# --- what pages call ---------------------------------------------------------------------------


def stop_with_empty_state(url: str, problem: str | None = None) -> NoReturn:
    st.title("docktally")
    if problem:
        st.info("The dashboard cannot read the database yet:")
        st.text(problem)
    st.markdown(EMPTY_STATE)
    st.code(HOW_TO_GET_DATA, language="bash")
    st.caption("Database:")
    st.text(server.safe_url(url))
    st.stop()
    raise AssertionError("unreachable")


def current_view() -> View:
    """The view the sidebar selected; a first-time user gets the empty state instead."""
    view: View | None = st.session_state.get(_VIEW_KEY)
    url = view.url if view else data.database_url()
    problem = data.open_error(url)
    if view is None or problem is not None or data.event_count(url) == 0:
        stop_with_empty_state(url, problem)
    assert view is not None
    return view


def page(title: str) -> View:
    """current_view() under the page's title and the range it shows."""
    view = current_view()
    st.title(title)
    st.caption(window_caption(view))
    return view


def nothing_selected(view: View) -> None:
    st.info(
        "No containers match these filters in this time range. "
        "Widen the time range or clear the filters in the sidebar."
    )


def collector_banner(url: str) -> None:
    """Say so when no collector is watching: the numbers then stop at the last event."""
    status = data.collector_status()
    if status is not None:
        for eng in status.get("engines", []):
            if eng.get("state") == status_mod.UNREACHABLE:
                st.warning(
                    "The collector cannot reach the Docker engine; it keeps retrying. "
                    "The dashboard shows what is stored. See the Collector page."
                )
                return
        return
    if data.open_error(url) is None and not len(data.watching(url, time.time_ns())):
        st.caption("No collector is watching right now: data ends at the last stored event.")


fmt_duration = humane.duration
fmt_pct = humane.percent


def window_caption(view: View) -> str:
    w = view.window
    return f"{humane.when(w.start_ns)} to {humane.when(w.end_ns)}"


# A metric's width: its row wraps onto another line where the window has no room for them all.
# In st.columns a narrow window cut the values instead ("80.2…" at 1,024 px).
METRIC_PX = 150


def metric_row(n: int) -> list[Any]:
    """n places for st.metric side by side, wrapping in a narrow window."""
    row = st.container(horizontal=True, horizontal_alignment="distribute")
    return [row.container(width=METRIC_PX) for _ in range(n)]


def fleet_metrics(fleet: dict[str, Any], *, slo: float | None) -> None:
    cols = metric_row(5)
    cols[0].metric("Availability", fmt_pct(fleet.get("availability")))
    cols[1].metric("Failures", str(int(fleet.get("failures") or 0)))
    cols[2].metric("MTBF", fmt_duration(fleet.get("mtbf_s")))
    cols[3].metric("MTTR", fmt_duration(fleet.get("mttr_s")))
    if slo is None:
        cols[4].metric("SLO", "not set", help="set a target in the sidebar")
    else:
        avail = fleet.get("availability")
        met = avail is not None and not pd.isna(avail) and 100.0 * float(avail) >= slo
        cols[4].metric(
            f"SLO {slo:g}%",
            "met" if met else ("no data" if avail is None or pd.isna(avail) else "missed"),
        )


# What a grid shows where a value is missing (a recovery still to come, no compose project):
# st.dataframe draws its own grey "None" there, whatever a Styler says.
MISSING = "—"

# Rows a table shows before it scrolls (inside itself): every row stays reachable.
TABLE_ROWS = 15
_ROW_PX = 35


def _display(col: str, values: pd.Series) -> Any:
    """How a column's values read: by its name's convention (`_s` seconds, `_ns` instants)."""
    if col.endswith("_s"):
        return humane.duration
    if col.endswith("_pct"):
        return lambda v: humane.percent(v / 100.0)
    if col in ("availability", "recovered_without_person_ratio") or col.endswith("_ratio"):
        return humane.percent
    if col == "container_id":
        return humane.short_id
    if pd.api.types.is_datetime64_any_dtype(values):
        return lambda t: "-" if pd.isna(t) else t.strftime("%Y-%m-%d %H:%M:%S UTC")
    return None


# A report's groups as read left to right: who, how available, how it failed, then the rest;
# ids last. Columns not listed (confidence bounds, per-cause dicts) stay in the CSV and JSON.
GROUP_ORDER = [
    "container",
    "service",
    "image",
    "policy",
    "availability",
    "downtime_s",
    "failures",
    "restarts",
    "mttr_s",
    "mtbf_s",
    "uptime_s",
    "planned_s",
    "unknown_s",
    "oom_kills",
    "exit_codes",
    "budget_left_s",
    "host",
    "container_id",
]


def group_columns(columns: list[str], leave_out: tuple[str, ...] = ()) -> list[str]:
    return [c for c in GROUP_ORDER if c in columns and c not in leave_out]


def _as_text(col: str, v: Any) -> Any:
    """Dicts and lists as one line: `crash 2h 14m, oom 5s` for seconds, `137×3` for counts."""
    if isinstance(v, dict | list | tuple) and not v:
        return None  # nothing to list: the grid's MISSING mark
    if isinstance(v, dict):
        if col.endswith("_s"):
            return ", ".join(f"{k} {humane.duration(x)}" for k, x in v.items())
        return humane.counts(dict(v))
    if isinstance(v, list | tuple):
        return ", ".join(map(str, v))
    return v


# Columns of names someone else chose (containers, services, images, hosts). A grid sizes a
# column to its longest value, so one 80-character compose name pushed the other columns out
# of sight: past NAME_CHARS characters the column gets NAME_PX and its names end in "…".
# The cell keeps the whole name; the Overview's and the Incidents' selectors show it in full.
NAME_COLUMNS = frozenset(
    {
        "name",
        "container",
        "key",
        "label",
        "service",
        "compose_service",
        "project",
        "compose_project",
        "image",
        "host",
        "host_names",
    }
)
NAME_CHARS = 28
NAME_PX = 180


def _name_width(col: str, values: pd.Series) -> int | None:
    """NAME_PX for a column of long names; None (sized to its values) for any other."""
    if col not in NAME_COLUMNS or not len(values):
        return None
    longest = max(len(str(v)) for v in values)
    return NAME_PX if longest > NAME_CHARS else None


def table(
    df: pd.DataFrame,
    *,
    hide: tuple[str, ...] = (),
    shown_as: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """st.dataframe for people: durations as `2h 14m`, instants as dates, ratios in percent,
    ids short, headers in words. The cells keep their numbers, so sorting by a column sorts
    by value (only what is shown is formatted). `shown_as` (column -> value to text) replaces
    a column's usual form."""
    df = df[[c for c in df.columns if c not in hide]].copy()
    formats: dict[str, Any] = {}
    for col in df.columns:
        name = str(col)
        if name.endswith("_ns") and pd.api.types.is_numeric_dtype(df[col]):
            # As datetimes: a grid cannot hold nanosecond integers (past 2**53) as numbers.
            df[col] = pd.to_datetime(df[col], unit="ns", utc=True)
        if df[col].dtype == object and any(isinstance(v, dict | list | tuple) for v in df[col]):
            df[col] = [_as_text(name, v) for v in df[col]]
            continue
        fmt = (shown_as or {}).get(name) or _display(name, df[col])
        if fmt is not None:
            formats[col] = fmt
    config: dict[Any, Any] = {
        c: st.column_config.Column(humane.header(str(c)), width=_name_width(str(c), df[c]))
        for c in df.columns
    }
    # A page's own settings win, over ours for the rest (a header in words keeps the width).
    for col, own in (kwargs.pop("column_config", {}) or {}).items():
        mine = config.get(col, {})
        config[col] = {**mine, **{k: v for k, v in own.items() if v is not None}}
    height = (min(len(df), TABLE_ROWS) + 1) * _ROW_PX + 3
    kwargs.setdefault("hide_index", True)
    kwargs.setdefault("placeholder", MISSING)
    return st.dataframe(
        df.style.format(na_rep=MISSING).format(formats, na_rep=MISSING),
        column_config=config,
        height=height,
        **kwargs,
    )


def fmt_time(ns: Any) -> str:
    return humane.when(ns, seconds=True)


def incident_label(incidents: pd.DataFrame, incident_id: str) -> str:
    row = incidents[incidents["id"] == incident_id].iloc[0]
    return (
        f"{row['key']}, {humane.when(row['start_ns'])}, "
        f"{humane.plural(int(row['failures']), 'failure')} ({incident_id})"
    )


def incident_summary(inc: pd.Series) -> None:
    """The incident's facts, as text and metrics (names go through st.text, never markdown)."""
    st.text(f"{inc['id']}: {inc['scope']} {inc['key']} on {inc['host']}")
    cols = metric_row(4)
    cols[0].metric("Failures", str(int(inc["failures"])))
    cols[1].metric("Restarts", str(int(inc["restarts"])))
    cols[2].metric("Downtime", fmt_duration(inc["downtime_s"]))
    cols[3].metric("State", "open" if bool(inc["open"]) else "recovered")
    st.text(
        f"From {fmt_time(inc['start_ns'])} to "
        f"{'now (still down)' if bool(inc['open']) else fmt_time(inc['end_ns'])}; "
        f"policy {inc['policy']}; crash loop: {'yes' if bool(inc['crash_loop']) else 'no'}"
    )
    meanings = dict(inc["exit_meanings"] or {})
    for code, n in dict(inc["exit_codes"] or {}).items():
        st.text(f"exit {code} x{n}: {meanings.get(code, '')}")
    for cause, n in dict(inc["causes"] or {}).items():
        st.text(f"cause {cause} x{n}")


def row_limit_note(shown: int, total: int, which: str) -> None:
    st.caption(
        f"{shown:,} of {total:,} rows shown ({which}). Narrow the selection in the sidebar, "
        "or get every row with `docktally report --format csv`."
    )


def container_details(containers: pd.DataFrame) -> None:
    """The selection's containers, and one container's labels. Labels come from whoever ran
    the container, so they go through st.json, which shows them as text."""
    if not len(containers):
        return
    shown = data.first_rows(containers)
    if len(shown) < len(containers):
        row_limit_note(len(shown), len(containers), "the first in the list")
    cols = ["name", "image", "restart_policy", "compose_project", "compose_service", "host"]
    table(shown[[*cols, "container_id"]])
    names = shown["name"].astype(str).tolist()
    pick = st.selectbox("Labels of", names, key="labels_of")
    raw = shown.loc[shown["name"].astype(str) == pick, "labels"].iloc[0]
    labels = data.parse_labels(raw)
    if labels:
        st.json(labels)
    else:
        st.text("No labels.")  # not an empty "{}" to puzzle over
