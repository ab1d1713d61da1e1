"""The dashboard's pages under Streamlit's AppTest, on a seeded database: no exception, and the
numbers the seed implies on every page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from docktally.analytics import stops
from docktally.dashboard import data, ui
from docktally.store import db
from tests.test_dashboard_seed import (
    DB_OOM_S,
    FORCED,
    FORCED_STOP_S,
    HOSTILE,
    HOSTILE_LABEL,
    LAB,
    LAB_HOST,
    WORKER_DIES_S,
    WORKER_FAILURES,
    Seed,
    seed,
)

APP = Path(data.__file__).parent / "app.py"
PAGES = ("overview", "timeline", "reliability", "policies", "incidents", "collector")
TIMEOUT_S = 60


def wait_for_dashboard_now(after_ns: int) -> None:
    """Wait until the dashboard's "now" (time floored to data.NOW_STEP_NS, so caches are shared)
    is past `after_ns`: a page loaded sooner ends its range before what was just recorded."""
    while data.now_ns() <= after_ns:
        time.sleep(0.2)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    path = tmp_path_factory.mktemp("dash") / "seeded.db"
    return seed(f"sqlite:///{path}", time.time_ns())


@pytest.fixture
def app(seeded: Seed, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppTest]:
    monkeypatch.setenv(data.DB_ENV, seeded.url)
    monkeypatch.delenv("DOCKTALLY_COLLECTOR_STATUS", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    yield at


def open_page(at: AppTest, page: str, **params: str) -> AppTest:
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"views/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def frames(at: AppTest) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe]


def texts(at: AppTest) -> str:
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "text", "caption", "info", "success", "warning"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [str(e.value) for e in at.code]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    return "\n".join(parts)


def frame_with(at: AppTest, column: str) -> pd.DataFrame:
    for df in frames(at):
        if column in df.columns:
            return df
    raise AssertionError(
        f"no table with a {column!r} column: {[list(f.columns) for f in frames(at)]}"
    )


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exception(app: AppTest, page: str) -> None:
    open_page(app, page)
    assert app.title, "every page has a title"
    # A chart first, tables after it.
    kinds = _kinds(app)
    assert "vega_lite_chart" in kinds, kinds
    if "dataframe" in kinds:
        assert kinds.index("vega_lite_chart") < kinds.index("dataframe"), kinds
    # A grid draws a grey "None" in a missing cell unless given a placeholder (a Styler's
    # na_rep does not reach those cells).
    assert {d.proto.placeholder for d in app.dataframe} == {ui.MISSING}
    # Bars start at zero; availability bars run 0-100 %.
    scales = [s for spec in charts(app) for s in _bar_scales(spec)]
    if page in ("overview", "policies"):
        assert any(field.endswith("%") for field, _ in scales), scales
    for field, scale in scales:
        assert scale.get("zero", True) is not False, (page, field)
        assert scale.get("domain", [0])[0] == 0, (page, field, scale)
        if field.endswith("%"):
            assert scale.get("domain") == [0, 100], (page, field, scale)


def test_overview_shows_fleet_numbers_and_what_is_down(app: AppTest) -> None:
    open_page(app, "overview")
    groups = frame_with(app, "failures")
    by_name = groups.set_index("container")
    assert int(by_name.loc["worker", "failures"]) == WORKER_FAILURES
    assert int(by_name.loc["db", "failures"]) == 1
    assert int(by_name.loc["batch", "failures"]) == 0  # a user stop is planned, not a failure
    assert int(by_name.loc["web", "failures"]) == 0
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Failures"] == str(WORKER_FAILURES + 2)  # worker 4, db 1, hostile 1
    down = frame_with(app, "since")
    assert list(down["name"]) == ["worker"]
    # Every container leaves each container's host and id to the Containers table below it.
    every = next(d for d in app.dataframe if "failures" in d.value.columns)
    assert "host" not in every.proto.column_order and "container_id" in every.value.columns
    assert "host and id are in the Containers table below" in texts(app)


@pytest.mark.parametrize(("rng", "every"), [("1h", "5 minutes"), ("6h", "15 minutes")])
def test_a_short_range_is_drawn_in_short_bars(app: AppTest, rng: str, every: str) -> None:
    # Hourly bars made the last hour one or two bars (the worker is down all of it).
    open_page(app, "overview", range=rng)
    assert f"Availability and failures per {every}" in texts(app)
    avail = charts(app)[0]
    bars = chart_data(app)[0]
    assert 12 <= len(bars) <= 25, len(bars)
    # Every bar as wide as its period; the range's ends cut the first and last, unless "now"
    # fell on a bar boundary (as at 12:00:05, which the dashboard's 10 s steps of "now" make
    # 12:00:00).
    size = pd.Timedelta(every.replace("minutes", "min"))
    held = bars["period_end"] - bars["period"]
    assert set(held.iloc[1:-1]) == {size} and (held <= size).all()
    start = bars["period"].min()
    assert (held.iloc[0] < size) == (start != start.floor(size))
    spec = json.dumps(avail)
    assert f"one bar per {every}" in spec  # the axis says how long a bar is
    assert f'"{every} from"' in spec and '"to"' in spec  # and the tooltip, which bar it is


def _trend_charts(at: AppTest) -> dict[str, tuple[list[dict[str, Any]], pd.DataFrame]]:
    """The Overview's charts over time by title: their layers' encodings, and their data."""
    found = {}
    for spec, frame in zip(charts(at), chart_data(at), strict=True):
        if spec.get("title") in ("Availability (green up, red down)", "Failures"):
            found[spec["title"]] = ([lay["encoding"] for lay in spec.get("layer", [spec])], frame)
    return found


@pytest.mark.parametrize("rng", ["1h", "24h"])
def test_the_charts_over_time_span_the_range_with_bars_where_the_data_are(
    app: AppTest, seeded: Seed, rng: str
) -> None:
    # The last hour's bar was drawn to the end of its hour, in the future, and the axis with
    # it (14:12 to 15:00 on a range ending at 14:12); the two charts' ticks differed.
    before = data.now_ns()
    open_page(app, "overview", range=rng)
    trend = _trend_charts(app)
    assert "Availability (green up, red down)" in trend
    assert ("Failures" in trend) == (rng == "24h")  # the seed's failures are 2 to 6 hours old
    xs = [enc["x"] for layers, _ in trend.values() for enc in layers]
    assert all(x == xs[0] for x in xs), xs  # one field, domain and axis on both charts
    start, end = (pd.Timestamp(t) for t in xs[0]["scale"]["domain"])
    assert end - start == pd.Timedelta(rng)  # the range, no more
    assert xs[0]["scale"]["padding"] == 0  # Vega-Lite pads a vertical bar's scale otherwise
    assert before <= end.value <= data.now_ns()
    x, x2 = xs[0]["field"], trend["Availability (green up, red down)"][0][0]["x2"]["field"]
    for _, frame in trend.values():
        assert (frame[x] >= start).all() and (frame[x2] <= end).all(), frame[[x, x2]]
    if rng != "24h":
        return
    # Each bar of failures over the seed's failures it counts: the worker's four, the db's OOM
    # kill, the hostile container's crash.
    _, per = trend["Failures"]
    dies = [seeded.t0_ns + int(s * 1e9) for s in (*WORKER_DIES_S, DB_OOM_S + 0.1, 7200)]
    for _, row in per[per["failures"] > 0].iterrows():
        held = [t for t in dies if row[x].value <= t < row[x2].value]
        assert len(held) == row["failures"], (row[x], row[x2], row["failures"])
    assert per["failures"].sum() == len(dies)


def test_a_container_without_labels_says_so(app: AppTest) -> None:
    open_page(app, "overview")
    app.selectbox(key="labels_of").select("worker").run()
    assert not app.json  # not an empty "{}"
    assert "No labels." in texts(app)


def test_a_time_axis_within_one_day_names_the_day() -> None:
    # Its labels are hours (a date only at midnight): the Timeline of a 7d range whose
    # containers lived a few hours showed 01:15 ... 07:00 of no day in particular.
    from docktally.dashboard import charts as dashboard_charts

    h = 3600 * 1_000_000_000
    ns = 1_764_950_700 * 1_000_000_000  # 2025-12-05 16:05 UTC
    assert dashboard_charts.time_title(ns, ns + h) == "time (UTC, 24-hour) on 2025-12-05"
    assert dashboard_charts.time_title(ns, ns + 12 * h) == "time (UTC, 24-hour)"
    iv = pd.DataFrame(
        {
            "host": ["h"],
            "container_id": ["c" * 64],
            "name": ["web"],
            "state": ["up"],
            "cause": [None],
            "start_ns": [ns],
            "end_ns": [ns + h],
        }
    )
    spec = dashboard_charts.timeline(iv, iv.iloc[:0]).to_dict()
    assert "on 2025-12-05" in json.dumps(spec)


def test_overview_groups_by_service(app: AppTest) -> None:
    open_page(app, "overview", by="service")
    text = frame_with(app, "failures").astype(str).to_string()
    assert "shop" in text


def test_slo_status_is_shown(app: AppTest) -> None:
    open_page(app, "overview", slo="99.9")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["SLO 99.9%"] in ("met", "missed")


def test_container_search_filters_every_table(app: AppTest) -> None:
    open_page(app, "overview", q="worker")
    groups = frame_with(app, "failures")
    assert len(groups) == 1
    assert {m.label: m.value for m in app.metric}["Failures"] == str(WORKER_FAILURES)


def test_filters_come_from_the_url(app: AppTest) -> None:
    open_page(app, "overview", project="shop", range="24h")
    assert app.selectbox(key="project").value == "shop"
    assert app.selectbox(key="range").value == "24h"
    groups = frame_with(app, "failures")
    assert len(groups) == 2  # web and db


def test_policy_filter(app: AppTest) -> None:
    open_page(app, "overview", policy="on-failure")
    assert len(frame_with(app, "failures")) == 1


def test_timeline_draws_every_container(app: AppTest) -> None:
    open_page(app, "timeline")
    iv = frame_with(app, "state")
    assert set(iv["name"]) == {"web", "worker", "db", "batch", HOSTILE, FORCED}
    assert {"up", "down", "planned"} <= set(iv["state"])
    # The chart itself is a Vega-Lite element.
    assert any(type(e).__name__ in ("UnknownElement", "VegaLiteChart") for e in app.main)


def test_reliability_lists_exit_codes_and_causes(app: AppTest) -> None:
    open_page(app, "reliability")
    codes = frame_with(app, "meaning")
    counts = {int(c): int(n) for c, n in zip(codes["exit_code"], codes["failures"], strict=True)}
    assert counts[1] == WORKER_FAILURES
    assert counts[137] == 1
    assert "oom" in set(codes["cause"])
    causes = frame_with(app, "downtime_s")
    assert {"crash", "oom"} <= set(causes["cause"])


def test_an_slo_keeps_failures_to_the_range(app: AppTest, seeded: Seed) -> None:
    # With an SLO the report looks back 3 days (burn rates); the failures shown stay the range's.
    # The range: one hour that starts half an hour after the hostile container's crash (at
    # 7200 s), which the dashboard then loads as look-back.
    from docktally.timespec import ns_to_iso

    until = ns_to_iso(seeded.t0_ns + (7200 + 1800 + 3600) * 1_000_000_000)
    open_page(app, "reliability", range="1h", until=until, slo="99.9")
    assert "No failures in this range." in texts(app)
    assert not [df for df in frames(app) if "meaning" in df.columns]


def test_down_now_and_the_report_agree_with_an_slo(app: AppTest) -> None:
    open_page(app, "overview", slo="99.9")
    assert list(frame_with(app, "since")["name"]) == ["worker"]
    assert {m.label: m.value for m in app.metric}["Failures"] == str(WORKER_FAILURES + 2)


def test_policies_compare_observed_and_what_if(app: AppTest) -> None:
    open_page(app, "policies")
    observed, what_if = (df for df in frames(app) if "policy" in df.columns)
    row = observed.set_index("policy").loc["on-failure:3"]
    assert int(row["failures"]) == WORKER_FAILURES
    assert {"no", "always", "unless-stopped"} <= set(what_if["policy"])
    assert "Assumptions" in texts(app)


def test_incidents_list_and_postmortem(app: AppTest) -> None:
    open_page(app, "incidents")
    table = frame_with(app, "crash_loop")
    assert len(table) == 3
    worker = table[table["key"] == "worker"].iloc[0]
    assert bool(worker["crash_loop"]) and int(worker["failures"]) == WORKER_FAILURES
    app.selectbox[0].set_value(worker["id"]).run()
    assert not app.exception
    assert "panic: cannot connect to queue <b>bold</b>" in texts(app)
    assert (
        app.query_params["incident"] == [worker["id"]]
        or app.query_params["incident"] == worker["id"]
    )


def test_incident_from_the_url(app: AppTest) -> None:
    open_page(app, "incidents")
    table = frame_with(app, "crash_loop")
    db_id = table[table["key"] == "db"].iloc[0]["id"]
    fresh = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    open_page(fresh, "incidents", incident=db_id)
    assert fresh.selectbox[0].value == db_id
    assert "exit 137" in texts(fresh)


def test_postmortem_downloads(app: AppTest) -> None:
    open_page(app, "incidents")
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels == ["Postmortem (Markdown)", "Postmortem (HTML)"]


def test_collector_page_shows_coverage_gaps_and_last_events(app: AppTest) -> None:
    open_page(app, "collector")
    cov = frame_with(app, "covered_pct")
    assert list(cov["host"]) == ["testhost"]
    gaps = frame_with(app, "reason")
    assert list(gaps["reason"]) == ["engine_restart"]
    last = frame_with(app, "action")
    assert last.iloc[0]["action"] == "start"
    assert "No collector is watching right now" in texts(app)


def test_collector_status_from_up_shows_a_banner(
    app: AppTest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from docktally.dashboard.status import STATUS_ENV, write_status

    path = tmp_path / "status.json"
    write_status(
        path,
        [
            {
                "url": "unix:///nowhere.sock",
                "state": "unreachable",
                "detail": "no socket there",
                "since_ns": time.time_ns(),
            }
        ],
        time.time_ns(),
    )
    monkeypatch.setenv(STATUS_ENV, str(path))
    assert data.collector_status() is not None, (path.read_text(), data.collector_status())
    open_page(app, "collector")
    assert "cannot reach the Docker engine" in texts(app)
    engines = frame_with(app, "engine")
    assert list(engines["state"]) == ["unreachable"]
    assert app.toggle(key="live").value is True  # auto-refresh on while `up` collects


def test_hostile_name_and_label_stay_text(app: AppTest) -> None:
    for page in PAGES:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        open_page(at, page)
        # Never through Markdown or HTML: every markdown element is ours.
        for md in at.markdown:
            assert "<img" not in str(md.value) and "<script" not in str(md.value), page
        assert not at.get("html"), page
    at = open_page(AppTest.from_file(str(APP), default_timeout=TIMEOUT_S), "incidents")
    assert HOSTILE in texts(at)  # shown as the literal characters, through st.text
    # The overview shows the labels of the picked container through st.json: as text.
    at = open_page(AppTest.from_file(str(APP), default_timeout=TIMEOUT_S), "overview")
    at.selectbox(key="labels_of").select(HOSTILE).run()
    assert any(HOSTILE_LABEL in str(j.value) for j in at.json)


def test_empty_database_shows_how_to_get_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db.connect(url).dispose()
    monkeypatch.setenv(data.DB_ENV, url)
    for page in PAGES:
        at = open_page(AppTest.from_file(str(APP), default_timeout=TIMEOUT_S), page)
        shown = texts(at)
        for command in ("docktally collect", "docktally lab", "docktally import FILE"):
            assert command in shown, page
        assert not at.dataframe, page


def test_missing_database_shows_how_to_get_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(data.DB_ENV, f"sqlite:///{tmp_path / 'nothing-here.db'}")
    at = open_page(AppTest.from_file(str(APP), default_timeout=TIMEOUT_S), "overview")
    shown = texts(at)
    assert "does not exist yet" in shown
    assert "docktally collect" in shown
    assert not (tmp_path / "nothing-here.db").exists()  # read-only: never created


def test_bad_until_is_reported_not_raised(app: AppTest) -> None:
    open_page(app, "overview", until="yesterday-ish")
    assert any("neither a duration" in str(e.value) for e in app.sidebar.get("alert")) or any(
        "neither a duration" in str(e.value) for e in app.error
    )


def test_long_tables_are_cut_to_the_worst_rows(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big fleet's tables send the browser ROW_LIMIT rows: the lowest availability first,
    with a note saying so."""
    open_page(app, "overview")
    full = frame_with(app, "failures")
    assert len(full) > 2 and "rows shown" not in texts(app)
    monkeypatch.setattr(data, "ROW_LIMIT", 2)
    app.run()
    cut = frame_with(app, "failures")
    worst = full.sort_values("availability", kind="stable").head(2)
    assert sorted(cut["container"]) == sorted(worst["container"])
    assert "2 of " in texts(app) and "rows shown (the lowest availability)" in texts(app)
    assert len(frame_with(app, "restart_policy")) == 2


