"""A fleet's grouping: a service deployed on several hosts is one group by `service` (down only
while its replicas on every host are down) and one group per host by `host,service`; the fleet
overview's hosts, engine restarts and worst services. Pure, on literal and random multi-host
histories; and the CLI's five formats on recorded events imported as two hosts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docktally.analytics.fleet import fleet_overview
from docktally.analytics.model import ENGINE_RESTART_COLUMNS, History, Window
from docktally.analytics.options import check_by
from docktally.analytics.report import build_report
from docktally.cli import main
from docktally.errors import UsageError
from tests.sample import coverage_frame, events_frame, facts_frame, ns

W = Window(ns(0), ns(1000))
WEB = {"compose_project": "shop", "compose_service": "web"}
DB = {"compose_project": "shop", "compose_service": "db"}
TOTALS = ["uptime_s", "downtime_s", "planned_s", "unknown_s"]


def fleet_history(
    events: list[tuple[Any, ...]],
    hosts: dict[str, str],
    coverage: list[tuple[float, float]] = ((-5000, 5000),),  # type: ignore[assignment]
    engine_restarts: list[tuple[str, float, float]] = (),  # type: ignore[assignment]
    policy: str = "always",
) -> History:
    """Events (name, seconds, action[, extra]) of containers placed on hosts by name; every
    host watched over the same `coverage`."""
    rows = [(*e[:3], {**(e[3] if len(e) > 3 else {}), "host": hosts[e[0]]}) for e in events]
    facts = [
        (name, -1000, {"host": host, "restart_policy": policy, **_labels(events, name)})
        for name, host in hosts.items()
    ]
    return History(
        events=events_frame(rows),
        facts=facts_frame(facts),
        coverage=pd.concat(
            [coverage_frame(coverage, host=h) for h in sorted(set(hosts.values()))],
            ignore_index=True,
        ),
        maintenance=History.empty().maintenance,
        engine_restarts=pd.DataFrame(
            [(h, ns(s), ns(e), True) for h, s, e in engine_restarts],
            columns=ENGINE_RESTART_COLUMNS,
        ),
    )


def _labels(events: list[tuple[Any, ...]], name: str) -> dict[str, Any]:
    for e in events:
        if e[0] == name and len(e) > 3 and e[3].get("compose_service"):
            return {k: e[3][k] for k in ("compose_project", "compose_service")}
    return {}


# web runs one replica on each host: edge-1's is down [100, 300), edge-2's [200, 250); db runs
# on edge-2 alone, down [500, 600); cache on edge-1 is taken down by the engine's restart at 400.
EVENTS: list[tuple[Any, ...]] = [
    ("web-1", -10, "start", WEB),
    ("web-1", 100, "die", {"exit_code": 1, **WEB}),
    ("web-1", 300, "start", WEB),
    ("web-2", -10, "start", WEB),
    ("web-2", 200, "die", {"exit_code": 1, **WEB}),
    ("web-2", 250, "start", WEB),
    ("db-1", -10, "start", DB),
    ("db-1", 500, "die", {"exit_code": 2, **DB}),
    ("db-1", 600, "start", DB),
    ("cache", -10, "start"),
    ("cache", 400, "die", {"exit_code": 137, "inferred": True, "cause_hint": "engine_restart"}),
    ("cache", 410, "start", {"inferred": True}),
]
HOSTS = {"web-1": "edge-1", "cache": "edge-1", "web-2": "edge-2", "db-1": "edge-2"}


def _row(groups: pd.DataFrame, **key: str) -> pd.Series:
    hit = groups
    for k, v in key.items():
        hit = hit[hit[k] == v]
    assert len(hit) == 1, (key, groups[list(key)])
    return hit.iloc[0]


def test_a_service_on_two_hosts_is_one_group_by_service_and_two_by_host_service() -> None:
    h = fleet_history(EVENTS, HOSTS)
    by_service = build_report(h, W, by="service").groups
    assert list(by_service.columns[:2]) == ["service", "uptime_s"]  # no host in the key
    assert list(by_service["service"]) == ["cache", "shop/db", "shop/web"]
    web = _row(by_service, service="shop/web")
    # Down only while both replicas were: [200, 250).
    assert (web["uptime_s"], web["downtime_s"]) == pytest.approx((950, 50))
    assert web["failures"] == 1 and web["mttr_s"] == pytest.approx(50)
    assert web["restarts"] == 2 and web["exit_codes"] == {"1": 2}

    per_host = build_report(h, W, by="host,service").groups
    assert list(zip(per_host["host"], per_host["service"], strict=True)) == [
        ("edge-1", "cache"),
        ("edge-1", "shop/web"),
        ("edge-2", "shop/db"),
        ("edge-2", "shop/web"),
    ]
    one = _row(per_host, host="edge-1", service="shop/web")
    assert (one["uptime_s"], one["downtime_s"], one["failures"]) == pytest.approx((800, 200, 1))
    assert one["mttr_s"] == pytest.approx(200) and one["restarts"] == 1
    two = _row(per_host, host="edge-2", service="shop/web")
    assert (two["uptime_s"], two["downtime_s"], two["failures"]) == pytest.approx((950, 50, 1))
    # A service on one host is the same group either way.
    db_all, db_one = _row(by_service, service="shop/db"), _row(per_host, service="shop/db")
    for col in [*TOTALS, "failures", "restarts", "mttr_s"]:
        assert db_all[col] == pytest.approx(db_one[col]), col


def test_the_fleet_overview_ranks_hosts_counts_engine_restarts_and_worst_services() -> None:
    h = fleet_history(EVENTS, HOSTS, engine_restarts=[("edge-1", 399, 410), ("edge-1", -50, -40)])
    fo = fleet_overview(h, W)
    hosts = fo.hosts.set_index("host")
    assert list(fo.hosts["host"]) == ["edge-1", "edge-2"]  # the least available first
    # edge-1: web-1 down 200 s, cache down 10 s, of 2000 container-seconds.
    assert hosts.loc["edge-1", "availability"] == pytest.approx(1790 / 2000)
    assert hosts.loc["edge-2", "availability"] == pytest.approx(1850 / 2000)
    assert hosts.loc["edge-1", "engine_restarts"] == 1  # the one before the window is not
    assert hosts.loc["edge-2", "engine_restarts"] == 0
    assert hosts.loc["edge-1", "engine_restart_failures"] == 1
    assert list(hosts["containers"]) == [2, 2] and list(hosts["services"]) == [2, 2]
    assert hosts["watched_ratio"].tolist() == [1.0, 1.0]
    # The same numbers as the report's --by host.
    report = build_report(h, W, by="host").groups.set_index("host")
    for col in ("availability", "uptime_s", "downtime_s", "failures", "restarts"):
        assert hosts[col].to_dict() == pytest.approx(report[col].to_dict()), col

    worst = fo.worst_services
    assert list(worst["service"]) == ["shop/db", "shop/web", "cache"]  # 90%, 95%, 99%
    web = _row(worst, service="shop/web")
    assert web["hosts"] == 2 and web["host_names"] == "edge-1, edge-2"
    assert web["availability"] == pytest.approx(0.95)
    assert fo.totals["hosts"] == 2 and fo.totals["engine_restarts"] == 1
    assert fo.totals["availability"] == pytest.approx((1790 + 1850) / 4000)


def test_the_fleet_overview_of_nothing_is_empty() -> None:
    fo = fleet_overview(History.empty(), W)
    assert fo.hosts.empty and fo.services.empty and fo.worst_services.empty
    assert fo.totals["hosts"] == 0 and fo.totals["availability"] is None


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("service", "service"),
        ("host,service", "host,service"),
        ("service,host", "host,service"),
        (" host , service ", "host,service"),
        ("host", "host"),
    ],
)
def test_by_is_one_syntax(text: str, want: str) -> None:
    assert check_by(text) == want


@pytest.mark.parametrize("text", ["services", "host,host", "host,image", "host,service,host", ""])
def test_by_refuses_in_one_line(text: str) -> None:
    with pytest.raises(UsageError, match="--by"):
        check_by(text)


# --- random fleets ------------------------------------------------------------------------------

ACTIONS = [
    ("start", {}),
    ("die", {"exit_code": 0}),
    ("die", {"exit_code": 1}),
    ("die", {"exit_code": 137}),
    ("kill", {"signal": 15}),
    ("stop", {}),
    ("oom", {}),
    ("pause", {}),
    ("unpause", {}),
    ("create", {}),
]
NAMES = ["w1", "w2", "w3", "w4"]
fleets = st.fixed_dictionaries(
    {
        "events": st.lists(
            st.tuples(st.sampled_from(NAMES), st.integers(-200, 1200), st.integers(0, 9)),
            min_size=1,
            max_size=40,
        ),
        "hosts": st.lists(st.sampled_from(["edge-1", "edge-2"]), min_size=4, max_size=4),
        "coverage": st.lists(
            st.tuples(st.integers(-300, 1300), st.integers(1, 600)), min_size=1, max_size=3
        ),
        "policy": st.sampled_from(["no", "always", "on-failure"]),
    }
)


def _random_fleet(d: dict[str, Any], one_host: str | None = None) -> History:
    """Every container a replica of shop/web, placed as drawn (or all on `one_host`)."""
    hosts = {n: one_host or h for n, h in zip(NAMES, d["hosts"], strict=True)}
    events = [(n, t, ACTIONS[a][0], {**ACTIONS[a][1], **WEB}) for n, t, a in d["events"]]
    cov = [(s, s + length) for s, length in d["coverage"]]
    return fleet_history(events, hosts, coverage=cov, policy=d["policy"])


NUMBERS = [*TOTALS, "failures", "restarts", "oom_kills", "mttr_s", "availability"]


def _same(a: pd.Series, b: pd.Series) -> None:
    for col in NUMBERS:
        if pd.isna(a[col]) or pd.isna(b[col]):
            assert pd.isna(a[col]) and pd.isna(b[col]), col
        else:
            assert float(a[col]) == pytest.approx(float(b[col]), abs=1e-6), col
    assert a["exit_codes"] == b["exit_codes"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fleets)
def test_random_fleets_group_by_service_across_hosts_and_per_host(d: dict[str, Any]) -> None:
    h = _random_fleet(d)
    across = build_report(h, W, by="service").groups
    per_host = build_report(h, W, by="host,service").groups
    # Across hosts, the replicas count as if they ran side by side on one host.
    together = build_report(_random_fleet(d, one_host="edge-1"), W, by="service").groups
    assert len(across) == len(together) <= 1
    if len(across):
        _same(across.iloc[0], together.iloc[0])
        assert across["uptime_s"].iloc[0] >= per_host["uptime_s"].max() - 1e-6
    # Per host, each row is that host's replicas alone.
    assert sorted(per_host["host"]) == sorted(set(per_host["host"]))
    for _, row in per_host.iterrows():
        alone = History(
            events=h.events[h.events["host"] == row["host"]],
            facts=h.facts[h.facts["host"] == row["host"]],
            coverage=h.coverage[h.coverage["host"] == row["host"]],
            maintenance=h.maintenance,
        )
        _same(row, build_report(alone, W, by="service").groups.iloc[0])


# --- the command line, every format -------------------------------------------------------------

RECORDED = Path(__file__).parent / "data" / "events" / "crash_loop.jsonl"
SINCE, UNTIL = "2026-11-28T00:02:50Z", "2026-11-28T00:03:40Z"


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The recorded crash loop of shop/web on host-a, and the same 2 s later on host-b."""
    folder = tmp_path_factory.mktemp("fleet")
    later = folder / "later.jsonl"
    lines = []
    for line in RECORDED.read_text().splitlines():
        ev = json.loads(line)
        ev["time"] += 2
        ev["timeNano"] += 2 * 10**9
        lines.append(json.dumps(ev))
    later.write_text("\n".join(lines) + "\n")
    db = str(folder / "fleet.db")
    assert main(["import", "--db", db, "--host", "host-a", str(RECORDED)]) == 0
    assert main(["import", "--db", db, "--host", "host-b", str(later)]) == 0
    return db


