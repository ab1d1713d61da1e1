"""What the HTML report and the postmortem looked like to a person, fixed: charts whose bars
start at 0 with their numbers on them, the worst on top; the time classes and causes in words;
a per-period chart over the whole window; a postmortem's timeline that keeps to its own
containers and names events in words."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import pandas as pd
import pytest

from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incident_scopes import incidents_from_timeline
from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.analytics.timeline import build_timeline
from docktally.reports import charts
from docktally.reports.html import render_html
from docktally.reports.markdown import render_markdown
from docktally.reports.postmortem import build_postmortem
from docktally.reports.postmortem import render_html as postmortem_html
from docktally.reports.postmortem import render_markdown as postmortem_markdown
from tests.sample import history_from_rows, ns

H = 3600
HC = {"has_healthcheck": True, "restart_policy": "always"}


def _history() -> object:
    return history_from_rows(
        events=[
            ("steady", -10, "start"),
            ("flaky", -10, "start"),
            ("flaky", 600, "die", {"exit_code": 1}),
            ("flaky", 1800, "start"),  # 20 min down of the hour: 66.7%
            ("late", 2 * H + 100, "create"),
            ("late", 2 * H + 200, "start"),
            ("late", 2 * H + 300, "kill", {"signal": 15}),
            ("late", 2 * H + 300.5, "die", {"exit_code": 143}),
        ],
        coverage=[(-100, 4 * H)],
    )


def test_availability_bars_start_at_zero_worst_on_top_with_their_numbers() -> None:
    r = build_report(_history(), Window(ns(0), ns(H)), slo=99.0)  # type: ignore[arg-type]
    ax = charts.availability_figure(r).axes[0]
    assert ax.get_xlim() == (0.0, 100.0)  # 66.7% was drawn as a sliver of an axis from 65
    assert ax.yaxis_inverted()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["flaky", "steady"]  # the worst first: on top
    assert {t.get_text() for t in ax.texts} == {"66.667%", "100.000%"}
    colours = [mcolors.to_hex(b.get_facecolor()) for b in ax.patches]
    assert colours == [charts.STATE_COLOURS["down"], charts.STATE_COLOURS["up"]]  # missed SLO


def test_time_classes_and_causes_are_words_that_say_what_they_are() -> None:
    r = build_report(_history(), Window(ns(0), ns(3 * H)))  # type: ignore[arg-type]
    md = render_markdown(r)
    assert "planned:" not in md and "user\\_stop" not in md
    assert "| Class | Time | What it is |" in md
    assert "| Planned: stopped by a person | 55m 0s | docker stop or docker kill |" in md
    assert "| Down | 20m 0s | stopped by a failure nobody asked for: downtime |" in md
    ax = charts.downtime_by_cause_figure(r).axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Planned: stopped by a person"  # the largest (55 min) on top
    assert "Down: crash (exit code not 0)" in labels
    assert "20m 0s" in " ".join(t.get_text() for t in ax.texts)


def test_the_per_period_chart_spans_the_window() -> None:
    w = Window(ns(-H), ns(3 * H))
    r = build_report(_history(), w, every="hour")  # type: ignore[arg-type]
    ax = charts.availability_per_period_figure(r).axes[0]
    lo, hi = ax.get_xlim()
    import matplotlib.dates as mdates

    start, end = (mdates.num2date(x).replace(tzinfo=None) for x in (lo, hi))
    # the hour before any container existed has no bar, and the axis still starts there
    assert pd.Timestamp(start) == pd.Timestamp(w.start_ns, unit="ns")
    assert pd.Timestamp(end) == pd.Timestamp(w.end_ns, unit="ns")


def test_each_period_bar_sits_in_the_middle_of_its_period() -> None:
    import matplotlib.dates as mdates

    r = build_report(_history(), Window(ns(0), ns(3 * H)), every="hour")  # type: ignore[arg-type]
    ax = charts.availability_per_period_figure(r).axes[0]
    hour = 1 / 24  # matplotlib's dates are days
    first = mdates.date2num(pd.Timestamp(ns(0), unit="ns").to_pydatetime())
    for i, bar in enumerate(ax.patches):
        left = bar.get_x() - (first + i * hour)
        right = first + (i + 1) * hour - (bar.get_x() + bar.get_width())
        assert abs(left - right) < 1e-6 and abs(left - 0.1 * hour) < 1e-6, (i, left, right)


def test_a_period_under_the_slo_is_red() -> None:
    r = build_report(_history(), Window(ns(0), ns(3 * H)), every="hour", slo=99.0)  # type: ignore[arg-type]
    ax = charts.availability_per_period_figure(r).axes[0]
    colours = [mcolors.to_hex(b.get_facecolor()) for b in ax.patches]
    # the first hour held flaky's 20 minutes down: 83%; the others were whole
    assert colours == [charts.STATE_COLOURS["down"]] + [charts.STATE_COLOURS["up"]] * 2


def test_alert_and_meaning_cells_may_wrap_numbers_do_not() -> None:
    page = render_html(build_report(_history(), Window(ns(0), ns(H)), slo=99.0))  # type: ignore[arg-type]
    assert "td.text{white-space:normal" in page
    assert '<td class="text">running (and healthy, with a health check): uptime</td>' in page


def test_postmortem_keeps_to_its_containers_and_says_events_in_words() -> None:
    h = history_from_rows(
        events=[
            ("api", -10, "start"),
            ("api", -5, "health_status: healthy"),
            ("api", 100, "health_status: unhealthy"),
            ("api", 160, "health_status: healthy"),
            ("other", -10, "start"),
        ],
        facts=[("api", -20, HC), ("other", -20, HC)],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    tl = build_timeline(h, w)
    inc = incidents_from_timeline(tl, slo=0.999)
    ids = dict(zip(h.events["name"], h.events["container_id"], strict=False))
    probes = pd.DataFrame(
        {
            "host": "local",
            "container_id": [ids["api"], ids["other"]],
            "start_ns": [ns(99), ns(99)],
            "end_ns": [ns(99.1), ns(99.1)],
            "exit_code": pd.array([1, 1], dtype="Int64"),
            "output": ["api is sick", "other is sick"],
        }
    )
    pm = build_postmortem(
        h.events, failures_from_timeline(tl), inc, inc.iloc[0], w, [], health_probes=[probes]
    )
    md = postmortem_markdown(pm)
    assert "api is sick" in md and "other is sick" not in md
    assert "| api | health status | health: unhealthy |" in md
    assert "health\\_status" not in md
    assert "| Containers |" not in md  # a container's own incident names it once
    assert "table.timeline td:nth-child(-n+4){white-space:nowrap}" in postmortem_html(pm)


def test_policies_and_incidents_tables_read_as_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Headers in words, durations and times as the uptime report writes them (they had
    `NO PERSON`, `1.70s`, `4.4m`, `2026-11-28T00:02:50Z .. `)."""
    from docktally.cli import main
    from tests.data import recorded

    db = str(tmp_path / "p.db")
    assert main(["import", "--db", db, "--host", "lab", str(recorded.path("crash_loop"))]) == 0
    win = ["--since", "2026-11-28T00:02:50Z", "--until", "2026-11-28T00:03:30Z"]
    capsys.readouterr()
    assert main(["policies", "--db", db, *win, "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert "Window: 2026-11-28 00:02:50 UTC to 2026-11-28 00:03:30 UTC" in md
    assert "| Restart policy | Containers | Failures | Recovered without a person | MTTR |" in md
    (row,) = [ln for ln in md.splitlines() if ln.startswith("| on-failure (inferred) |")][:1]
    assert row.startswith("| on-failure (inferred) | 1 | 4 | 75% | 0.57s |")
    assert row.endswith("| 1 | 1.7s | 0.57s |")  # crash loops, back-off wait, replayed MTTR
    assert main(["incidents", "--db", db, *win]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    assert header.split() == ["Incident", "Container", "Start", "(UTC)", "Down", "Failures",
                              "Restarts", "Causes", "Exit", "codes", "Duration", "Budget/30d",
                              "Overlaps"]  # fmt: skip
    assert "2026-11-28 00:02:54  1.7s" in row and "crash×4" in row and "1×4" in row
