"""Restart-policy comparison: observed classification and the what-if replay, on hand-built
failure traces whose numbers are worked out by hand from the engine's rules."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from docktally.analytics.backoff import RestartPolicy
from docktally.analytics.model import FACT_COLUMNS, FAILURE_COLUMNS, INTERVAL_COLUMNS, Window
from docktally.analytics.policies import (
    ReplayParams,
    Segment,
    Trace,
    build_traces,
    classify_recoveries,
    compare_policies,
    measure_params,
    replay,
)

S = 1_000_000_000
T0 = 1_800_000_000 * S
LAT = 0.25  # start latency in the hand-built traces


def trace_rows(
    cid: str, policy: str, plan: list[tuple[float, float | None]], code: int = 1
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(up seconds, down seconds) pairs from T0 -> failure rows, interval rows, end ns."""
    fails: list[dict[str, Any]] = []
    ivs: list[dict[str, Any]] = []
    t = T0
    for up, down in plan:
        ivs.append(_iv(cid, t, t + int(up * S), "up"))
        t += int(up * S)
        rec = None if down is None else t + round(down * S)
        fails.append(
            {
                "host": "h",
                "container_id": cid,
                "name": cid,
                "image": "img",
                "compose_project": None,
                "compose_service": None,
                "policy": policy,
                "time_ns": t,
                "cause": "clean_exit" if code == 0 else "crash",
                "exit_code": code,
                "inferred": False,
                "recovered_ns": rec,
                "ttr_s": down,
            }
        )
        if rec is None:
            break
        ivs.append(_iv(cid, t, rec, "down"))
        t = rec
    return fails, ivs, t


def _iv(cid: str, lo: int, hi: int, state: str) -> dict[str, Any]:
    return {
        "host": "h",
        "container_id": cid,
        "start_ns": lo,
        "end_ns": hi,
        "state": state,
        "cause": None,
    }


def frames(
    *parts: tuple[list[dict[str, Any]], list[dict[str, Any]], int], end_ns: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    fails = [r for p in parts for r in p[0]]
    ivs = [r for p in parts for r in p[1]]
    # every container is up from its last recovery to the end
    for p in parts:
        last = p[0][-1]
        if last["recovered_ns"] is not None:
            ivs.append(_iv(last["container_id"], last["recovered_ns"], end_ns, "up"))
        else:
            ivs.append(_iv(last["container_id"], last["time_ns"], end_ns, "down"))
    f = pd.DataFrame.from_records(fails, columns=FAILURE_COLUMNS)
    f["exit_code"] = f["exit_code"].astype("Int64")
    f["recovered_ns"] = f["recovered_ns"].astype("Int64")
    f["ttr_s"] = f["ttr_s"].astype(float)
    return f, pd.DataFrame.from_records(ivs, columns=INTERVAL_COLUMNS)


# An `always` crash loop: runs of 2 s, the engine waited 0.1, 0.2, 0.4, 0.8 (+ start latency),
# then a 12 s run resets the delay to 0.1.
ALWAYS_PLAN = [(2, 0.1 + LAT), (2, 0.2 + LAT), (2, 0.4 + LAT), (2, 0.8 + LAT), (12, 0.1 + LAT)]
# A `no` container restarted by hand after 30 s each time.
NO_PLAN = [(5, 30.0), (5, 30.0)]
# on-failure:2: two engine restarts, then a person (30 s), then the count starts again.
ONF_PLAN = [(1, 0.1 + LAT), (1, 0.2 + LAT), (1, 30.0), (1, 0.1 + LAT)]


def test_classify_and_measure() -> None:
    a = trace_rows("a", "always", ALWAYS_PLAN)
    n = trace_rows("n", "no", NO_PLAN)
    o = trace_rows("o", "on-failure:2", ONF_PLAN)
    f, _ = frames(a, n, o, end_ns=T0 + 300 * S)
    c = classify_recoveries(f)
    by = {cid: list(g["auto"]) for cid, g in c.groupby("container_id")}
    assert by == {"a": [True] * 5, "n": [False, False], "o": [True, True, False, True]}
    delays = list(c[c["container_id"] == "a"]["engine_delay_s"])
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.1])
    params = measure_params(c, None)
    assert params.manual_mttr_s == pytest.approx(30.0)
    assert params.manual_mttr_source == "measured"
    assert params.start_latency_s == pytest.approx(LAT)
    assert measure_params(c, 12.0).manual_mttr_s == 12.0


