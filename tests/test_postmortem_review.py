"""Postmortems a reviewer would sign: unhealthy drawn apart from down, an open incident drawn to
now, incident duration and MTTR named apart, stops that needed a SIGKILL named, an error budget
share over the SLO's period whatever the window read."""

from __future__ import annotations

import pandas as pd
import pytest

from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incident_scopes import incidents_from_timeline
from docktally.analytics.model import Window
from docktally.analytics.timeline import build_timeline
from docktally.reports.postmortem import build_postmortem, render_markdown, timeline_figure
from tests.sample import history_from_rows, ns

HC = {"has_healthcheck": True, "restart_policy": "always"}


def _postmortem(h: object, w: Window, **kw: object) -> object:
    tl = build_timeline(h, w)  # type: ignore[arg-type]
    f = failures_from_timeline(tl)
    inc = incidents_from_timeline(tl, slo=0.999)
    return build_postmortem(h.events, f, inc, inc.iloc[0], w, [], **kw)  # type: ignore[attr-defined]


def test_unhealthy_is_drawn_apart_from_down_and_an_open_incident_to_now() -> None:
    h = history_from_rows(
        events=[
            ("c", -10, "start"),
            ("c", -5, "health_status: healthy"),
            ("c", 100, "health_status: unhealthy"),
            ("c", 110, "die", {"exit_code": 1}),
            ("c", 111, "start"),
            ("c", 112, "die", {"exit_code": 1}),
        ],
        facts=[("c", -20, HC)],
        coverage=[(-50, 1000)],
    )
    pm = _postmortem(h, Window(ns(0), ns(1000)))
    assert pm.incident["open"]  # type: ignore[attr-defined]
    assert {s[3] for s in pm.down_spans} == {"unhealthy", "down"}  # type: ignore[attr-defined]
    fig = timeline_figure(pm)  # type: ignore[arg-type]
    ax = fig.axes[0]
    # now is far past the events (12 s of them, 900 s open): a second panel shows them up close
    assert len(fig.axes) == 2 and fig.axes[1].get_xlim()[1] < 100
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"up", "down", "unhealthy"} <= set(labels)
    colours = {tuple(round(x, 3) for x in c.get_facecolor()[0]) for c in ax.collections}
    assert len(colours) == 3  # up, down and unhealthy each their own colour
    # still open at "now" (the window's end, 1000 s; the first failure at 100 s): drawn to it
    assert ax.get_xlim()[1] >= 900
    md = render_markdown(pm)  # type: ignore[arg-type]
    assert "Incident duration (first failure to last recovery) | still open" in md
    assert "MTTR (mean time to recover one failure)" in md


def test_budget_share_is_over_the_slo_period_whatever_the_window() -> None:
    h = history_from_rows(
        events=[("c", -10, "start"), ("c", 100, "die", {"exit_code": 1}), ("c", 160, "start")],
        facts=[("c", -20, {"restart_policy": "always"})],
        coverage=[(-90000, 90000)],
    )
    shares = []
    for w in (Window(ns(0), ns(3600)), Window(ns(-86400), ns(86400))):
        inc = incidents_from_timeline(build_timeline(h, w), slo=0.999)
        shares.append(float(inc["slo_budget_spent_ratio"].iloc[0]))
    # 60 s of the 2,592 s a 99.9% target allows in 30 days, on either window
    assert shares == pytest.approx([60 / 2592, 60 / 2592])
    pm = _postmortem(h, Window(ns(0), ns(3600)), slo_percent=99.9)
    assert "2.3% of the 30d error budget at 99.9%" in render_markdown(pm)  # type: ignore[arg-type]


def test_postmortem_names_the_stops_that_needed_sigkill() -> None:
    h = history_from_rows(
        events=[
            ("c", -100, "start"),
            ("c", -50, "kill", {"signal": 15}),
            ("c", -40, "kill", {"signal": 9}),
            ("c", -39.9, "die", {"exit_code": 137}),
            ("c", -39.8, "stop"),
            ("c", -30, "start"),
            ("c", 100, "die", {"exit_code": 1}),
            ("c", 101, "start"),
        ],
        facts=[("c", -200, {"restart_policy": "always"})],
        coverage=[(-500, 1000)],
    )
    md = render_markdown(_postmortem(h, Window(ns(-200), ns(1000))))  # type: ignore[arg-type]
    assert "## Stops that needed a SIGKILL" in md
    assert "PID 1 ignored SIGTERM" in md and "--init" in md
    assert "| c | 1 | 1 | 10s | 10s |" in md


def test_each_log_line_once_in_the_timeline() -> None:
    h = history_from_rows(
        events=[
            ("c", -10, "start"),
            ("c", 100, "die", {"exit_code": 1}),
            ("c", 101, "start"),
            ("c", 200, "die", {"exit_code": 1}),
            ("c", 201, "start"),
        ],
        facts=[("c", -20, {"restart_policy": "always"})],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    tl = build_timeline(h, w)
    f = failures_from_timeline(tl)
    inc = incidents_from_timeline(tl, slo=0.999, stable_s=200)
    cid = str(h.events["container_id"].iloc[0])
    run1 = "2026-01-01T00:01:39.000000000Z first run says goodbye"
    run2 = "2026-01-01T00:03:19.000000000Z second run says goodbye"
    # The tail read after the second die repeats the first run's line.
    tails = [
        pd.DataFrame({"container_id": [cid, cid], "time_ns": [ns(100), ns(200)]}).assign(
            lines=[run1, run1 + "\n" + run2], truncated=False
        )
    ]
    md = render_markdown(build_postmortem(h.events, f, inc, inc.iloc[0], w, tails))
    assert md.count("first run says goodbye") == 1
    assert md.count("second run says goodbye") == 1
    # in the timeline table, among the events
    assert "| c | log | first run says goodbye |" in md
    assert "## Logs around each failure" not in md
