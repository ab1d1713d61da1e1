"""A collector's first start on an engine: what inspect reports from before anyone watched is not
a failure of the window, and its time is unknown. A container a person stopped long before
(exit 137/143) is a stop, not a crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from docktally.analytics.failures import find_failures
from docktally.analytics.intervals import build_intervals
from docktally.analytics.model import Window
from docktally.analytics.report import build_report
from docktally.collector.runner import Collector
from docktally.store import db, reads
from tests.private_engine import PrivateEngine
from tests.sample import cid, history_from_rows, ns

W = Window(ns(0), ns(1000))


def _inferred_die(name: str, t: float, code: int) -> tuple[object, ...]:
    return (name, t, "die", {"exit_code": code, "inferred": True})


def _seconds(h: object, name: str) -> dict[str, float]:
    iv = build_intervals(h, W)  # type: ignore[arg-type]
    iv = iv[iv["container_id"] == cid(name)]
    d = (iv["end_ns"] - iv["start_ns"]) / 1e9
    key = iv["state"] + ":" + iv["cause"].fillna("-")
    return {str(k): round(float(v), 6) for k, v in d.groupby(key).sum().items()}


def test_dies_from_before_the_first_coverage() -> None:
    h = history_from_rows(
        events=[
            _inferred_die("stopped", 100, 143),
            _inferred_die("killed", 100, 137),
            _inferred_die("crashed", 100, 3),
            ("crashed", 700, "start"),
        ],
        coverage=[(400, 1000)],
    )
    assert find_failures(h, W).empty
    assert _seconds(h, "stopped") == {
        "unknown:no_data": 100,
        "unknown:no_coverage": 300,
        "planned:user_stop": 600,
    }
    assert _seconds(h, "killed") == {
        "unknown:no_data": 100,
        "unknown:no_coverage": 300,
        "planned:user_stop": 600,
    }
    # Exited with an error before anyone watched: down while watched, but no failure in it.
    assert _seconds(h, "crashed") == {
        "unknown:no_data": 100,
        "unknown:no_coverage": 300,
        "down:crash": 300,
        "up:-": 300,
    }
    crashed = build_report(h, W).groups.set_index("container").loc["crashed"]
    assert crashed["failures"] == 0 and crashed["downtime_s"] == pytest.approx(300)
    assert crashed["unknown_s"] == pytest.approx(400) and crashed["restarts"] == 1


def test_a_die_inferred_after_the_first_coverage_is_still_a_failure() -> None:
    # A gap later on: the collector reconnects and inspect proves a crash it did not see.
    h = history_from_rows(
        events=[
            ("c", -10, "start"),
            (
                "c",
                500,
                "die",
                {"exit_code": 137, "inferred": True, "cause_hint": "replay_overflow"},
            ),
        ],
        coverage=[(-50, 400), (600, 1000)],
    )
    f = find_failures(h, W)
    assert list(f["cause"]) == ["crash"]


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.engine
def test_first_start_on_an_engine(clean_engine: PrivateEngine, db_url: str) -> None:
    eng = clean_engine
    stopped = eng.run("sleep", "3600", name="stopped-long-ago")
    stopped.stop(timeout=1)  # sleep ignores SIGTERM: SIGKILL after 1 s, exit 137
    crashed = eng.run("sh", "-c", "exit 3", name="crashed-long-ago")
    crashed.wait(timeout=30)
    stopped.reload()
    assert stopped.attrs["State"]["ExitCode"] == 137
    before_ns = time.time_ns() - 10**9
    time.sleep(1.0)

    store = db.connect(db_url)
    col = Collector(store=store, engine_url=eng.url, log=lambda _: None)
    stop = threading.Event()
    t = threading.Thread(target=col.run, args=(stop,), daemon=True)
    t.start()
    try:
        wait_until(lambda: col.sessions >= 1, 30, "the collector to subscribe")
        time.sleep(1.5)
    finally:
        stop.set()
        t.join(15)
    with db.open_reader(store) as reader:
        h = reads.load_history(reader, before_ns, time.time_ns())
    store.dispose()
    assert h.events["inferred"].all() and len(h.events) == 2
    w = Window(before_ns, int(h.coverage["end_ns"].max()))
    assert find_failures(h, w).empty
    g = build_report(h, w).groups.set_index("container")
    first_cov = int(h.coverage["start_ns"].min())
    for name in ("stopped-long-ago", "crashed-long-ago"):
        row = g.loc[name]
        assert row["failures"] == 0
        # Before the watch began: unknown, not down.
        assert row["unknown_s"] >= (first_cov - before_ns) / 1e9 - 1e-6
    assert g.loc["stopped-long-ago", "downtime_s"] == 0
    assert g.loc["stopped-long-ago", "downtime_by_cause_s"] == {}


def test_a_coverage_row_without_a_heartbeat_yet_is_no_watch() -> None:
    # A collector that has just opened its coverage (start = end until its first heartbeat):
    # its host has no known time yet, and the analysis must not fail on it (it raised an
    # IndexError looking for the first watched instant).
    h = history_from_rows(
        events=[("c", 100, "start"), _inferred_die("c", 300, 3)],
        coverage=[(500, 500)],
    )
    assert find_failures(h, W).empty
    assert _seconds(h, "c") == {"unknown:no_coverage": 900, "unknown:no_data": 100}