@pytest.mark.parametrize(
    ("plan", "policy"),
    [(ALWAYS_PLAN, "always"), (NO_PLAN, "no"), (ONF_PLAN, "on-failure:2")],
)
def test_replay_under_own_policy_reproduces_the_observed(
    plan: list[tuple[float, float | None]], policy: str
) -> None:
    part = trace_rows("x", policy, plan)
    end = T0 + 300 * S
    f, ivs = frames(part, end_ns=end)
    c = classify_recoveries(f)
    (trace,) = build_traces(c, ivs, Window(T0, end))
    params = ReplayParams(30.0, "measured", LAT)
    out = replay(trace, RestartPolicy.parse(policy), params)
    assert out.ttrs_s == pytest.approx([d for _, d in plan])
    assert out.failures == len(plan)
    assert out.up_s + out.down_s == pytest.approx(300.0)


def test_replay_of_a_no_trace_under_always_and_on_failure() -> None:
    trace = Trace(
        "h",
        "x",
        "x",
        "no",
        200.0,
        [
            Segment(5, 1, "crash", 30.0, False, None),
            Segment(5, 1, "crash", 30.0, False, None),
            Segment(5, 0, "clean_exit", 30.0, False, None),
        ],
    )
    params = ReplayParams(30.0, "measured", LAT)
    always = replay(trace, RestartPolicy("always"), params)
    assert always.ttrs_s == pytest.approx([0.1 + LAT, 0.2 + LAT, 0.4 + LAT])
    assert always.recovered_auto == 3
    assert always.crash_loops == 1
    onf = replay(trace, RestartPolicy("on-failure", 1), params)
    # 1 engine restart; the second crash uses up the retries: a person; exit 0: a person
    assert onf.ttrs_s == pytest.approx([0.1 + LAT, 30.0, 30.0])
    assert onf.recovered_auto == 1
    no = replay(trace, RestartPolicy("no"), params)
    assert no.ttrs_s == pytest.approx([30.0, 30.0, 30.0])
    assert no.recovered_auto == 0
    assert no.as_dict()["availability"] == pytest.approx(110 / 200)


def test_replay_stops_at_the_span_end() -> None:
    trace = Trace(
        "h",
        "x",
        "x",
        "no",
        20.0,
        [
            Segment(5, 1, "crash", 30.0, False, None),
            Segment(5, 1, "crash", 30.0, False, None),
        ],
    )
    out = replay(trace, RestartPolicy("no"), ReplayParams(30.0, "measured", LAT))
    assert out.failures == 1 and out.recovered == 0 and out.ttrs_s == []
    assert (out.up_s, out.down_s) == pytest.approx((5.0, 15.0))


def test_engine_restart_comes_back_with_the_engine_for_restarting_policies() -> None:
    seg = Segment(50, 143, "engine_restart", 10.0, True, 10.0)
    trace = Trace("h", "x", "x", "always", 500.0, [seg])
    params = ReplayParams(120.0, "--manual-mttr", LAT)
    assert replay(trace, RestartPolicy("always"), params).ttrs_s == [10.0]
    assert replay(trace, RestartPolicy("on-failure", 3), params).ttrs_s == [10.0]
    assert replay(trace, RestartPolicy("no"), params).ttrs_s == [120.0]


def test_compare_policies_report() -> None:
    a = trace_rows("a", "always", ALWAYS_PLAN)
    n = trace_rows("n", "no", NO_PLAN)
    end = T0 + 300 * S
    f, ivs = frames(a, n, end_ns=end)
    facts = pd.DataFrame(columns=FACT_COLUMNS)
    res = compare_policies(f, ivs, facts, Window(T0, end), retries=2)
    obs = {r["policy"]: r for r in res["observed"]}
    assert obs["always"]["failures"] == 5
    assert obs["always"]["recovered_without_person_ratio"] == 1.0
    assert obs["always"]["crash_loops"] == 1
    assert obs["always"]["backoff_wait_s"] == pytest.approx(1.6 + 5 * LAT)
    assert obs["no"]["mttr_s"] == pytest.approx(30.0)
    assert obs["no"]["recovered_without_person_ratio"] == 0.0
    assert obs["no"]["availability"] == pytest.approx(240 / 300)
    for row in res["observed"]:
        assert row["replayed_mttr_s"] == pytest.approx(row["mttr_s"])
    wi = {r["policy"]: r for r in res["what_if"]}
    assert set(wi) == {"no", "on-failure:2", "always", "unless-stopped"}
    assert wi["always"] == {**wi["unless-stopped"], "policy": "always"}
    assert wi["always"]["recovered_without_person_ratio"] == 1.0
    assert wi["no"]["mttr_s"] == pytest.approx(30.0)
    assert (
        wi["always"]["availability"] > wi["on-failure:2"]["availability"] > wi["no"]["availability"]
    )
    assert any("100 ms" in a for a in res["assumptions"])


# --- imported events carry no restart policy: what the events prove, never a silent `no` -------


