"""The endpoint's parts on real stores and real tools: counters continued from the store whatever
the fold points, the collector's health from its commit hook, the rule file promtool accepts."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from docktally.analytics.model import Window
from docktally.analytics.totals import COUNTERS, container_totals
from docktally.cli import main
from docktally.errors import UsageError
from docktally.metrics.address import parse_address
from docktally.metrics.collector import (
    INCIDENT,
    LABELS,
    ContainerCollector,
    IncidentCollector,
    StoreHealthCollector,
    container_rows,
    incident_rows,
)
from docktally.metrics.endpoint import Http
from docktally.metrics.health import LAG_BUCKETS_S, CollectorHealth, ProcessHealthCollector
from docktally.metrics.rules import render_rules
from docktally.metrics.server import MetricsServer
from docktally.metrics.summary import StoreTotals
from docktally.metrics.text import KeptText
from docktally.store import collection, db, reads
from docktally.store.spool import Spool

DATA = Path(__file__).parent / "data" / "events"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
NS = 1_000_000_000


@pytest.fixture
def recorded(db_url: str, store: Engine) -> Engine:
    for path in sorted(DATA.glob("*.jsonl")):
        assert main(["import", "--db", db_url, "--host", "rec", str(path)]) == 0
    return store


def _counters(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index(["host", "container_id"]).sort_index()[COUNTERS].astype(float)


def test_counters_are_the_same_whatever_the_fold_points(recorded: Engine) -> None:
    with recorded.connect() as conn:
        first = collection.first_event_ns(conn)
        last = max(collection.last_event_ns_by_host(conn).values())
        assert first is not None
    end = last + 600 * NS
    # Read through Arrow's driver here, through the collector's connection by Summary.
    with db.open_reader(recorded) as reader:
        whole = container_totals(reads.load_history(reader, first, end), Window(first, end))
    assert len(whole) >= 5 and whole["failures_crash"].sum() > 0

    # Folded once at `end - 10 s`, never folded, and folded twice on the way: one answer, and
    # a new StoreTotals (a restarted endpoint) gives it again.
    clock = iter([end])
    once = StoreTotals(recorded, clock_ns=lambda: next(clock), settle_s=10).refresh()
    never = StoreTotals(recorded, clock_ns=lambda: end, settle_s=10**9).refresh()
    steps = iter([first + (end - first) // 3, end])
    twice = StoreTotals(recorded, clock_ns=lambda: next(steps), settle_s=1)
    twice.refresh()
    again = twice.refresh()
    for snap in (once, never, again):
        assert snap.now_ns == end
        np.testing.assert_allclose(_counters(snap.totals), _counters(whole), rtol=1e-9)
        assert snap.health.gaps == {}
        assert snap.health.last_event_ns == {"rec": last}


def test_the_collectors_render_what_promtool_accepts(recorded: Engine, tmp_path: Path) -> None:
    with recorded.connect() as conn:
        end = max(collection.last_event_ns_by_host(conn).values()) + NS
    snap = StoreTotals(recorded, clock_ns=lambda: end).refresh()
    health = CollectorHealth()
    health.on_commit([{"host": "rec", "time_ns": end - NS // 20}], end)  # 50 ms
    health.on_commit([{"host": "rec", "time_ns": end - 3 * NS}], end)  # 3 s
    spool = Spool(None)
    spool.push({"host": "rec", "rows": [{"i": 0}, {"i": 1}]})
    # What the endpoint reads of a collector.runner.Collector: its sessions and spool.
    health.watch("unix:///x.sock", SimpleNamespace(sessions=3, spool=spool))
    rows = container_rows(snap)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ContainerCollector(rows))
    registry.register(IncidentCollector(rows, snap.now_ns))
    registry.register(StoreHealthCollector(snap))
    registry.register(ProcessHealthCollector(health.view()))
    text = generate_latest(registry)
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr

    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    crashy = {
        s.labels["cause"]: s.value
        for s in families["docktally_container_failures"].samples
        if s.labels["container"] == "crashy"
    }
    assert set(crashy) == {
        "oom", "crash", "clean_exit", "start_failure", "engine_restart", "unhealthy", "redeploy"
    }  # fmt: skip
    totals = snap.totals.set_index("container")
    assert crashy["crash"] == totals.loc["crashy", "failures_crash"] > 0
    states = [
        s
        for s in families["docktally_container_state"].samples
        if s.labels["container"] == "hungry"
    ]
    assert sorted(s.labels["state"] for s in states) == sorted(
        ["up", "unhealthy", "down", "planned", "unknown"]
    )
    assert sum(s.value for s in states) == 1
    lag = {
        float(s.labels["le"]): s.value
        for s in families["docktally_collector_commit_lag_seconds"].samples
        if s.name.endswith("_bucket")
    }
    assert lag[0.025] == 0 and lag[0.05] == 1 and lag[2.5] == 1 and lag[5] == 2
    assert lag[float("inf")] == 2 and len(lag) == len(LAG_BUCKETS_S) + 1
    reconnects = families["docktally_collector_reconnects"].samples
    assert [(s.labels["engine"], s.value) for s in reconnects] == [("unix:///x.sock", 2)]
    spooled = families["docktally_collector_spool_depth"].samples
    assert [(s.labels["engine"], s.value) for s in spooled] == [("unix:///x.sock", 2)]


ODD = ['we"b', "back\\slash", "new\nline", "ünï-cödé ✓", "{brace}=,", ""]


def test_every_sample_carries_its_rows_labels_and_values(recorded: Engine) -> None:
    with recorded.connect() as conn:
        end = max(collection.last_event_ns_by_host(conn).values()) + NS
    snap = StoreTotals(recorded, clock_ns=lambda: end).refresh()
    rows = container_rows(snap)
    # Names, services, images and policies that need escaping, and large and tiny values.
    for i, col in enumerate(["container", "service", "image", "policy"]):
        rows[col] = [ODD[(i + k) % len(ODD)] + str(k) for k in range(len(rows))]
    rows.loc[0, "downtime_s"] = 1.234567890123e12
    rows.loc[1, "observed_s"] = 3e-7
    rows.loc[2, "restarts"] = 10**9
    text = generate_latest_of(ContainerCollector(rows)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    by_labels = {
        (r.host, r.container, r.service, r.image, r.policy): r for r in rows.itertuples(index=False)
    }
    assert len(by_labels) == len(rows) >= 5
    seen = 0
    for family in families.values():
        for s in family.samples:
            row = by_labels[
                tuple(s.labels[k] for k in ("host", "container", "service", "image", "policy"))
            ]
            want = {
                "docktally_container_restarts_total": row.restarts,
                "docktally_container_oom_kills_total": row.oom_kills,
                "docktally_container_downtime_seconds_total": row.downtime_s,
                "docktally_container_observed_seconds_total": row.observed_s,
                "docktally_container_last_exit_code": row.last_exit_code,
                "docktally_container_last_exit_timestamp_seconds": row.last_exit_ns / NS
                if not pd.isna(row.last_exit_ns)
                else None,
                "docktally_container_state": float(s.labels.get("state") == row.state),
                "docktally_container_failures_total": getattr(
                    row, f"failures_{s.labels.get('cause')}", None
                ),
            }[s.name]
            assert s.value == want, (s, row)
            seen += 1
    exited = int(rows["last_exit_ns"].notna().sum())
    assert seen == len(rows) * (4 + 7 + 5) + 2 * exited


def test_the_kept_text_is_generate_latests_whatever_changes(recorded: Engine) -> None:
    """KeptText renders again only what changed, and its text is generate_latest's of every
    row, byte for byte, as label sets come and go and values change."""
    with recorded.connect() as conn:
        end = max(collection.last_event_ns_by_host(conn).values()) + NS
    rows = container_rows(StoreTotals(recorded, clock_ns=lambda: end).refresh())
    for i, col in enumerate(["container", "service", "image", "policy"]):
        rows[col] = [ODD[(i + k) % len(ODD)] + str(k) for k in range(len(rows))]
    exit0 = rows.index[rows["last_exit_ns"].notna()][-1]
    rows.loc[exit0, "last_exit_code"] = 0  # its sample's value is that of no sample: 0
    assert len(rows) >= 5 and exit0 > 1
    kept = KeptText()
    full = generate_latest_of(ContainerCollector(rows))
    assert kept.render(rows) == full and kept.rendered_samples == kept.samples

    later = rows.copy()
    later["observed_s"] += 15.0
    assert kept.render(later) == generate_latest_of(ContainerCollector(later))
    # Observed time alone moved: its lines kept, with the new values.
    assert (kept.rendered_samples, kept.spliced_samples) == (0, len(rows))
    parts = kept.render_parts(later)
    assert all(a is b for a, b in zip(parts, kept.render_parts(later), strict=True))

    # Values that move on kept label sets, formatted as generate_latest does: counters and
    # gauges, ints and floats, tiny and large (Go's exponents), infinities, NaN, -0.0.
    moved = later.copy()
    exits = moved.index[moved["last_exit_ns"].notna()]
    assert len(exits) >= 2
    moved.loc[0, "restarts"] += 1
    moved.loc[1, "failures_crash"] += 2
    moved.loc[[0, 1, 2, 3, 4], "downtime_s"] = [1.5e-07, np.inf, np.nan, -np.inf, -0.0]
    moved.loc[[0, 1, 2], "observed_s"] = [123456789.25, 1e22, 7.0]
    moved.loc[exits[0], "last_exit_ns"] = 150  # a gauge of 1.5e-07
    moved.loc[exits[1], "last_exit_code"] = 137
    moved.loc[exits[1], "last_exit_ns"] = 1_796_000_000_123_456_789
    moved.loc[3, "state"] = "planned" if moved.loc[3, "state"] != "planned" else "up"
    for _ in range(2):  # a NaN kept as it was
        assert kept.render(moved) == generate_latest_of(ContainerCollector(moved))
    assert (kept.rendered_samples, kept.spliced_samples) == (0, 0)
    assert kept.render(later) == generate_latest_of(ContainerCollector(later))
    assert (kept.rendered_samples, kept.spliced_samples) == (0, 1 + 1 + 5 + 3 + 1 + 2 + 2)

    # A label set gone, one new (sorted in between), a state, a failure count, an exit that
    # appears and one that goes, a float that differs only in its last bit, a -0.0.
    changed = later.drop(index=[1]).reset_index(drop=True)
    new = changed.iloc[[0]].assign(container="new\nname \u2713", restarts=7)
    changed = pd.concat([changed, new]).sort_values(["host", *LABELS[1:]], ignore_index=True)
    changed.loc[2, "state"] = "down" if changed.loc[2, "state"] != "down" else "up"
    changed.loc[3, "failures_crash"] += 1
    exited = changed["last_exit_ns"].notna()
    changed.loc[changed.index[~exited][:1], ["last_exit_ns", "last_exit_code"]] = [5 * NS, 3]
    changed.loc[changed.index[exited & (changed["last_exit_code"] == 0)], "last_exit_ns"] = pd.NA
    changed.loc[4, "downtime_s"] = np.nextafter(changed.loc[4, "downtime_s"], np.inf)
    changed.loc[0, "downtime_s"] = -0.0
    for _ in range(2):
        assert kept.render(changed) == generate_latest_of(ContainerCollector(changed))
    assert kept.rendered_samples == kept.spliced_samples == 0
    assert kept.render(changed.iloc[:0]) == generate_latest_of(ContainerCollector(changed.iloc[:0]))
    assert kept.render(rows) == full
    # A render that fails half-way (an exit without its code: the exit families come last)
    # over other label sets leaves the last one's lines to the next.
    broken = rows.drop(index=[0]).reset_index(drop=True)
    broken.loc[broken.index[broken["last_exit_ns"].notna()][:1], "last_exit_code"] = pd.NA
    with pytest.raises(ValueError):
        kept.render(broken)
    assert kept.render(rows) == full


def test_the_kept_incidents_are_generate_latests(recorded: Engine) -> None:
    """The incidents, kept per host and service: generate_latest's text as incidents open
    and close and services come and go."""
    with recorded.connect() as conn:
        end = max(collection.last_event_ns_by_host(conn).values()) + NS
    rows = container_rows(StoreTotals(recorded, clock_ns=lambda: end).refresh())
    rows["service"] = [ODD[k % 4] for k in range(len(rows))]
    kept = KeptText((INCIDENT,))

    def render(rows: pd.DataFrame, now_ns: int) -> bytes:
        text = kept.render(incident_rows(rows, now_ns))
        assert text == generate_latest_of(IncidentCollector(rows, now_ns))
        return text

    first = render(rows, end)
    services = incident_rows(rows, end)
    assert len(services) == 4
    assert kept.rendered_samples == kept.samples == len(services)
    # Each service's incident opens or closes (its containers all up, or one down).
    flipped = rows.copy()
    for service, is_open in services[["service", "open"]].itertuples(index=False):
        mine = flipped["service"] == service
        flipped.loc[mine, "state"] = "up"
        flipped.loc[mine, "last_failure_ns"] = pd.NA
        if not is_open:
            flipped.loc[flipped.index[mine][:1], "state"] = "down"
    render(flipped, end)
    assert (kept.rendered_samples, kept.spliced_samples) == (0, len(services))
    # A service new, one gone, and the others' failures aging out.
    churned = rows[rows["service"] != services["service"].iloc[1]].copy()
    churned.loc[churned.index[0], "service"] = "new \u2713"
    render(churned, end + 3600 * NS)
    assert (kept.rendered_samples, kept.samples) == (1, len(services))
    assert render(rows, end) == first


def generate_latest_of(*collectors: object) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)  # type: ignore[arg-type]
    return generate_latest(registry)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


def test_the_server_refreshes_after_a_scrape_at_most_once_per_interval(recorded: Engine) -> None:
    health = CollectorHealth()
    health.on_commit([{"host": "rec", "time_ns": time.time_ns()}], time.time_ns())
    # The collector's health as endpoint.CollectorMetrics serves it to its child.
    beside = Http("127.0.0.1", 0, lambda: render_health(health), "--metrics")
    beside.thread.start()
    health_from = f"http://127.0.0.1:{beside.port}/metrics"
    server = MetricsServer(recorded, port=0, refresh_s=0.5, health_from=health_from).start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        # Before the first refresh: the collector's own health, never a wait on the store.
        first = get(url)
        assert first == render_health(health)
        assert b"docktally_collector_events_total" in first
        deadline = time.monotonic() + 30
        while server.refreshes < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        text = get(url)
        assert b'docktally_container_oom_kills_total{container="hungry"' in text
        assert text.endswith(render_health(health))
        # Nobody scraped after that: no more refreshes, however long.
        while server.refreshes < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)
        assert server.refreshes == 2
        for _ in range(10):
            get(url)
        time.sleep(0.3)
        assert server.refreshes <= 3
    finally:
        server.close()
        beside.close()


def test_refreshing_takes_at_most_two_percent_of_a_core(recorded: Engine) -> None:
    """Scraped without pause and a refresh interval of 10 ms, a tail refresh still waits 50
    times its CPU time before the next: the series of a big store get older instead of taking
    the CPU a busy collector needs. Not the first refresh, of all history: the series would
    wait minutes after a start."""
    server = MetricsServer(recorded, port=0, refresh_s=0.01).start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    # (when seen done, its CPU, its wall time): under load a refresh's wall time is many times
    # its CPU, so the rest before a refresh is measured up to when it began, not ended.
    done: list[tuple[float, float, float]] = []
    try:
        deadline = time.monotonic() + 60
        while len(done) < 3 and time.monotonic() < deadline:
            get(url)
            if server.refreshes > len(done):
                done.append((time.monotonic(), server.last_refresh_cpu_s, server.last_refresh_s))
            time.sleep(0.005)
    finally:
        server.close()
    assert len(done) == 3
    (t0, first, _), (t1, tail, wall1), (t2, _, _) = done
    assert first > 0 and tail > 0
    assert (t1 - wall1) - t0 < 10 * first + 0.5, ((t1 - wall1) - t0, first)
    assert t2 - t1 >= 50 * tail - 0.02, (t2 - t1, tail)


def render_health(health: CollectorHealth) -> bytes:
    return generate_latest_of(ProcessHealthCollector(health.view()))


@pytest.mark.parametrize("by", ["container", "service", "host,service"])
@pytest.mark.parametrize("slo", [99.9, 99.5, 95])
def test_rules_pass_promtool(by: str, slo: float, tmp_path: Path) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(render_rules(slo, by))
    check = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert b"SUCCESS: 11 rules found" in check.stdout
    text = path.read_text()
    budget = f"{1 - slo / 100:g}"
    name = by.replace(",", "_")
    for factor, long, short in (("14.4", "1h", "5m"), ("6", "6h", "30m"), ("3", "1d", "2h")):
        assert (
            f"docktally:{name}_error_ratio:rate{long} > ({factor} * {budget}) "
            f"and docktally:{name}_error_ratio:rate{short} > ({factor} * {budget})"
        ) in text


def test_rules_command_checks_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--slo", "99.9", "--by", "host"]) == 2
    assert "--by" in capsys.readouterr().err
    assert main(["rules", "--slo", "100"]) == 2
    # --by as report takes it: a service across hosts, or per host (in either order).
    assert main(["rules", "--slo", "99.9", "--by", "service"]) == 0
    out = capsys.readouterr().out
    assert "sum by (service)" in out and "host" not in out
    assert main(["rules", "--slo", "99.9", "--by", "service,host"]) == 0
    out = capsys.readouterr().out
    assert "sum by (host, service)" in out and "docktally:host_service_error_ratio" in out


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("9486", ("127.0.0.1", 9486)),
        (":9000", ("127.0.0.1", 9000)),
        ("0.0.0.0:9486", ("0.0.0.0", 9486)),
        ("[::1]:9486", ("::1", 9486)),
        ("0.0.0.0", ("0.0.0.0", 9486)),
        ("[::]", ("::", 9486)),
    ],
)
def test_parse_address(text: str, want: tuple[str, int]) -> None:
    assert parse_address(text) == want


@pytest.mark.parametrize("text", ["", "host:", "host:http", "1:99999", "0", "::1:9486"])
def test_parse_address_rejects(text: str) -> None:
    with pytest.raises(UsageError, match="--metrics"):
        parse_address(text)


def test_the_dashboard_takes_its_address_in_the_same_syntax(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One syntax for every listen option: the dashboard's --address as the metrics' (its own
    default port), and the same one-line error."""
    import argparse

    from docktally.cli.dashboard import serve_address

    def at(text: str) -> tuple[str, int]:
        return serve_address(argparse.Namespace(address=text))

    assert at("127.0.0.1:8501") == ("127.0.0.1", 8501)
    assert at("8600") == ("127.0.0.1", 8600)
    assert at("0.0.0.0") == ("0.0.0.0", 8501)
    with pytest.raises(UsageError, match=r"^--address: 'web:http' is not HOST:PORT"):
        at("web:http")
    assert main(["dashboard", "--address", "web:http"]) == 2
    assert "--address: 'web:http' is not HOST:PORT" in capsys.readouterr().err


def test_metrics_command_serves_from_the_database(recorded: Engine, db_url: str) -> None:
    """`docktally metrics` in another process: the same series as computed here."""
    import socket
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "docktally", "metrics", "--db", db_url, "--address", f"{port}"],
        stderr=subprocess.PIPE,
    )
    try:
        text = b""
        deadline = time.monotonic() + 60
        while b"docktally_container_oom_kills_total" not in text and time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                    text = r.read()
            except OSError:
                continue
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    ooms = {
        s.labels["container"]: s.value for s in families["docktally_container_oom_kills"].samples
    }
    assert ooms["hungry"] == 1
    assert "docktally_collector_events" not in families  # no collector in that process


def test_beside_a_collector_the_refresh_thread_takes_only_spare_cpu(recorded: Engine) -> None:
    server = MetricsServer(recorded, port=0, idle_refresh=True).start()
    try:
        tid = server._refresher.native_id
        assert tid is not None
        deadline = time.monotonic() + 10
        while os.sched_getscheduler(tid) != os.SCHED_IDLE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.sched_getscheduler(tid) == os.SCHED_IDLE
        assert os.sched_getscheduler(0) != os.SCHED_IDLE  # only that thread: scrapes are answered
    finally:
        server.close()
