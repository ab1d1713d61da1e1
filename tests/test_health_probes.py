"""Health-check output: the probes inspect keeps (State.Health.Log) read when a container turns
unhealthy, stored (migration 0005, SQLite and PostgreSQL), and shown in the postmortem's
timeline as text. On the private engine: a check that fails with a known message; its
postmortem says it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, inspect

from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incident_scopes import incidents_from_timeline
from docktally.analytics.model import Window
from docktally.analytics.timeline import build_timeline
from docktally.cli import main
from docktally.collector.normalize import health_probes_from_inspect
from docktally.store import db, reads, writes
from docktally.timespec import parse_rfc3339_ns
from tests.data import recorded
from tests.private_engine import PrivateEngine
from tests.sample import history_from_rows, ns
from tests.test_postmortem import wait_until

SAID = "db ping failed: connection refused <b>&"


def test_probes_from_a_recorded_inspect() -> None:
    (ins,) = recorded.inspects("health")
    probes = health_probes_from_inspect(ins)
    assert [p["exit_code"] for p in probes] == [0, 0, 0, 1]
    last = ins["State"]["Health"]["Log"][-1]
    assert probes[-1] == {
        "start_ns": parse_rfc3339_ns(last["Start"]),
        "end_ns": parse_rfc3339_ns(last["End"]),  # 8 digits of fraction: still exact
        "exit_code": 1,
        "output": "",
    }


def test_probes_the_engine_did_not_finish_or_spelled_oddly() -> None:
    ins = {
        "State": {
            "Health": {
                "Log": [
                    {"Start": "2026-12-06T10:00:00.5Z", "End": "0001-01-01T00:00:00Z",
                     "ExitCode": -1, "Output": "Health check exceeded timeout (1s)"},
                    {"Start": "yesterday", "ExitCode": 1, "Output": "x"},
                    {"End": "2026-12-06T10:00:01Z", "ExitCode": 1},
                    "not a probe",
                ]
            }
        }
    }  # fmt: skip
    assert health_probes_from_inspect(ins) == [
        {
            "start_ns": parse_rfc3339_ns("2026-12-06T10:00:00.5Z"),
            "end_ns": None,
            "exit_code": -1,
            "output": "Health check exceeded timeout (1s)",
        }
    ]
    assert health_probes_from_inspect({"State": {}}) == []
    assert health_probes_from_inspect({}) == []


def test_probes_stored_once_and_read_by_their_unhealthy_event(store: Engine) -> None:
    probes = [
        {"start_ns": 100, "end_ns": 150, "exit_code": 1, "output": "bad\x00 news"},
        {"start_ns": 200, "end_ns": None, "exit_code": -1, "output": "x" * 10_000},
    ]
    with store.begin() as conn:
        writes.save_health_probes(conn, host="h", container_id="c", event_ns=300, probes=probes)
        # read again at the next unhealthy event: the engine still lists the second probe
        again = [{"start_ns": 200, "end_ns": 260, "exit_code": 1, "output": "later"}]
        writes.save_health_probes(conn, host="h", container_id="c", event_ns=900, probes=again)
    # through the ArrowReader the commands read with (ADBC), and the collector's own
    with db.open_reader(store) as reader:
        got = reads.load_health_probes(reader, host="h", container_id="c", start_ns=0, end_ns=500)
        none = reads.load_health_probes(
            reader, host="h", container_id="c", start_ns=301, end_ns=899
        )
    with store.connect() as conn:
        same = reads.load_health_probes(
            db.ConnectionReader(conn), host="h", container_id="c", start_ns=0, end_ns=500
        )
    pd.testing.assert_frame_equal(got, same, check_dtype=False)
    assert list(got["start_ns"]) == [100, 200]
    assert list(got["exit_code"]) == [1, -1]
    assert got["output"].iloc[0] == "bad\ufffd news"  # PostgreSQL stores no NUL
    assert len(got["output"].iloc[1]) == writes.MAX_PROBE_OUTPUT_CHARS
    assert none.empty


def test_migration_0005_adds_and_removes_the_table(db_url: str) -> None:
    from alembic import command

    eng = db.connect(db_url, migrate=False)
    try:
        db.upgrade(eng, "0004")
        assert "health_probes" not in inspect(eng).get_table_names()
        db.upgrade(eng)
        assert "health_probes" in inspect(eng).get_table_names()
        command.downgrade(db.alembic_config(eng), "0004")
        assert "health_probes" not in set(inspect(eng).get_table_names())
    finally:
        eng.dispose()


HC = {"has_healthcheck": True, "restart_policy": "always"}


def test_postmortem_shows_what_the_failed_probes_said() -> None:
    h = history_from_rows(
        events=[
            ("api", -10, "start"),
            ("api", -5, "health_status: healthy"),
            ("api", 100, "health_status: unhealthy"),
            ("api", 160, "health_status: healthy"),
        ],
        facts=[("api", -20, HC)],
        coverage=[(-50, 1000)],
    )
    w = Window(ns(0), ns(1000))
    tl = build_timeline(h, w)
    inc = incidents_from_timeline(tl, slo=0.999)
    cid = str(h.events["container_id"].iloc[0])
    probes = pd.DataFrame(
        {
            "host": "local",
            "container_id": cid,
            "start_ns": [ns(98), ns(99), ns(99.5)],
            "end_ns": [ns(98.1), ns(99.1), ns(99.6)],
            "exit_code": pd.array([0, 1, 1], dtype="Int64"),
            "output": ["ok", SAID + "\nretrying", SAID],
        }
    )
    from docktally.reports.postmortem import build_postmortem, render_html, render_markdown

    pm = build_postmortem(
        h.events, failures_from_timeline(tl), inc, inc.iloc[0], w, [], health_probes=[probes]
    )
    md = render_markdown(pm)
    said_md = "db ping failed: connection refused &lt;b&gt;&amp;"
    # the two failed probes in the timeline, before the unhealthy event; the passing one not
    assert f"| -1.000s | api | health check | exit 1: {said_md} / retrying |" in md
    assert f"| -0.500s | api | health check | exit 1: {said_md} |" in md
    assert "exit 0: ok" not in md
    assert md.index("health check") < md.index("health: unhealthy")
    assert f"| Health check said (last failed probe) | exit 1: {said_md} |" in md
    page = render_html(pm)
    assert SAID not in page and "db ping failed: connection refused &lt;b&gt;&amp;amp;" not in page
    assert "exit 1: db ping failed: connection refused &lt;b&gt;&amp;</td>" in page


@pytest.mark.engine
def test_a_failing_health_check_says_why_in_its_postmortem(
    clean_engine: PrivateEngine,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from docktally.collector.runner import Collector

    url = f"sqlite:///{tmp_path / 'hc.db'}"
    store = db.connect(url)
    col = Collector(store=store, engine_url=clean_engine.url, host="hc", log=lambda _l: None)
    stop = threading.Event()
    thread = threading.Thread(target=col.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: col.sessions >= 1, 20, "the collector to subscribe")
        clean_engine.run(
            "sleep",
            "300",
            name="hc-api",
            healthcheck={
                "test": ["CMD-SHELL", f"echo '{SAID}' >&2; exit 1"],
                "interval": 300_000_000,
                "timeout": 2_000_000_000,
                "retries": 2,
            },
        )
        with store.connect() as conn:
            wait_until(
                lambda: conn.exec_driver_sql("select count(*) from health_probes").scalar(),
                30,
                "the failed probes to be stored",
            )
    finally:
        stop.set()
        thread.join(15)
        store.dispose()
    capsys.readouterr()
    assert main(["incidents", "--db", url, "--since", "1h", "--format", "json"]) == 0
    (inc,) = json.loads(capsys.readouterr().out)["incidents"]
    assert inc["causes"] == {"unhealthy": 1}
    assert main(["postmortem", inc["id"], "--db", url, "--since", "1h"]) == 0
    md = capsys.readouterr().out
    said_md = "db ping failed: connection refused &lt;b&gt;&amp;"
    assert f"| hc-api | health check | exit 1: {said_md} |" in md
    out = tmp_path / "pm.html"
    argv = ["postmortem", inc["id"], "--db", url, "--since", "1h", "--format", "html"]
    assert main([*argv, "--out", str(out)]) == 0
    page = out.read_text()
    assert "exit 1: db ping failed: connection refused &lt;b&gt;&amp;</td>" in page
    assert SAID not in page
    # The dashboard's Incidents page shows the same output, as text, once its range (which
    # ends at "now" floored to 10 s) reaches the incident.
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from docktally.dashboard import data
    from tests.test_dashboard import APP, TIMEOUT_S, wait_for_dashboard_now

    wait_for_dashboard_now(time.time_ns())
    monkeypatch.setenv(data.DB_ENV, url)
    monkeypatch.delenv("DOCKTALLY_COLLECTOR_STATUS", raising=False)
    st.cache_data.clear()  # another test's pages in this process may have cached views
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.query_params["incident"] = inc["id"]
    at.run()
    at.switch_page("views/incidents.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(str(c.value) for c in at.code)
    assert f"hc-api  exit 1: {SAID}" in shown, shown
