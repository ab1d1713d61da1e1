"""A small seeded database for the dashboard tests: a steady web server, a crash loop, an OOM
kill, a user stop, a stop that needed a SIGKILL, a container whose name and label are HTML
meant to run script, and a `docktally lab` run on a host of its own (left out by default).

`seed(url, now_ns)` writes it through docktally.store.writes; the test here checks the seed
itself, so a failing dashboard test is never a broken fixture in disguise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from docktally.store import db, writes
from docktally.store.schema import events

S = 1_000_000_000
HOST = "testhost"
HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_LABEL = "<script>alert(2)</script>"
# `cache` ignores SIGTERM: its stop waits out the 10 s grace period and ends in SIGKILL.
FORCED = "cache"
FORCED_STOP_S = 10.0
LAB = "dtlab-run1-no"
LAB_HOST = "lab-engine"


@dataclass(frozen=True)
class Seed:
    url: str
    now_ns: int
    t0_ns: int


def _cid(n: int) -> str:
    return f"{n:02d}" * 32


def _event(
    t0: int,
    n: int,
    name: str,
    offset_s: float,
    action: str,
    *,
    exit_code: int | None = None,
    signal: int | None = None,
    project: str | None = None,
    service: str | None = None,
    host: str = HOST,
) -> dict[str, Any]:
    kind, _, arg = action.partition(":")
    return {
        "host": host,
        "container_id": _cid(n),
        "time_ns": t0 + int(offset_s * S),
        "action": action,
        "kind": kind.strip(),
        "name": name,
        "image": "busybox:latest",
        "exit_code": exit_code,
        "signal": signal,
        "health": arg.strip() or None if kind == "health_status" else None,
        "compose_project": project,
        "compose_service": service,
        "inferred": False,
        "cause_hint": None,
        "evidence": None,
        "raw": json.dumps({"Action": action, "name": name}),
        "source": "test",
    }


def _fact(
    t0: int, n: int, name: str, policy: str, retries: int = 0, **extra: Any
) -> dict[str, Any]:
    labels = extra.pop("labels", {})
    project = extra.pop("project", None)
    service = extra.pop("service", None)
    host = extra.pop("host", HOST)
    if project:
        labels = {
            **labels,
            "com.docker.compose.project": project,
            "com.docker.compose.service": service,
        }
    return {
        "host": host,
        "container_id": _cid(n),
        "observed_ns": t0,
        "name": name,
        "image": "busybox:latest",
        "created_ns": t0,
        "restart_policy": policy,
        "restart_max_retries": retries,
        "has_healthcheck": False,
        "stop_timeout_s": None,
        "memory_limit_bytes": 64 * 1024 * 1024 if name == "db" else None,
        "compose_project": project,
        "compose_service": service,
        "labels": json.dumps(labels, sort_keys=True),
    }


# Crash loop: `worker` dies with exit 1 four times, restarted by on-failure:3 after each of the
# first three; after the fourth the engine gives up, so it is down at the end.
WORKER_DIES_S = (120.0, 130.0, 141.0, 155.0)
WORKER_FAILURES = len(WORKER_DIES_S)
DB_OOM_S = 3600.0
DB_RECOVERY_S = 5.0


def seed_rows(now_ns: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    t0 = now_ns - 6 * 3600 * S
    ev: list[dict[str, Any]] = []
    shop = {"project": "shop"}
    # 1: web, always up.
    ev += [
        _event(t0, 1, "web", 0, "create", **shop, service="web"),
        _event(t0, 1, "web", 1, "start", **shop, service="web"),
    ]
    # 2: worker, a crash loop.
    ev += [_event(t0, 2, "worker", 0, "create"), _event(t0, 2, "worker", 60, "start")]
    for i, die in enumerate(WORKER_DIES_S):
        ev.append(_event(t0, 2, "worker", die, "die", exit_code=1))
        if i < len(WORKER_DIES_S) - 1:
            ev.append(_event(t0, 2, "worker", die + 2 * (i + 1), "start"))
    # 3: db, killed by the OOM killer and restarted.
    ev += [
        _event(t0, 3, "db", 0, "create", **shop, service="db"),
        _event(t0, 3, "db", 10, "start", **shop, service="db"),
        _event(t0, 3, "db", DB_OOM_S, "oom", **shop, service="db"),
        _event(t0, 3, "db", DB_OOM_S + 0.1, "die", exit_code=137, **shop, service="db"),
        _event(t0, 3, "db", DB_OOM_S + DB_RECOVERY_S, "start", **shop, service="db"),
    ]
    # 4: batch, stopped by its user: planned, not a failure.
    ev += [
        _event(t0, 4, "batch", 0, "create"),
        _event(t0, 4, "batch", 100, "start"),
        _event(t0, 4, "batch", 1000, "kill", signal=15),
        _event(t0, 4, "batch", 1000.5, "die", exit_code=143),
        _event(t0, 4, "batch", 1000.6, "stop"),
    ]
    # 5: a hostile name and label; it crashes once, so it shows in incidents too.
    ev += [
        _event(t0, 5, HOSTILE, 0, "create"),
        _event(t0, 5, HOSTILE, 5, "start"),
        _event(t0, 5, HOSTILE, 7200, "die", exit_code=2),
        _event(t0, 5, HOSTILE, 7203, "start"),
    ]
    # 6: cache, stopped by its user; PID 1 ignores SIGTERM, so the stop ends in SIGKILL.
    ev += [
        _event(t0, 6, FORCED, 0, "create"),
        _event(t0, 6, FORCED, 20, "start"),
        _event(t0, 6, FORCED, 1500, "kill", signal=15),
        _event(t0, 6, FORCED, 1500 + FORCED_STOP_S, "kill", signal=9),
        _event(t0, 6, FORCED, 1500 + FORCED_STOP_S + 0.1, "die", exit_code=137),
        _event(t0, 6, FORCED, 1500 + FORCED_STOP_S + 0.2, "stop"),
        _event(t0, 6, FORCED, 1600, "start"),
    ]
    # 7: a lab run's container, on the lab's own engine: it crashes once.
    lab = {"host": LAB_HOST}
    ev += [
        _event(t0, 7, LAB, 0, "create", **lab),
        _event(t0, 7, LAB, 1, "start", **lab),
        _event(t0, 7, LAB, 300, "die", exit_code=1, **lab),
    ]
    facts = [
        _fact(t0, 1, "web", "always", project="shop", service="web"),
        _fact(t0, 2, "worker", "on-failure", 3),
        _fact(t0, 3, "db", "unless-stopped", project="shop", service="db"),
        _fact(t0, 4, "batch", "no"),
        _fact(t0, 5, HOSTILE, "always", labels={"evil": HOSTILE_LABEL}),
        _fact(t0, 6, FORCED, "unless-stopped"),
        _fact(t0, 7, LAB, "no", host=LAB_HOST, labels={"docktally.lab.run": "run1"}),
    ]
    return ev, facts, t0


def seed(url: str, now_ns: int, names: dict[str, str] | None = None) -> Seed:
    """`names` renames containers (old name -> new) and gives the compose ones `project` and
    `service` of the same length: the long names a real fleet has."""
    engine = db.connect(url)
    ev, facts, t0 = seed_rows(now_ns)
    for row in (*ev, *facts):
        long = (names or {}).get(row["name"])
        if long:
            row["name"] = long
            if row["compose_project"]:
                row["compose_project"], row["compose_service"] = f"{long}-prj", f"{long}-svc"
    with engine.begin() as conn:
        writes.insert_events(conn, ev)
        for f in facts:
            writes.record_facts(conn, f)
        cov = writes.open_coverage(
            conn,
            host=HOST,
            engine_url="unix:///var/run/docker.sock",
            engine_id="TEST",
            source="collector",
            start_ns=t0 - 60 * S,
        )
        writes.close_coverage(conn, cov, now_ns + 3600 * S, "test")
        writes.record_gap(
            conn,
            host=HOST,
            engine_url="unix:///var/run/docker.sock",
            start_ns=t0 + 4000 * S,
            end_ns=t0 + 4010 * S,
            reason="engine_restart",
            events_replayed=0,
        )
        writes.save_log_tail(
            conn,
            host=HOST,
            container_id=_cid(2),
            time_ns=t0 + int(WORKER_DIES_S[-1] * S),
            captured_ns=t0 + int(WORKER_DIES_S[-1] * S) + S,
            lines="starting worker\npanic: cannot connect to queue <b>bold</b>\n",
            truncated=False,
        )
    engine.dispose()
    return Seed(url=url, now_ns=now_ns, t0_ns=t0)


def test_seed_writes_every_event(tmp_path: Any) -> None:
    import time

    url = f"sqlite:///{tmp_path / 's.db'}"
    now = time.time_ns()
    seed(url, now)
    engine: Engine = db.connect(url, readonly=True)
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(events)).scalar()
    engine.dispose()
    assert n == len(seed_rows(now)[0])
