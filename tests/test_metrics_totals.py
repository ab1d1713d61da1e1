"""The endpoint's running totals: the report's numbers, additive over consecutive windows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.analytics.totals import (
    COUNTERS,
    TOTAL_COLUMNS,
    combine,
    container_totals,
    never_backwards,
    open_incidents,
    series,
)
from tests.sample import history_from_rows, ns

ALWAYS = {"restart_policy": "always"}
EVENTS: list[Any] = [
    ("web", -10, "start"),
    ("web", 100, "die", {"exit_code": 3}),
    ("web", 101, "start"),
    ("web", 300, "oom"),
    ("web", 300.01, "die", {"exit_code": 137}),
    ("web", 305, "start"),
    ("job", 50, "start"),
    ("job", 400, "kill", {"signal": 15}),
    ("job", 400.5, "die", {"exit_code": 143}),
    ("job", 400.6, "stop"),
    ("db", 20, "start"),
    ("db", 700, "die", {"exit_code": 1}),
]
FACTS = [("web", -500, ALWAYS), ("job", -500, {"restart_policy": "no"}), ("db", -500, ALWAYS)]
HISTORY = history_from_rows(events=EVENTS, facts=FACTS, coverage=[(-1000, 5000)])


def _by_name(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("container").sort_index()


def test_totals_are_the_reports_numbers() -> None:
    window = Window(ns(0), ns(1000))
    totals = _by_name(container_totals(HISTORY, window))
    report = build_report(HISTORY, window).groups.set_index("container").sort_index()
    assert list(totals.index) == list(report.index) == ["db", "job", "web"]
    for name in totals.index:
        t, r = totals.loc[name], report.loc[name]
        failures = sum(int(t[c]) for c in COUNTERS if c.startswith("failures_"))
        assert failures == r["failures"]
        assert t["restarts"] == r["restarts"]
        assert t["oom_kills"] == r["oom_kills"]
        assert t["downtime_s"] == pytest.approx(r["downtime_s"])
        assert t["observed_s"] == pytest.approx(r["uptime_s"] + r["downtime_s"])
    assert totals.loc["web", "failures_crash"] == 1
    assert totals.loc["web", "failures_oom"] == 1
    assert totals.loc["web", "last_exit_code"] == 137
    assert totals.loc["job", "last_exit_code"] == 143  # a user stop's exit is still the last
    assert totals.loc["job", "state"] == "planned"
    assert totals.loc["db", "state"] == "down"
    assert totals.loc["web", "state"] == "up"
    assert totals.loc["web", "policy"] == "always"


def test_the_last_exit_is_kept_to_the_nanosecond() -> None:
    """Beside a container that never exited, an exit's time stays an integer: merged as int64
    with the rows of containers without one, it became float64, to the nearest 256 ns."""
    die = 100.000000001
    history = history_from_rows(
        events=[("idle", 5, "start"), ("web", 0, "start"), ("web", die, "die", {"exit_code": 3})],
        facts=[("idle", -500, ALWAYS), ("web", -500, ALWAYS)],
        coverage=[(-1000, 5000)],
    )
    totals = _by_name(container_totals(history, Window(ns(0), ns(1000))))
    assert pd.isna(totals.loc["idle", "last_exit_ns"])
    assert totals.loc["web", "last_exit_ns"] == ns(die) != int(float(ns(die)))


@pytest.mark.parametrize("cut_s", [0.5, 100, 100.005, 300.005, 400.55, 699.9, 999])
def test_consecutive_windows_add_up(cut_s: float) -> None:
    whole = _by_name(container_totals(HISTORY, Window(ns(0), ns(1000))))
    first = container_totals(HISTORY, Window(ns(0), ns(cut_s)))
    second = container_totals(HISTORY, Window(ns(cut_s), ns(1000)))
    joined = _by_name(combine(first, second))
    assert list(joined.index) == list(whole.index)
    np.testing.assert_allclose(
        joined[COUNTERS].to_numpy(dtype=float), whole[COUNTERS].to_numpy(dtype=float)
    )
    assert list(joined["state"]) == list(whole["state"])
    assert list(joined["last_exit_code"]) == list(whole["last_exit_code"])


def _combined_one_by_one(earlier: pd.DataFrame, later: pd.DataFrame) -> pd.DataFrame:
    """combine's rules, a container at a time: the later window's labels and state where it
    has them, its gone_ns, counters summed, the newest exit (the later at a tie) and failure."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for frame in (earlier, later):
        for r in frame.to_dict("records"):
            key = (r["host"], r["container_id"])
            if key not in rows:
                rows[key] = dict(r)
                continue
            o = rows[key]
            for c in COUNTERS:
                o[c] += r[c]
            for c in ["container", "service", "image", "policy", "state", "state_since_ns"]:
                if not pd.isna(r[c]):
                    o[c] = r[c]
            o["gone_ns"] = r["gone_ns"]
            if not pd.isna(r["last_exit_ns"]) and (
                pd.isna(o["last_exit_ns"]) or r["last_exit_ns"] >= o["last_exit_ns"]
            ):
                o["last_exit_ns"], o["last_exit_code"] = r["last_exit_ns"], r["last_exit_code"]
            if not pd.isna(r["last_failure_ns"]) and (
                pd.isna(o["last_failure_ns"]) or r["last_failure_ns"] > o["last_failure_ns"]
            ):
                o["last_failure_ns"] = r["last_failure_ns"]
    return pd.DataFrame(list(rows.values()), columns=list(earlier.columns), dtype=object)


