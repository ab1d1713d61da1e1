"""A second collector on the same database and host (`docktally lab` beside `docktally up`, or two
`collect`) leaves the first one's live coverage open: only a stale heartbeat means abandoned."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select

from docktally.collector.runner import Collector
from docktally.store import db, writes
from docktally.store.schema import coverage
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.engine


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def rows(store: Engine) -> list[dict[str, object]]:
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(coverage).order_by(coverage.c.id))]


def test_a_second_collector_keeps_the_first_ones_coverage_open(
    clean_engine: PrivateEngine, db_url: str
) -> None:
    store = db.connect(db_url)
    first = Collector(store=store, engine_url=clean_engine.url, log=lambda _: None)
    second = Collector(store=store, engine_url=clean_engine.url, log=lambda _: None)
    stops = [threading.Event(), threading.Event()]
    threads = [
        threading.Thread(target=c.run, args=(s,), daemon=True)
        for c, s in zip((first, second), stops, strict=True)
    ]
    try:
        threads[0].start()
        wait_until(lambda: first.sessions >= 1 and len(rows(store)) == 1, 30, "the first one")
        threads[1].start()
        wait_until(lambda: second.sessions >= 1 and len(rows(store)) == 2, 30, "the second one")
        time.sleep(1.0)  # both heartbeat meanwhile
        live = rows(store)
        assert [r["end_ns"] for r in live] == [None, None]
        assert [r["closed_reason"] for r in live] == [None, None]
    finally:
        for s in stops:
            s.set()
        for t in threads:
            t.join(15)
    assert [r["closed_reason"] for r in rows(store)] == ["stopped", "stopped"]
    store.dispose()


def test_only_a_stale_heartbeat_is_abandoned(store: Engine) -> None:
    stale_after = writes.ABANDONED_AFTER_NS
    now = 10 * stale_after
    with store.begin() as conn:
        fresh = writes.open_coverage(
            conn, host="h", engine_url="u", engine_id=None, source="collector", start_ns=now - 5
        )
        stale = writes.open_coverage(
            conn, host="h", engine_url="u", engine_id=None, source="collector", start_ns=0
        )
        writes.heartbeat_coverage(conn, stale, now - stale_after - 1)
        assert writes.close_abandoned_coverage(conn, host="h", engine_url="u", now_ns=now) == 1
    by_id = {r["id"]: r for r in rows(store)}
    assert (by_id[fresh]["end_ns"], by_id[fresh]["closed_reason"]) == (None, None)
    assert (by_id[stale]["end_ns"], by_id[stale]["closed_reason"]) == (
        now - stale_after - 1,
        "abandoned",
    )