def _report(capsys: pytest.CaptureFixture[str], db: str, by: str, fmt: str) -> str:
    capsys.readouterr()
    argv = ["report", "--db", db, "--since", SINCE, "--until", UNTIL, "--by", by]
    assert main([*argv, "--format", fmt]) == 0
    return capsys.readouterr().out


def test_every_format_has_one_row_by_service_and_one_per_host_by_host_service(
    two_hosts: str, capsys: pytest.CaptureFixture[str]
) -> None:
    across = json.loads(_report(capsys, two_hosts, "service", "json"))
    per_host = json.loads(_report(capsys, two_hosts, "host,service", "json"))
    assert across["by"] == "service" and per_host["by"] == "host,service"
    assert [g["key"] for g in across["groups"]] == [{"service": "shop/web"}]
    assert [g["key"] for g in per_host["groups"]] == [
        {"host": "host-a", "service": "shop/web"},
        {"host": "host-b", "service": "shop/web"},
    ]
    a, b = per_host["groups"]
    web = across["groups"][0]
    # Each host alone crash-loops the same way; together the service is down only while both
    # replicas are (or one is and the other's host was not watched), and every replica's
    # restarts and exits count.
    assert a["failures"] == b["failures"] > 0
    assert a["downtime_s"] == pytest.approx(b["downtime_s"])
    assert 0 < web["downtime_s"] < a["downtime_s"] + b["downtime_s"]
    assert web["restarts"] == a["restarts"] + b["restarts"]
    assert web["exit_codes"] == {"1": a["exit_codes"]["1"] + b["exit_codes"]["1"]}

    rows = list(csv.DictReader(io.StringIO(_report(capsys, two_hosts, "host,service", "csv"))))
    assert [(r["host"], r["service"]) for r in rows] == [
        ("host-a", "shop/web"),
        ("host-b", "shop/web"),
    ]
    rows = list(csv.DictReader(io.StringIO(_report(capsys, two_hosts, "service", "csv"))))
    assert [r["service"] for r in rows] == ["shop/web"] and "host" not in rows[0]
    for fmt in ("table", "markdown", "html"):
        text = _report(capsys, two_hosts, "host,service", fmt)
        assert "host-a" in text and "host-b" in text and text.count("shop/web") >= 2, fmt
        text = _report(capsys, two_hosts, "service", fmt)
        assert "host-a" not in text and "shop/web" in text, fmt


def test_rules_take_the_same_by(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--slo", "99", "--by", "host,service"]) == 0
    assert "sum by (host, service)" in capsys.readouterr().out
    assert main(["rules", "--slo", "99", "--by", "image"]) == 2
    assert "--by: 'image' is not one of container|service|host,service" in capsys.readouterr().err
