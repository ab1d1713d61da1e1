"""Repository writes on SQLite and PostgreSQL: idempotent inserts, checkpoints, facts history,
coverage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select

from docktally.store import db, reads, writes
from docktally.store.schema import container_facts, coverage, events

NS = 1_000_000_000


def ev(cid: str, t_s: float, action: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "host": "h",
        "container_id": cid,
        "time_ns": int(t_s * NS),
        "action": action,
        "kind": action.split(":")[0],
        "name": f"n-{cid[:4]}",
        "inferred": False,
        "source": "test",
        # Every row the same keys: an executemany takes its columns from the first row.
        "exit_code": None,
        "signal": None,
        "health": None,
    }
    row.update(extra)
    return row


def test_insert_events_is_idempotent(store: Engine) -> None:
    rows = [ev("a" * 64, 1, "start"), ev("a" * 64, 2, "die", exit_code=1)]
    with store.begin() as conn:
        writes.insert_events(conn, rows)
        writes.insert_events(conn, rows)
        writes.insert_events(conn, [*rows, ev("a" * 64, 2, "stop")])
    with store.connect() as conn:
        stored = conn.execute(select(events.c.action).order_by(events.c.time_ns)).scalars().all()
    assert stored == ["start", "die", "stop"]


def test_same_time_different_action_or_host_is_a_different_event(store: Engine) -> None:
    with store.begin() as conn:
        writes.insert_events(
            conn,
            [ev("a" * 64, 1, "kill"), ev("a" * 64, 1, "die"), ev("a" * 64, 1, "die", host="h2")],
        )
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar_one() == 3


def test_insert_nothing_is_nothing(store: Engine) -> None:
    with store.begin() as conn:
        assert writes.insert_events(conn, []) == 0


def test_checkpoint_upsert(store: Engine) -> None:
    with store.begin() as conn:
        assert writes.load_checkpoint(conn, host="h", engine_url="unix:///s") is None
        writes.save_checkpoint(
            conn,
            host="h",
            engine_url="unix:///s",
            time_ns=1,
            container_id="a",
            action="start",
            updated_ns=10,
        )
        writes.save_checkpoint(
            conn,
            host="h",
            engine_url="unix:///s",
            time_ns=2,
            container_id="b",
            action="die",
            updated_ns=20,
        )
        writes.save_checkpoint(
            conn,
            host="h",
            engine_url="tcp://other",
            time_ns=7,
            container_id="c",
            action="stop",
            updated_ns=30,
        )
    with store.connect() as conn:
        cp = writes.load_checkpoint(conn, host="h", engine_url="unix:///s")
        other = writes.load_checkpoint(conn, host="h", engine_url="tcp://other")
    assert cp is not None and other is not None
    assert (cp["time_ns"], cp["container_id"], cp["action"], cp["updated_ns"]) == (
        2,
        "b",
        "die",
        20,
    )
    assert other["time_ns"] == 7


def fact(observed_ns: int, policy: str = "always", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "host": "h",
        "container_id": "a" * 64,
        "observed_ns": observed_ns,
        "name": "web",
        "image": "nginx",
        "created_ns": 1,
        "restart_policy": policy,
        "restart_max_retries": 0,
        "has_healthcheck": False,
        "stop_timeout_s": None,
        "memory_limit_bytes": None,
        "compose_project": None,
        "compose_service": None,
        "labels": "{}",
    }
    row.update(extra)
    return row


def test_facts_history_only_on_change(store: Engine) -> None:
    with store.begin() as conn:
        assert writes.record_facts(conn, fact(10)) is True
        assert writes.record_facts(conn, fact(20)) is False  # same facts, later: nothing
        assert writes.record_facts(conn, fact(30, "on-failure")) is True
        assert writes.record_facts(conn, fact(40, "on-failure")) is False
        assert writes.record_facts(conn, fact(50, "always")) is True  # back again: a change
        assert writes.record_facts(conn, fact(60, "always", has_healthcheck=True)) is True
    with store.connect() as conn:
        got = conn.execute(
            select(container_facts.c.observed_ns, container_facts.c.restart_policy).order_by(
                container_facts.c.observed_ns
            )
        ).all()
    with db.open_reader(store) as reader:
        df = reads.load_facts(reader)
    assert [tuple(r) for r in got] == [
        (10, "always"),
        (30, "on-failure"),
        (50, "always"),
        (60, "always"),
    ]
    assert df["has_healthcheck"].tolist() == [False, False, False, True]


def test_coverage_open_heartbeat_close(store: Engine) -> None:
    with store.begin() as conn:
        cid = writes.open_coverage(
            conn, host="h", engine_url="u", engine_id="E", source="collect", start_ns=100
        )
        writes.heartbeat_coverage(conn, cid, 150)
    with db.open_reader(store) as reader:
        # Open: it covers up to its heartbeat.
        assert reads.load_coverage(reader)[["start_ns", "end_ns"]].values.tolist() == [[100, 150]]
    with store.begin() as conn:
        writes.close_coverage(conn, cid, 200, "sigterm")
    with store.connect() as conn:
        row = conn.execute(select(coverage)).mappings().one()
        assert (row["end_ns"], row["heartbeat_ns"], row["closed_reason"]) == (200, 200, "sigterm")
    with db.open_reader(store) as reader:
        assert reads.load_coverage(reader)[["start_ns", "end_ns"]].values.tolist() == [[100, 200]]


def test_abandoned_coverage_ends_at_its_last_heartbeat(store: Engine) -> None:
    with store.begin() as conn:
        a = writes.open_coverage(
            conn, host="h", engine_url="u", engine_id=None, source="collect", start_ns=100
        )
        writes.heartbeat_coverage(conn, a, 170)
        other = writes.open_coverage(
            conn, host="h", engine_url="v", engine_id=None, source="collect", start_ns=100
        )
        closed = writes.open_coverage(
            conn, host="h", engine_url="u", engine_id=None, source="collect", start_ns=10
        )
        writes.close_coverage(conn, closed, 50, "sigterm")
        now = 170 + writes.ABANDONED_AFTER_NS + 1
        assert writes.close_abandoned_coverage(conn, host="h", engine_url="u", now_ns=now) == 1
    with store.connect() as conn:
        rows = {r["id"]: r for r in conn.execute(select(coverage)).mappings()}
    assert (rows[a]["end_ns"], rows[a]["closed_reason"]) == (170, "abandoned")
    assert rows[other]["end_ns"] is None
    assert (rows[closed]["end_ns"], rows[closed]["closed_reason"]) == (50, "sigterm")


def test_coverage_window_filter(store: Engine) -> None:
    with store.begin() as conn:
        for start, end in ((0, 10), (20, 30), (40, 50)):
            c = writes.open_coverage(
                conn, host="h", engine_url=None, engine_id=None, source="import", start_ns=start
            )
            writes.close_coverage(conn, c, end, "import")
    with db.open_reader(store) as reader:
        df = reads.load_coverage(reader, 25, 45)
    assert df["start_ns"].tolist() == [20, 40]


def test_rows_with_different_columns_keep_every_value(store: Engine) -> None:
    from docktally.store import writes as w
    from docktally.store.schema import events as ev

    base = {
        "host": "h",
        "container_id": "c1",
        "time_ns": 1,
        "action": "die",
        "kind": "die",
        "source": "stream",
        "inferred": False,
    }
    rows = [base, {**base, "time_ns": 2, "exit_code": 3}]
    with store.begin() as conn:
        w.insert_events(conn, rows)
    with store.connect() as conn:
        got = conn.execute(
            ev.select().with_only_columns(ev.c.time_ns, ev.c.exit_code).order_by(ev.c.time_ns)
        ).all()
    assert [tuple(r) for r in got] == [(1, None), (2, 3)]


def test_insert_events_binds_every_column_of_events_but_its_id() -> None:
    assert sorted(writes.EVENT_COLUMNS) == sorted(c.name for c in events.c if c.name != "id")


def test_inferred_is_stored_as_a_bool_and_evidence_as_storable_text(store: Engine) -> None:
    rows = [
        ev("a" * 64, 1, "die", inferred=1, evidence="exit 1\x00 seen"),
        ev("a" * 64, 2, "start", inferred=0, evidence=None),
        ev("a" * 64, 3, "die", evidence={"source": "inspect"}),
    ]
    with store.begin() as conn:
        writes.insert_events(conn, rows)
    with store.connect() as conn:
        got = conn.execute(select(events.c.inferred, events.c.evidence).order_by(events.c.time_ns))
        assert [tuple(r) for r in got] == [
            (True, "exit 1\ufffd seen"),
            (False, None),
            (False, "{'source': 'inspect'}"),
        ]