def _random_totals(rnd: np.random.Generator, keys: list[tuple[str, str]]) -> pd.DataFrame:
    n = len(keys)

    def maybe(values: list[Any]) -> Any:
        return pd.array([values[i] for i in rnd.integers(0, len(values), n)], dtype="Int64")

    frame = {
        "host": [k[0] for k in keys],
        "container_id": [k[1] for k in keys],
        "container": [rnd.choice(["web", "db"]) for _ in keys],
        "service": [None if rnd.random() < 0.3 else "shop/web" for _ in keys],
        "image": [None if rnd.random() < 0.5 else rnd.choice(["a:1", "b:2"]) for _ in keys],
        "policy": [rnd.choice(["always", "no"]) for _ in keys],
        **{c: rnd.integers(0, 5, n) for c in COUNTERS if c not in ("downtime_s", "observed_s")},
        "downtime_s": rnd.random(n) * 100,
        "observed_s": rnd.random(n) * 1000,
        "state": [rnd.choice(["up", "down", "planned"]) for _ in keys],
        "state_since_ns": rnd.integers(0, 10**18, n),
        "gone_ns": maybe([None, 7 * 10**17, 8 * 10**17]),
        "last_exit_code": maybe([0, 1, 137]),
        "last_exit_ns": maybe([None, 10**17, 2 * 10**17, 1_700_000_000_000_000_001]),
        "last_failure_ns": maybe([None, 10**17, 3 * 10**17]),
    }
    out = pd.DataFrame(frame)
    out.loc[out["last_exit_ns"].isna(), "last_exit_code"] = pd.NA
    return out[TOTAL_COLUMNS]


@pytest.mark.parametrize("seed", range(20))
def test_combine_is_its_rules_container_by_container(seed: int) -> None:
    """Containers in either window or both, labels missing in the later one, exits at the same
    nanosecond in both, removals in one of them: combine's frame is its rules' row by row, in
    the order containers first appear."""
    rnd = np.random.default_rng(seed)
    pool = [(h, f"c{i}") for h in ("h1", "h2") for i in range(8)]
    pick = [pool[i] for i in rnd.permutation(len(pool))]
    earlier = _random_totals(rnd, pick[: rnd.integers(1, 12)])
    shuffled = [pick[i] for i in rnd.permutation(len(pick))]
    later = _random_totals(rnd, shuffled[: rnd.integers(1, 12)])
    got = combine(earlier, later)
    want = _combined_one_by_one(earlier, later).astype(got.dtypes.to_dict())
    pd.testing.assert_frame_equal(got, want)


def test_counters_never_go_backwards() -> None:
    window = Window(ns(0), ns(1000))
    now = container_totals(HISTORY, window)
    earlier = now.copy()
    earlier["downtime_s"] = earlier["downtime_s"] + 5
    kept = never_backwards(earlier, now)
    assert (kept["downtime_s"] == earlier["downtime_s"]).all()
    assert (kept["observed_s"] == now["observed_s"]).all()


def test_open_incident_while_down_or_just_failed() -> None:
    totals = container_totals(HISTORY, Window(ns(0), ns(1000)))
    totals["service"] = totals["container"]
    inc = open_incidents(totals, ns(1000)).set_index("service")["open"]
    assert inc.to_dict() == {"db": 1, "job": 0, "web": 0}
    inc = open_incidents(totals, ns(330)).set_index("service")["open"]
    assert inc["web"] == 1  # the OOM kill 30 s before: not yet stable


def test_series_add_up_a_recreated_container_and_age_out_removed_ones() -> None:
    events: list[Any] = [
        ("old", -10, "start"),
        ("old", 100, "die", {"exit_code": 1}),
        ("old", 200, "destroy"),
        ("new", 300, "start"),
        ("new", 400, "die", {"exit_code": 2}),
        ("new", 401, "start"),
        ("gone", 0, "start"),
        ("gone", 50, "kill", {"signal": 9}),
        ("gone", 50.1, "die", {"exit_code": 137}),
        ("gone", 50.2, "destroy"),
    ]
    history = history_from_rows(events=events, facts=FACTS, coverage=[(-1000, 100_000)])
    totals = container_totals(history, Window(ns(0), ns(1000)))
    # A container recreated under its name (so its service) and policy: "old" becomes "new".
    new_policy = totals.loc[totals["container"] == "new", "policy"].iloc[0]
    totals.loc[totals["container"] == "old", ["container", "service", "policy"]] = [
        "new",
        "new",
        new_policy,
    ]
    rows = series(totals, ns(1000), retain_s=3600).set_index("container")
    assert list(rows.index) == ["gone", "new"]
    assert rows.loc["new", "failures_crash"] == 2  # one of each container, summed
    assert rows.loc["new", "state"] == "up"  # the existing container's, not the removed one's
    assert rows.loc["new", "last_exit_code"] == 2
    assert rows.loc["gone", "state"] == "planned"
    later = series(totals, ns(50.2 + 3600 + 1), retain_s=3600)
    assert list(later["container"]) == ["new"]  # "gone" was removed over an hour before
