"""Hypothesis properties: the time of every container tiles the window, availability is a
ratio, and splitting a window in two sums to the whole."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from docktally.analytics.intervals import build_intervals
from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from tests.sample import history_from_rows, ns

ACTIONS = [
    ("create", {}),
    ("start", {}),
    ("die", {"exit_code": 0}),
    ("die", {"exit_code": 1}),
    ("die", {"exit_code": 137}),
    ("die", {"exit_code": 127}),
    ("kill", {"signal": 15}),
    ("stop", {}),
    ("oom", {}),
    ("pause", {}),
    ("unpause", {}),
    ("health_status: healthy", {}),
    ("health_status: unhealthy", {}),
    ("destroy", {}),
]

event = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.integers(-200, 1200),
    st.sampled_from(range(len(ACTIONS))),
    st.booleans(),
)
histories = st.fixed_dictionaries(
    {
        "events": st.lists(event, min_size=1, max_size=40),
        "coverage": st.lists(
            st.tuples(st.integers(-300, 1300), st.integers(1, 600)), min_size=0, max_size=4
        ),
        "policy": st.sampled_from(["no", "always", "on-failure", "unless-stopped"]),
        "hc": st.booleans(),
        "maint": st.lists(
            st.tuples(st.sampled_from(["a", "b"]), st.integers(-100, 1100), st.integers(1, 300)),
            max_size=2,
        ),
    }
)
SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _history(d: dict[str, Any]) -> Any:
    evs = []
    for name, t, ai, inferred in d["events"]:
        action, extra = ACTIONS[ai]
        evs.append(
            (name, t, action, {**extra, "inferred": inferred and action in ("start", "die")})
        )
    return history_from_rows(
        events=evs,
        facts=[
            (n, -500, {"restart_policy": d["policy"], "has_healthcheck": d["hc"]}) for n in "abc"
        ],
        coverage=[(s, s + length) for s, length in d["coverage"]],
        maintenance=[{"target": n, "start": s, "end": s + dur} for n, s, dur in d["maint"]],
    )


W = Window(ns(0), ns(1000))
TOTALS = ["uptime_s", "downtime_s", "planned_s", "unknown_s"]


@SETTINGS
@given(histories)
# A container that never exists in the window: the report has no rows (found by Hypothesis).
@example(
    d={
        "events": [("a", 0, 13, False)],
        "coverage": [(0, 1)],
        "policy": "unless-stopped",
        "hc": True,
        "maint": [("a", 1, 2)],
    }
)
def test_every_container_tiles_the_window(d: dict[str, Any]) -> None:
    h = _history(d)
    iv = build_intervals(h, W)
    for _, g in iv.groupby("container_id"):
        assert ((g["end_ns"] - g["start_ns"]) > 0).all()
        assert int((g["end_ns"] - g["start_ns"]).sum()) == W.end_ns - W.start_ns
    # The report's classes tile the time each container existed: the window less the time
    # before its create and after its destroy (each generated container is its own service).
    gone = iv[(iv["state"] == "planned") & iv["cause"].isin(["absent", "removed"])]
    absent_s = ((gone["end_ns"] - gone["start_ns"]) / 1e9).groupby(gone["container_id"]).sum()
    r = build_report(h, W).groups
    # (astype: a report with no rows maps to an empty str column, which cannot be subtracted)
    existed = W.seconds - r["container_id"].map(absent_s).astype(float).fillna(0)
    assert (r[TOTALS].sum(axis=1) - existed).abs().max() < 1e-6 if len(r) else True
    a = r["availability"].dropna()
    assert ((a >= 0) & (a <= 1)).all()
    svc = build_report(h, W, by="service").groups
    if len(svc):
        assert sorted(svc[TOTALS].sum(axis=1).round(6)) == sorted(existed.round(6))


@SETTINGS
@given(histories, st.integers(1, 999))
def test_splitting_a_window_sums_to_the_whole(d: dict[str, Any], cut: int) -> None:
    h = _history(d)
    whole = build_report(h, W).groups.set_index("container_id")
    cols = [*TOTALS, "failures", "restarts", "oom_kills"]
    parts = []
    for part in (Window(ns(0), ns(cut)), Window(ns(cut), ns(1000))):
        g = build_report(h, part).groups.set_index("container_id")[cols]
        # A container absent from a part did not exist in it: no time of it there.
        g = g.reindex(whole.index)
        missing = g["uptime_s"].isna()
        g.loc[missing, cols] = 0
        parts.append(g)
    total = parts[0] + parts[1]
    for col in TOTALS:
        assert total[col].to_numpy() == pytest.approx(whole[col].to_numpy(), abs=1e-6)
    for col in ("failures", "restarts", "oom_kills"):
        assert list(total[col].astype(int)) == list(whole[col].astype(int))


@SETTINGS
@given(histories)
def test_daily_breakdown_sums_to_the_window(d: dict[str, Any]) -> None:
    h = _history(d)
    w = Window(ns(-86400 * 2 + 5000), ns(1000))
    r = build_report(h, w, every="day")
    if r.breakdown is None or r.groups.empty:
        return
    sums = r.breakdown.groupby("container_id")[[*TOTALS, "failures"]].sum()
    whole = r.groups.set_index("container_id")[[*TOTALS, "failures"]]
    pd.testing.assert_frame_equal(
        sums.sort_index(), whole.sort_index(), check_dtype=False, atol=1e-6
    )
