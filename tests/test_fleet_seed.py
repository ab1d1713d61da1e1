"""A two-host database for the fleet's dashboard tests: the dashboard seed (host `testhost`,
tests/test_dashboard_seed.py) and a second host written beside it, as a second host's collector
would. `edge-2` runs a replica of shop/web (as testhost does) that crashes twice and an api that
crashes once; its engine restarted twice. An alert fired on each host.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.analytics.select import without_lab
from docktally.store import alerts as outbox
from docktally.store import db, reads, writes
from tests.test_dashboard_seed import HOST, S, Seed, _event, _fact, seed

EDGE = "edge-2"
EDGE_FAILURES = 3
EDGE_ENGINE_RESTARTS = 2


def _on_edge(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "host": EDGE}


def seed_second_host(url: str, now_ns: int) -> None:
    t0 = now_ns - 6 * 3600 * S
    shop = {"project": "shop", "service": "web"}
    ev = [
        _event(t0, 11, "web", 0, "create", **shop),
        _event(t0, 11, "web", 2, "start", **shop),
        _event(t0, 11, "web", 600, "die", exit_code=1, **shop),
        _event(t0, 11, "web", 900, "start", **shop),
        _event(t0, 11, "web", 5000, "die", exit_code=139, **shop),
        _event(t0, 11, "web", 5300, "start", **shop),
        _event(t0, 12, "api", 0, "create"),
        _event(t0, 12, "api", 3, "start"),
        _event(t0, 12, "api", 9000, "die", exit_code=2),
        _event(t0, 12, "api", 9060, "start"),
    ]
    engine = db.connect(url)
    with engine.begin() as conn:
        writes.insert_events(conn, [_on_edge(e) for e in ev])
        writes.record_facts(conn, _on_edge(_fact(t0, 11, "web", "always", **shop)))
        writes.record_facts(conn, _on_edge(_fact(t0, 12, "api", "always")))
        cov = writes.open_coverage(
            conn,
            host=EDGE,
            engine_url="tcp://edge-2:2376",
            engine_id="EDGE",
            source="collector",
            start_ns=t0 - 60 * S,
        )
        writes.close_coverage(conn, cov, now_ns + 3600 * S, "test")
        for i in range(EDGE_ENGINE_RESTARTS):
            start = t0 + (7000 + 1000 * i) * S
            writes.record_gap(
                conn,
                host=EDGE,
                engine_url="tcp://edge-2:2376",
                start_ns=start,
                end_ns=start + 20 * S,
                reason="engine_restart",
                events_replayed=0,
            )
        outbox.enqueue(conn, [_alert(h, t0 + 9000 * S) for h in (HOST, EDGE)])
    engine.dispose()


def _alert(host: str, created_ns: int) -> dict[str, Any]:
    key = f"crash_loop/{host}/web"
    return {
        "dedupe_key": f"{key}/firing",
        "target": "t1",
        "target_label": "json://localhost:9/",
        "alert_key": key,
        "rule": "crash loop",
        "kind": "firing",
        "severity": "critical",
        "subject": f"web on {host}",
        "host": host,
        "key": "web",
        "incident_id": None,
        "title": f"[CRITICAL] crash loop: web on {host}",
        "body": "x",
        "notify_type": "failure",
        "created_ns": created_ns,
    }


def seed_fleet(url: str, now_ns: int) -> Seed:
    out = seed(url, now_ns)
    seed_second_host(url, now_ns)
    return out


def test_the_fleet_seed_has_two_hosts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    now = time.time_ns()
    seed_fleet(url, now)
    with db.open_reader(db.connect(url, readonly=True)) as reader:
        # As the report and the dashboard count by default: the seed's lab run left out.
        h = without_lab(reads.load_history(reader, now - 86400 * S, now))
    groups = build_report(h, Window(now - 86400 * S, now), by="host").groups.set_index("host")
    assert sorted(groups.index) == [EDGE, HOST]
    assert groups.loc[EDGE, "failures"] == EDGE_FAILURES
    assert list(h.engine_restarts["host"]).count(EDGE) == EDGE_ENGINE_RESTARTS