def charts(at: AppTest) -> list[dict[str, Any]]:
    """The Vega-Lite specs of the page's charts, in page order."""
    return [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]


def chart_data(at: AppTest) -> list[pd.DataFrame]:
    """The data each chart of the page draws (its datasets, sent as Arrow), one frame each."""
    import pyarrow as pa

    return [
        pd.concat(
            [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in e.proto.datasets]
        )
        for e in at.get("vega_lite_chart")
    ]


def _kinds(at: AppTest) -> list[str]:
    return [getattr(e, "type", "") for e in at.main]


def _bar_scales(spec: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(field, scale) of every quantitative x/y of a bar mark in a spec, layers included."""
    if isinstance(spec, dict):
        mark = spec.get("mark")
        if (mark == "bar" or (isinstance(mark, dict) and mark.get("type") == "bar")) and (
            "encoding" in spec
        ):
            for ch in ("x", "y"):
                enc = spec["encoding"].get(ch) or {}
                if enc.get("type") == "quantitative":
                    yield str(enc.get("field")), enc.get("scale") or {}
        for value in spec.values():
            yield from _bar_scales(value)
    elif isinstance(spec, list):
        for value in spec:
            yield from _bar_scales(value)


def test_sidebar_lists_follow_the_lab_toggle(app: AppTest) -> None:
    open_page(app, "overview")
    assert LAB_HOST not in app.selectbox(key="host").options
    app.toggle(key="lab").set_value(True).run()
    assert not app.exception
    assert LAB_HOST in app.selectbox(key="host").options
    names = frame_with(app, "restart_policy")["name"]
    assert LAB in set(names)


def test_reliability_names_stops_that_needed_sigkill(app: AppTest) -> None:
    open_page(app, "reliability")
    assert stops.ADVICE in texts(app)
    forced = frame_with(app, "forced_stops")
    row = forced.set_index("label").loc[FORCED]
    assert (int(row["stops"]), int(row["forced_stops"])) == (1, 1)
    assert row["stop_max_s"] == pytest.approx(FORCED_STOP_S + 0.1)
    assert set(forced["label"]) == {FORCED}  # batch's stop ended on SIGTERM
