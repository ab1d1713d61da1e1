"""Migration 0002 carries a first-schema database over: every event, its container's latest
name, image and compose labels, and its raw JSON; and downgrades back to the same rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

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


# --- 0003: events.packed dropped ----------------------------------------------------------------

_COLUMNS = ("id, container_ref, time_ns, action, kind, exit_code, signal, health, inferred, "
            "cause_hint, evidence, source, raw_chunk, raw_line")  # fmt: skip


def _migration(name: str) -> Any:
    import importlib.util
    from pathlib import Path

    path = Path(db.__file__).parent.parent / "migrations" / "versions" / name
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _release_0002_database(engine: Engine) -> None:
    """A database as the release at revision 0002 wrote it: containers, a zlib raw chunk, and
    events with `packed` computed by 0002's own expression."""
    import zlib

    from bench.generate import generate_lines
    from docktally.collector.normalize import decode_event, normalize_event

    db.upgrade(engine, "0002")
    lines = list(generate_lines(events=400, containers=12, days=2))
    rows = [normalize_event(decode_event(ln), host="h1", source="import", raw=ln) for ln in lines]
    extra = [  # what only the collector writes: inferred rows, causes, evidence, odd values
        {**rows[0], "time_ns": 5, "action": "die", "kind": "die", "exit_code": 70_000,
         "inferred": True, "cause_hint": "engine_restart", "evidence": "inspect", "raw": None},
        {**rows[0], "time_ns": 6, "action": "health_status: starting", "kind": "health_status",
         "health": "starting", "raw": None},
        {**rows[0], "time_ns": 7, "action": "kill", "kind": "kill", "signal": 300, "raw": None},
    ]  # fmt: skip
    with engine.begin() as conn:
        refs: dict[str, int] = {}
        for r in rows:
            if r is not None and r["container_id"] not in refs:
                refs[r["container_id"]] = len(refs) + 1
                conn.execute(
                    text("INSERT INTO containers (ref, host, container_id, name, image, "
                         "compose_project, compose_service, seen_ns) "
                         "VALUES (:ref, 'h1', :c, :n, :i, :p, :s, :t)"),
                    {"ref": refs[r["container_id"]], "c": r["container_id"], "n": r["name"],
                     "i": r["image"], "p": r["compose_project"], "s": r["compose_service"],
                     "t": r["time_ns"]},
                )  # fmt: skip
        body = zlib.compress(b"\n".join(lines), 1)
        conn.execute(text("INSERT INTO raw_chunks (id, lines, body) VALUES (1, :n, :b)"),
                     {"n": len(lines), "b": body})  # fmt: skip
        for i, r in enumerate([*rows, *extra]):
            conn.execute(
                text("INSERT INTO events (container_ref, time_ns, action, kind, exit_code, "
                     "signal, health, inferred, cause_hint, evidence, source, packed, raw_chunk, "
                     "raw_line) VALUES (:ref, :t, :a, :k, :x, :s, :h, :inf, :ch, :ev, :src, 0, "
                     ":chunk, :line)"),
                {"ref": refs[r["container_id"]], "t": r["time_ns"], "a": r["action"],
                 "k": r["kind"], "x": r["exit_code"], "s": r["signal"], "h": r["health"],
                 "inf": r["inferred"], "ch": r["cause_hint"], "ev": r["evidence"],
                 "src": r["source"], "chunk": 1 if r["raw"] is not None else None,
                 "line": i if r["raw"] is not None else None},
            )  # fmt: skip
        packed_0002 = _migration("0002_containers_and_raw_chunks.py")._PACKED
        conn.execute(text(f"UPDATE events SET packed = {packed_0002}"))


def _all_events(engine: Engine) -> tuple[list[Any], dict[int, str]]:
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(f"SELECT {_COLUMNS} FROM events ORDER BY id"))]
        raw = reads.load_raw(conn, [r[0] for r in rows])
    return rows, raw


def test_0003_keeps_every_event_of_a_0002_database(empty_engine: Engine) -> None:
    _release_0002_database(empty_engine)
    before, raw_before = _all_events(empty_engine)
    with empty_engine.connect() as conn:
        packed = conn.execute(text("SELECT id, packed FROM events ORDER BY id")).fetchall()
    assert len(before) == 403 and len(raw_before) == 400
    assert {p for _, p in packed} >= {-2, -1} and max(p for _, p in packed) > 0
    db.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("events")}
    assert "packed" not in columns
    assert _all_events(empty_engine) == (before, raw_before)

    from alembic import command

    command.downgrade(db.alembic_config(empty_engine), "0002")
    assert _all_events(empty_engine) == (before, raw_before)
    with empty_engine.connect() as conn:
        again = conn.execute(text("SELECT id, packed FROM events ORDER BY id")).fetchall()
    assert again == packed


# --- 0010: day summaries built again -------------------------------------------------------------


def test_0010_marks_the_built_days_dirty_and_drops_the_end_of_day_columns(
    empty_engine: Engine,
) -> None:
    """Rows built before counted a recovery at a day's end midnight recovered in the day: they
    are built again, and the services' end-of-day columns go."""
    db.upgrade(empty_engine, "0009")
    with empty_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO summary_days (day_ns, built_ns, dirty, hosts) VALUES (0, 1, :d, 'h1')"
            ),
            {"d": False},
        )
    db.upgrade(empty_engine)
    with empty_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM summary_days WHERE dirty = :d"),
                            {"d": True}).scalar() == 1  # fmt: skip
    for table in ("day_service_summaries", "month_service_summaries"):
        cols = {c["name"] for c in inspect(empty_engine).get_columns(table)}
        assert "first_fail" in cols and not cols & {"end_rec_n", "end_rec_ns"}


# --- 0011: raw chunks stored as given ------------------------------------------------------------


@pytest.mark.postgres
def test_0011_stores_raw_chunks_without_compressing_them_again(pg_url: str) -> None:
    """A body is compressed already: PostgreSQL's own attempt cost the import 8 ms a chunk."""
    engine = db.connect(pg_url, migrate=False)
    storage = text(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = 'raw_chunks'::regclass "
        "AND attname = 'body'"
    )
    db.upgrade(engine, "0010")
    with engine.connect() as conn:
        assert conn.execute(storage).scalar() == "x"  # extended: compressed when it can be
    db.upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(storage).scalar() == "e"  # external: out of line, as given
    engine.dispose()
