"""The spool depth on /metrics: a `docktally collect --metrics` whose PostgreSQL is stopped
keeps the engine's events in its spool and says how many wait; once the database is back and
they are written, the gauge is 0 again."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from docktally.store import db
from docktally.store.schema import events
from tests.private_engine import PrivateEngine
from tests.private_postgres import PrivatePostgres
from tests.test_metrics_prometheus import free_port, get, wait_until

pytestmark = pytest.mark.engine


def spool_depth(endpoint: str) -> dict[str, float]:
    """engine URL -> the gauge's value; nothing while the endpoint does not answer yet."""
    try:
        with urllib.request.urlopen(endpoint, timeout=10) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    return {
        s.labels["engine"]: s.value
        for f in text_string_to_metric_families(text)
        if f.name == "docktally_collector_spool_depth"
        for s in f.samples
    }


def test_spool_depth_counts_the_events_held_while_the_database_is_away(
    clean_engine: PrivateEngine, private_pg: PrivatePostgres, tmp_path: Path
) -> None:
    private_pg.stop()
    port = free_port()
    env = {
        **clean_engine.env(),
        "DOCKTALLY_DB": private_pg.url,
        "XDG_DATA_HOME": str(tmp_path / "data"),  # the spool file, the test's own
    }
    log = tmp_path / "collect.log"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "docktally", "collect", "--no-logs"),
            *("--metrics", f"127.0.0.1:{port}", "--metrics-refresh", "1s"),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 - closed with the process
    )
    endpoint = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_until(lambda: "is unreachable" in log.read_text(), 60, "the offline start")
        for _ in range(3):
            clean_engine.run("sh", "-c", "exit 3").wait(timeout=30)
        # create, start, die for each: nine events at least wait for the database.
        wait_until(
            lambda: spool_depth(endpoint).get(clean_engine.url, 0) >= 9, 60, "events spooled"
        )
        assert list(spool_depth(endpoint)) == [clean_engine.url]

        private_pg.start()
        wait_until(lambda: "takes writes again" in log.read_text(), 60, "the database back")
        wait_until(lambda: spool_depth(endpoint) == {clean_engine.url: 0}, 30, "the spool empty")
        store = db.connect(private_pg.url, readonly=True)
        with store.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(events)).scalar_one()
        store.dispose()
        assert stored >= 9
        # The store's series come too, now that the database answers.
        wait_until(
            lambda: b"docktally_container_restarts_total{" in get(endpoint), 30, "store series"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in log.read_text(), log.read_text()
