"""Every definition of docs/definitions.md as a table-driven case.

Each case: events (name, seconds, action, extra), facts, coverage, maintenance; the window is
[0, 1000) s unless said; expected seconds per state and the failures (cause, ttr) of container
"c" (or the group named in `key`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from docktally.analytics.failures import find_failures
from docktally.analytics.intervals import build_intervals
from docktally.analytics.model import FAILURE_COLUMNS, INTERVAL_COLUMNS, Window
from docktally.analytics.report import build_report
from tests.sample import cid, history_from_rows, ns

W = Window(ns(0), ns(1000))
COV = [(-5000, 5000)]
ALWAYS = [("c", -500, {"restart_policy": "always"})]
HC = [("c", -500, {"has_healthcheck": True, "restart_policy": "always"})]


def die(t: float, code: int | None, **extra: Any) -> tuple[Any, ...]:
    return ("c", t, "die", {"exit_code": code, **extra})


CASES: list[dict[str, Any]] = [
    dict(
        id="window clipping: a run that began before the window, a crash inside",
        events=[("c", -100, "start"), die(500, 1)],
        want={"up": 500, "down": 500},
        failures=[("crash", None)],
    ),
    dict(
        id="planned stop: kill 15 then die 143 then stop",
        events=[
            ("c", -10, "start"),
            ("c", 300, "kill", {"signal": 15}),
            die(301, 143),
            ("c", 301.1, "stop"),
        ],
        want={"up": 301, "planned": 699},
        failures=[],
        causes={"planned": "user_stop"},
    ),
    dict(
        id="stop escalated to SIGKILL after the grace period is still a user stop",
        events=[
            ("c", -10, "start"),
            ("c", 300, "kill", {"signal": 15}),
            ("c", 310, "kill", {"signal": 9}),
            die(310.01, 137),
            ("c", 310.02, "stop"),
        ],
        want={"up": 310.01, "planned": 689.99},
        failures=[],
    ),
    dict(
        id="a kill long before the die does not explain it: 137 alone is a crash",
        events=[("c", -10, "start"), ("c", 100, "kill", {"signal": 10}), die(200, 137)],
        want={"up": 200, "down": 800},
        failures=[("crash", None)],
    ),
    dict(
        id="pause and unpause: planned",
        events=[("c", -10, "start"), ("c", 200, "pause"), ("c", 300, "unpause")],
        want={"up": 900, "planned": 100},
        failures=[],
        causes={"planned": "paused"},
    ),
    dict(
        id="unknown gap: no coverage, state carried across it but not counted",
        events=[("c", -10, "start")],
        coverage=[(-5000, 400), (600, 5000)],
        want={"up": 800, "unknown": 200},
        failures=[],
    ),
    dict(
        id="crash loop under on-failure:3: four failures, three restarts, MTTR of recovered",
        facts=[("c", -500, {"restart_policy": "on-failure", "restart_max_retries": 3})],
        events=[
            ("c", -10, "start"),
            die(100, 1),
            ("c", 100.1, "start"),
            die(100.3, 1),
            ("c", 100.7, "start"),
            die(101, 1),
            ("c", 102, "start"),
            die(103, 1),
        ],
        want={"up": 100 + 0.2 + 0.3 + 1, "down": 0.1 + 0.4 + 1 + 897},
        failures=[("crash", 0.1), ("crash", 0.4), ("crash", 1.0), ("crash", None)],
        restarts=3,
        policy="on-failure:3",
    ),
    dict(
        id="health: unhealthy is downtime and a failure; recovery is healthy",
        facts=HC,
        events=[
            ("c", -10, "start"),
            ("c", -5, "health_status: healthy"),
            ("c", 200, "health_status: unhealthy"),
            ("c", 260, "health_status: healthy"),
        ],
        want={"up": 940, "unhealthy": 60},
        failures=[("unhealthy", 60)],
    ),
    dict(
        id="health: after a crash the container is down until healthy again",
        facts=HC,
        events=[
            ("c", -10, "start"),
            ("c", -5, "health_status: healthy"),
            die(100, 1),
            ("c", 101, "start"),
            ("c", 120, "health_status: healthy"),
        ],
        want={"up": 980, "down": 20},
        failures=[("crash", 20)],
        restarts=1,
    ),
    dict(
        id="inferred transitions prove the state from their time on, through the gap",
        events=[
            ("c", -10, "start"),
            die(200, 137, inferred=True, cause_hint="engine_restart"),
            ("c", 300, "start", {"inferred": True, "cause_hint": "engine_restart"}),
        ],
        coverage=[(-5000, 100), (500, 5000)],
        want={"up": 100 + 200 + 500, "down": 100, "unknown": 100},
        failures=[("engine_restart", 100)],
        restarts=1,
    ),
    dict(
        id="engine restart: the daemon's SIGTERM is not a user stop",
        facts=ALWAYS,
        events=[
            ("c", -10, "start"),
            ("c", 199, "kill", {"signal": 15}),
            die(199.5, 137, inferred=True, cause_hint="engine_restart"),
            ("c", 210, "start", {"inferred": True, "cause_hint": "engine_restart"}),
        ],
        want={"up": 989.5, "down": 10.5},
        failures=[("engine_restart", 10.5)],
    ),
    dict(
        id="oom event before the die: cause oom",
        events=[("c", -10, "start"), ("c", 300, "oom"), die(300.01, 137)],
        want={"up": 300.01, "down": 699.99},
        failures=[("oom", None)],
        oom_kills=1,
    ),
    dict(
        id="OOMKilled evidence on an inferred die: cause oom",
        events=[("c", -10, "start"), die(300, 137, inferred=True, cause_hint="oom")],
        want={"up": 300, "down": 700},
        failures=[("oom", None)],
        oom_kills=1,
    ),
    dict(
        id="exit 0 under always is a failure (clean_exit)",
        facts=ALWAYS,
        events=[("c", -10, "start"), die(400, 0), ("c", 401, "start")],
        want={"up": 999, "down": 1},
        failures=[("clean_exit", 1)],
        restarts=1,
    ),
    dict(
        id="exit 0 under no is a finished job: planned",
        events=[("c", -10, "start"), die(400, 0)],
        want={"up": 400, "planned": 600},
        failures=[],
        causes={"planned": "clean_exit"},
    ),
    dict(
        id="exit 127: start failure",
        events=[("c", 100, "create"), ("c", 101, "start"), die(101.2, 127)],
        want={"planned": 101, "up": 0.2, "down": 898.8},
        failures=[("start_failure", None)],
    ),
    dict(
        id="created, never started before the window: absent then created are planned",
        events=[("c", 100, "create"), ("c", 200, "start")],
        want={"planned": 200, "up": 800},
        failures=[],
    ),
    dict(
        id="first event a die: nothing known before it",
        events=[die(500, 1)],
        want={"unknown": 500, "down": 500},
        failures=[("crash", None)],
    ),
    dict(
        id="maintenance: down time inside the window is planned, the failure is not counted",
        events=[("c", -10, "start"), die(300, 1), ("c", 400, "start")],
        maintenance=[{"target": "c", "start": 250, "end": 450}],
        want={"up": 900, "planned": 100},
        failures=[],
        causes={"planned": "maintenance"},
    ),
    dict(
        id="deploy window on the service: cause deploy; down time after it is downtime",
        events=[("c", -10, "start"), die(300, 1), ("c", 600, "start")],
        maintenance=[
            {"target_kind": "service", "target": "c", "start": 250, "end": 450, "kind": "deploy"}
        ],
        want={"up": 700, "planned": 150, "down": 150},
        failures=[],
        causes={"planned": "deploy"},
    ),
    dict(
        id="policy asof: exit 0 is a job end under no, a failure once updated to always",
        facts=[("c", -500, {"restart_policy": "no"}), ("c", 500, {"restart_policy": "always"})],
        events=[("c", -10, "start"), die(300, 0), ("c", 400, "start"), die(700, 0)],
        want={"up": 600, "planned": 100, "down": 300},
        failures=[("clean_exit", None)],
        policy="always",
    ),
]


def _history(case: dict[str, Any]) -> Any:
    return history_from_rows(
        events=case["events"],
        facts=case.get("facts", []),
        coverage=case.get("coverage", COV),
        maintenance=case.get("maintenance", []),
    )


def _seconds(iv: pd.DataFrame) -> dict[str, float]:
    d = (iv["end_ns"] - iv["start_ns"]) / 1e9
    return {k: round(float(v), 6) for k, v in d.groupby(iv["state"]).sum().items() if v > 0}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_definition(case: dict[str, Any]) -> None:
    h = _history(case)
    iv = build_intervals(h, W)
    assert list(iv.columns) == INTERVAL_COLUMNS
    iv = iv[iv["container_id"] == cid("c")]
    assert _seconds(iv) == pytest.approx({k: float(v) for k, v in case["want"].items()})
    # The intervals tile the window, in order, without overlap.
    assert iv["start_ns"].iloc[0] == W.start_ns and iv["end_ns"].iloc[-1] == W.end_ns
    assert (iv["start_ns"].iloc[1:].to_numpy() == iv["end_ns"].iloc[:-1].to_numpy()).all()
    assert iv.loc[iv["state"] != "up", "cause"].notna().all()
    for state, cause in case.get("causes", {}).items():
        assert set(iv.loc[iv["state"] == state, "cause"]) == {cause}

    f = find_failures(h, W)
    assert list(f.columns) == FAILURE_COLUMNS
    got = [
        (c, None if pd.isna(t) else round(float(t), 6))
        for c, t in zip(f["cause"], f["ttr_s"], strict=True)
    ]
    assert got == [(c, None if t is None else pytest.approx(t)) for c, t in case["failures"]]
    if "policy" in case and len(f):
        assert f["policy"].iloc[-1] == case["policy"]

    r = build_report(h, W).groups
    row = r[r["container_id"] == cid("c")].iloc[0]
    assert row["failures"] == len(case["failures"])
    assert row["restarts"] == case.get("restarts", row["restarts"])
    assert row["oom_kills"] == case.get("oom_kills", 0)
    up = case["want"].get("up", 0)
    down = case["want"].get("down", 0) + case["want"].get("unhealthy", 0)
    assert row["availability"] == pytest.approx(up / (up + down))
    ttrs = [t for _, t in case["failures"] if t is not None]
    if ttrs:
        assert row["mttr_s"] == pytest.approx(sum(ttrs) / len(ttrs))
    else:
        assert pd.isna(row["mttr_s"])


def test_policy_grouping_uses_the_policy_in_effect_at_the_time() -> None:
    case = next(c for c in CASES if c["id"].startswith("policy asof"))
    g = build_report(_history(case), W, by="policy").groups.set_index("policy")
    assert g.loc["no", "uptime_s"] == pytest.approx(400)
    assert g.loc["no", "planned_s"] == pytest.approx(100)
    assert g.loc["always", "uptime_s"] == pytest.approx(200)
    assert g.loc["always", "downtime_s"] == pytest.approx(300)
    assert g.loc["always", "failures"] == 1 and g.loc["no", "failures"] == 0


def _svc(project: str, service: str) -> dict[str, str]:
    return {"compose_project": project, "compose_service": service}


def test_service_keeps_history_across_a_recreated_container() -> None:
    web = _svc("shop", "web")
    h = history_from_rows(
        events=[
            ("web-1", -10, "start", web),
            ("web-1", 300, "health_status: healthy", web),
            ("web-2", 399, "create", web),
            ("web-1", 400, "kill", {"signal": 15, **web}),
            ("web-1", 400.5, "die", {"exit_code": 0, **web}),
            ("web-1", 400.6, "stop", web),
            ("web-1", 401, "destroy", web),
            ("web-2", 402, "start", web),
            ("web-2", 800, "die", {"exit_code": 2, **web}),
            ("web-2", 810, "start", web),
        ],
        coverage=COV,
    )
    f = find_failures(h, W)
    assert list(f["cause"]) == ["crash"]
    iv = build_intervals(h, W)
    old = iv[iv["container_id"] == cid("web-1")]
    assert "redeploy" in set(old["cause"])
    g = build_report(h, W, by="service").groups
    assert list(g["service"]) == ["shop/web"]
    row = g.iloc[0]
    assert row["uptime_s"] == pytest.approx(400.5 + 398 + 190)
    assert row["planned_s"] == pytest.approx(1.5)
    assert row["downtime_s"] == pytest.approx(10)
    assert row["failures"] == 1 and row["mttr_s"] == pytest.approx(10)
    assert row["exit_codes"] == {"2": 1}


def test_service_is_up_while_any_container_is_up() -> None:
    api = _svc("shop", "api")
    h = history_from_rows(
        events=[
            ("api-1", -10, "start", api),
            ("api-2", -10, "start", api),
            ("api-1", 100, "die", {"exit_code": 1, **api}),
            ("api-2", 600, "die", {"exit_code": 1, **api}),
            ("api-1", 700, "start", api),
        ],
        coverage=COV,
    )
    g = build_report(h, W, by="service").groups.iloc[0]
    assert (g["uptime_s"], g["downtime_s"]) == pytest.approx((900, 100))
    assert g["failures"] == 1 and g["mttr_s"] == pytest.approx(100)
    by_c = build_report(h, W).groups
    assert by_c["failures"].sum() == 2


def test_mtbf_confidence_interval_matches_chi_squared() -> None:
    from scipy.stats import chi2

    case = next(c for c in CASES if c["id"].startswith("crash loop"))
    row = build_report(_history(case), W).groups.iloc[0]
    t, r = row["uptime_s"], 4
    assert row["mtbf_s"] == pytest.approx(t / r)
    assert row["mtbf_ci90_low_s"] == pytest.approx(2 * t / chi2.ppf(0.95, 2 * r + 2))
    assert row["mtbf_ci90_high_s"] == pytest.approx(2 * t / chi2.ppf(0.05, 2 * r))
    calm = history_from_rows(events=[("c", -10, "start")], coverage=COV)
    row0 = build_report(calm, W).groups.iloc[0]
    assert pd.isna(row0["mtbf_s"]) and pd.isna(row0["mtbf_ci90_high_s"])
    assert row0["mtbf_ci90_low_s"] == pytest.approx(2 * 1000 / chi2.ppf(0.95, 2))


def test_by_image_and_host_sum_container_time() -> None:
    h = history_from_rows(
        events=[("a", -10, "start"), ("b", -10, "start"), ("b", 500, "die", {"exit_code": 1})],
        coverage=COV,
    )
    img = build_report(h, W, by="image").groups.iloc[0]
    assert (img["image"], img["uptime_s"], img["downtime_s"]) == ("img:1", 1500, 500)
    host = build_report(h, W, by="host").groups.iloc[0]
    assert host["host"] == "local" and host["failures"] == 1


def test_destroyed_container_without_time_in_the_window_is_not_reported() -> None:
    h = history_from_rows(
        events=[
            ("gone", -300, "start"),
            ("gone", -200, "die", {"exit_code": 0}),
            ("gone", -100, "destroy"),
            ("c", -10, "start"),
        ],
        coverage=COV,
    )
    assert list(build_report(h, W).groups["container"]) == ["c"]


def test_time_a_container_did_not_exist_is_nobodys_planned_time() -> None:
    """Before its create and after its destroy a container has no time of its own: not planned
    (a person stopped nothing), in no field; the classes sum to the time it existed."""
    h = history_from_rows(
        events=[
            ("c", 100, "create"),
            ("c", 200, "start"),
            ("c", 500, "die", {"exit_code": 0}),
            ("c", 700, "destroy"),
        ],
        coverage=COV,
    )
    for by in ("container", "service"):
        rep = build_report(h, W, by=by)
        row = rep.groups.iloc[0]
        # created 100..200, finished job 500..700; before 100 and after 700 it did not exist
        assert (row["uptime_s"], row["planned_s"]) == (300, 300)
        assert row[["uptime_s", "downtime_s", "planned_s", "unknown_s"]].sum() == 600
        assert rep.fleet["planned_s"] == 300
        assert rep.time_by_class_s == {
            "up": 300,
            "unhealthy": 0,
            "down": 0,
            "unknown": 0,
            "planned:created": 100,
            "planned:clean_exit": 200,
        }
    daily = build_report(h, W, every="day").breakdown
    assert daily is not None and list(daily["planned_s"]) == [300]