def test_policies_of_imported_events_are_inferred_or_unknown(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from docktally.cli import main
    from docktally.timespec import ns_to_iso
    from tests.data import recorded

    # crash_loop: on-failure:3, the engine restarts it 0.1-0.4 s after each exit 1.
    # oom: killed once, never restarted.
    db = str(tmp_path / "p.db")
    times = []
    for name in ("crash_loop", "oom"):
        assert main(["import", "--db", db, "--host", "lab", str(recorded.path(name))]) == 0
        times += [int(p["timeNano"]) for p in recorded.container_payloads(name)]
    win = ["--since", ns_to_iso(min(times) - S), "--until", ns_to_iso(max(times) + S)]
    capsys.readouterr()
    assert main(["policies", "--db", db, *win, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    observed = {r["policy"]: r for r in doc["observed"]}
    assert set(observed) == {"on-failure (inferred)", "unknown"}
    assert observed["on-failure (inferred)"]["failures"] == 4
    assert any("(inferred)" in a for a in doc["assumptions"])
    assert main(["report", "--db", db, *win, "--by", "policy", "--format", "json"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert sorted(g["key"]["policy"] for g in groups) == ["on-failure (inferred)", "unknown"]


def test_the_engines_restart_is_told_from_a_persons() -> None:
    from docktally.analytics.failures import find_failures
    from docktally.analytics.report import build_report
    from tests.sample import history_from_rows, ns

    h = history_from_rows(
        events=[
            # Restarted 0.15 s after an exit 0: always (or unless-stopped); exit 0 is a failure.
            ("job", -10, "start"),
            ("job", 100, "die", {"exit_code": 0}),
            ("job", 100.15, "start"),
            # Started 30 s after a crash that followed a long run: a person, not the engine.
            ("manual", -10, "start"),
            ("manual", 100, "die", {"exit_code": 1}),
            ("manual", 130, "start"),
            # A docker restart (kill, die, stop, start): the user's, proves nothing.
            ("restarted", -10, "start"),
            ("restarted", 100, "kill", {"signal": 15}),
            ("restarted", 100.1, "die", {"exit_code": 143}),
            ("restarted", 100.2, "stop"),
            ("restarted", 100.3, "start"),
        ],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    from docktally.analytics.timeline import build_timeline

    policy = build_timeline(h, w).containers.set_index("name")["policy"]
    assert policy.to_dict() == {
        "job": "always (inferred)",
        "manual": "unknown",
        "restarted": "unknown",
    }
    f = find_failures(h, w).set_index("name")
    assert f.loc["job", "cause"] == "clean_exit" and f.loc["job", "policy"] == "always (inferred)"
    assert f.loc["manual", "policy"] == "unknown"
    g = build_report(h, w, by="policy").groups.set_index("policy")
    assert g.loc["always (inferred)", "failures"] == 1


def test_a_start_later_than_the_engine_would_wait_is_a_person_not_the_engine() -> None:
    # on-failure restarts a crash after 100 ms; a start an hour later was somebody's, and the
    # container's (inferred) policy must not make it the engine's.
    part = trace_rows("x", "on-failure (inferred)", [(60.0, LAT), (60.0, 3600.0), (60.0, LAT)])
    f, _ = frames(part, end_ns=T0 + 4000 * S)
    c = classify_recoveries(f)
    assert list(c["auto"]) == [True, False, True]
    assert measure_params(c, None).manual_mttr_s == pytest.approx(3600.0)


def test_a_lab_run_without_failures_compares_its_containers() -> None:
    """`docktally lab` limits the comparison to its own containers: when none failed, the
    selection is empty and the comparison still holds their uptime (it raised KeyError)."""
    a = trace_rows("a", "always", ALWAYS_PLAN)
    end = T0 + 300 * S
    f, ivs = frames(a, end_ns=end)
    ivs = pd.concat([ivs, pd.DataFrame([_iv("quiet", T0, end, "up")])], ignore_index=True)
    facts = pd.DataFrame(columns=FACT_COLUMNS)
    none = f.iloc[0:0]  # nothing failed anywhere
    res = compare_policies(none, ivs, facts, Window(T0, end), containers={("h", "quiet")})
    (row,) = res["observed"]
    assert (row["containers"], row["failures"]) == (1, 0)
    assert row["availability"] == pytest.approx(1.0)


def test_a_recovery_exactly_at_the_window_end_has_not_happened_yet() -> None:
    # The window is [start, end): a recovery at its end is after it, as for the report's MTTR.
    n = trace_rows("n", "no", [(5, 30.0), (5, 40.0)])
    f, ivs = frames(n, end_ns=n[2])
    res = compare_policies(f, ivs, pd.DataFrame(columns=FACT_COLUMNS), Window(T0, n[2]))
    (obs,) = res["observed"]
    assert obs["failures"] == 2
    assert obs["mttr_s"] == pytest.approx(30.0)
