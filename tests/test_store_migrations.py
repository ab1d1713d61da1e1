"""Migration 0002 carries a first-schema database over: every event, its container's latest
name, image and compose labels, and its raw JSON; and downgrades back to the same rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, text

from docktally.store import db, reads

CID_A = "a" * 64
CID_B = "b" * 64

# (host, container_id, time_ns, action, kind, name, image, exit_code, project, service, raw)
OLD_ROWS: list[tuple[Any, ...]] = [
    ("h1", CID_A, 10, "create", "create", "web", "nginx", None, "shop", "web", '{"n":1}'),
    ("h1", CID_A, 20, "start", "start", "web", "nginx", None, "shop", "web", '{"n":2}'),
    ("h1", CID_A, 30, "rename", "rename", "web-2", "nginx", None, "shop", "web", '{"n":3}'),
    ("h1", CID_A, 40, "die", "die", "web-2", "nginx", 1, "shop", "web", '{"n":4}'),
    ("h2", CID_A, 15, "start", "start", "other", "redis", None, None, None, '{"n":5}'),
    ("h1", CID_B, 12, "die", "die", None, None, 137, None, None, None),
]


def _old_database(engine: Engine) -> None:
    db.upgrade(engine, "0001")
    with engine.begin() as conn:
        for host, cid, t, action, kind, name, image, code, proj, svc, raw in OLD_ROWS:
            conn.execute(
                text(
                    "INSERT INTO events (host, container_id, time_ns, action, kind, name, image, "
                    "exit_code, compose_project, compose_service, inferred, raw, source) VALUES "
                    "(:h, :c, :t, :a, :k, :n, :i, :x, :p, :s, :inf, :raw, 'collector')"
                ),
                {"h": host, "c": cid, "t": t, "a": action, "k": kind, "n": name, "i": image,
                 "x": code, "p": proj, "s": svc, "inf": raw is None, "raw": raw},
            )  # fmt: skip


def _events(engine: Engine) -> list[tuple[Any, ...]]:
    ev = reads.events_view()
    with engine.connect() as conn:
        rows = conn.execute(
            ev.select().order_by(ev.c.host, ev.c.container_id, ev.c.time_ns)
        ).mappings()
        rows = [dict(r) for r in rows]
        raw = reads.load_raw(conn, [r["id"] for r in rows])
    return [
        (r["host"], r["container_id"], r["time_ns"], r["action"], r["name"], r["image"],
         r["exit_code"], r["compose_project"], r["compose_service"], raw.get(r["id"]))
        for r in rows
    ]  # fmt: skip


@pytest.fixture
def empty_engine(db_url: str) -> Engine:
    return db.connect(db_url, migrate=False)


def test_upgrade_carries_events_containers_and_raw(empty_engine: Engine) -> None:
    _old_database(empty_engine)
    db.upgrade(empty_engine)
    got = _events(empty_engine)
    # Name, image and labels are the container's latest (web was renamed web-2).
    assert got == [
        ("h1", CID_A, 10, "create", "web-2", "nginx", None, "shop", "web", '{"n":1}'),
        ("h1", CID_A, 20, "start", "web-2", "nginx", None, "shop", "web", '{"n":2}'),
        ("h1", CID_A, 30, "rename", "web-2", "nginx", None, "shop", "web", '{"n":3}'),
        ("h1", CID_A, 40, "die", "web-2", "nginx", 1, "shop", "web", '{"n":4}'),
        ("h1", CID_B, 12, "die", None, None, 137, None, None, None),
        ("h2", CID_A, 15, "start", "other", "redis", None, None, None, '{"n":5}'),
    ]
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM containers")).scalar() == 3
    # The new natural key holds: the same event again is not stored twice.
    from docktally.store import writes

    with empty_engine.begin() as conn:
        again = writes.insert_events(
            conn,
            [{"host": "h1", "container_id": CID_A, "time_ns": 40, "action": "die",
              "kind": "die", "exit_code": 1, "source": "collector", "raw": "{}"}],
        )  # fmt: skip
    assert again == 0


def test_downgrade_restores_the_first_schema(empty_engine: Engine) -> None:
    _old_database(empty_engine)
    db.upgrade(empty_engine)
    from alembic import command

    command.downgrade(db.alembic_config(empty_engine), "0001")
    with empty_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT host, container_id, time_ns, action, name, raw FROM events "
                "ORDER BY host, container_id, time_ns"
            )
        ).fetchall()
    assert [tuple(r) for r in rows] == [
        ("h1", CID_A, 10, "create", "web-2", '{"n":1}'),
        ("h1", CID_A, 20, "start", "web-2", '{"n":2}'),
        ("h1", CID_A, 30, "rename", "web-2", '{"n":3}'),
        ("h1", CID_A, 40, "die", "web-2", '{"n":4}'),
        ("h1", CID_B, 12, "die", None, None),
        ("h2", CID_A, 15, "start", "other", '{"n":5}'),
    ]


def test_head_revision_constant_is_alembics_head(tmp_path: Any) -> None:
    """Commands compare the database's revision with db.HEAD_REVISION instead of loading
    Alembic: it must name the newest migration."""
    from alembic.script import ScriptDirectory

    eng = db.connect(f"sqlite:///{tmp_path / 'h.db'}")
    script = ScriptDirectory.from_config(db.alembic_config(eng))
    assert script.get_heads() == [db.HEAD_REVISION]
    assert db.is_at_head(eng)
