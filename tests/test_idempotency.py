"""Delivering events duplicated, overlapping, replayed, in any order and chunking never changes
what is stored: the same rows as inserting each event once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from docktally.collector.importer import import_lines
from docktally.store import db, reads, writes
from tests.data import recorded

LINES = [ln for name in recorded.SCENARIOS for ln in recorded.lines(name)]
# What an event is, whatever ids and chunks the store gave it: its columns, its container's,
# and its raw JSON.
SKIP = {"id", "container_ref", "raw_chunk", "raw_line"}


def stored(eng: Engine) -> set[tuple[Any, ...]]:
    ev = reads.events_view()
    cols = [c for c in ev.c if c.name not in SKIP]
    with eng.connect() as conn:
        rows = conn.execute(select(ev.c.id, *cols)).fetchall()
        raw = reads.load_raw(conn, [int(r[0]) for r in rows])
    return {(*r[1:], raw.get(int(r[0]))) for r in rows}


def deliver(eng: Engine, batches: list[list[str]], chunk_rows: int) -> None:
    for batch in batches:
        with eng.begin() as conn:
            import_lines(conn, batch, host="h", chunk_rows=chunk_rows)


def reference(url: str) -> set[tuple[Any, ...]]:
    eng = db.connect(url)
    deliver(eng, [LINES], 10_000)
    rows = stored(eng)
    eng.dispose()
    return rows


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file: copying it is much faster than migrating per example."""
    path = tmp_path_factory.mktemp("template") / "empty.db"
    eng = db.connect(str(path))
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture(scope="module")
def expected() -> set[tuple[Any, ...]]:
    with tempfile.TemporaryDirectory() as d:
        return reference(f"sqlite:///{Path(d) / 'ref.db'}")


# A delivery: slices of the recorded lines (overlapping, repeated), each maybe shuffled, in any
# order, with every line delivered at least once.
deliveries = st.lists(
    st.tuples(st.integers(0, len(LINES) - 1), st.integers(1, len(LINES))),
    min_size=0,
    max_size=6,
).flatmap(
    lambda spans: st.tuples(
        st.permutations([LINES[a : a + n] for a, n in spans] + [LINES]),
        st.randoms(use_true_random=False),
        st.integers(1, 40),
    )
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(delivery=deliveries)
def test_any_delivery_stores_each_event_once(
    template: Path, expected: set[tuple[Any, ...]], delivery: tuple[list[list[str]], Any, int]
) -> None:
    batches, rnd, chunk_rows = delivery
    batches = [rnd.sample(b, len(b)) for b in batches]
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(template, Path(d) / "p.db")
        eng = db.connect(f"sqlite:///{Path(d) / 'p.db'}", migrate=False)
        deliver(eng, batches, chunk_rows)
        got = stored(eng)
        eng.dispose()
    assert got == expected


def test_collector_rows_and_import_rows_share_the_key(store: Engine) -> None:
    """A replay through writes.insert_events after an import writes nothing new."""
    from docktally.collector.normalize import decode_event, normalize_event

    with store.begin() as conn:
        import_lines(conn, LINES, host="h")
    before = stored(store)
    rows = [
        row
        for ln in LINES
        if (row := normalize_event(decode_event(ln), host="h", source="collect", raw=ln))
    ]
    with store.begin() as conn:
        writes.insert_events(conn, rows)
    assert stored(store) == before


@pytest.mark.postgres
def test_one_replayed_delivery_on_postgresql(pg_url: str, expected: set[Any]) -> None:
    eng = db.connect(pg_url)
    half = len(LINES) // 2
    deliver(eng, [LINES[half:], LINES, LINES[: half + 5][::-1], LINES[3:9]], 7)
    assert stored(eng) == expected
    eng.dispose()


def test_pg_is_configured_in_ci() -> None:
    if os.environ.get("CI") == "true":
        assert os.environ.get("DOCKTALLY_TEST_PG_URL"), "CI runs the PostgreSQL cases too"
