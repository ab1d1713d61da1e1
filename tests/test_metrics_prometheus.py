"""A real Prometheus (Debian's) scrapes `docktally collect --metrics` while a crash loop and an
OOM kill run on the private engine: PromQL over the scraped series gives the report's failures,
OOM kills and availability for the same range, promtool accepts the endpoint's output, and the
generated SLO alert fires for the crash loop."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from docktally.cli import main
from docktally.timespec import ns_to_iso
from tests.private_engine import PrivateEngine

pytestmark = pytest.mark.engine

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
# The rules' windows divided by this: 1h/5m become 120 s/10 s.
WINDOW_SCALE = 30
# Prometheus scrapes every second here; the series are recomputed at most this often.
REFRESH_S = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = pred()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return bytes(resp.read())


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def api(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params)
        body = json.loads(get(f"{self.base}/api/v1/{path}?{query}"))
        assert body["status"] == "success", body
        return body["data"]

    def scalar(self, expr: str, at: float) -> float:
        result = self.api("query", query=expr, time=f"{at:.3f}")["result"]
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def samples(self, expr: str, at: float) -> list[tuple[float, float]]:
        result = self.api("query", query=expr, time=f"{at:.3f}")["result"]
        assert len(result) == 1, (expr, result)
        return [(float(t), float(v)) for t, v in result[0]["values"]]


@pytest.fixture
def collect_with_metrics(clean_engine: PrivateEngine, tmp_path: Path) -> Iterator[tuple[str, str]]:
    db = tmp_path / "metrics.db"
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "docktally",
            "collect",
            "--db",
            str(db),
            "--no-logs",
            "--host-label",
            "prom",
            "--metrics",
            f"127.0.0.1:{port}",
            "--metrics-refresh",
            f"{REFRESH_S}s",
        ],
        env=clean_engine.env(),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "collect.log", "wb"),  # noqa: SIM115 - closed with the process
    )
    endpoint = f"http://127.0.0.1:{port}/metrics"
    try:
        # The store's series are there once the endpoint's first refresh is done.
        wait_until(
            lambda: b"docktally_metrics_snapshot_timestamp_seconds" in get(endpoint), 60, "/metrics"
        )
        yield str(db), endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def prometheus(collect_with_metrics: tuple[str, str], tmp_path: Path) -> Iterator[Prometheus]:
    _, endpoint = collect_with_metrics
    target = urllib.parse.urlsplit(endpoint).netloc
    rules = tmp_path / "rules.yml"
    assert (
        main(
            [
                "rules",
                "--slo",
                "99.9",
                "--window-scale",
                str(WINDOW_SCALE),
                "--out",
                str(rules),
            ]
        )
        == 0
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files: [{json.dumps(str(rules))}]\n"
        "scrape_configs:\n  - job_name: docktally\n"
        f"    static_configs: [{{targets: [{json.dumps(target)}]}}]\n"
    )
    port = free_port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115 - closed with it
    )
    prom = Prometheus(f"http://127.0.0.1:{port}")
    try:
        wait_until(lambda: get(f"{prom.base}/-/ready"), 60, "Prometheus to be ready")
        yield prom
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def firing(prom: Prometheus, container: str) -> bool:
    alerts = prom.api("alerts")["alerts"]
    return any(
        a["labels"].get("alertname") == "DocktallyAvailabilityBudgetBurn"
        and a["labels"].get("container") == container
        and a["labels"].get("long_window") == "1h"
        and a["state"] == "firing"
        for a in alerts
    )


def test_prometheus_agrees_with_the_report(
    clean_engine: PrivateEngine,
    collect_with_metrics: tuple[str, str],
    prometheus: Prometheus,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, endpoint = collect_with_metrics
    prom = prometheus
    snap = "docktally_metrics_snapshot_timestamp_seconds"
    wait_until(lambda: prom.api("query", query=snap)["result"], 60, "a first scrape")
    started = time.time()
    time.sleep(1.5)

    eng = clean_engine
    first_run = time.time()
    crashy = eng.run(
        "sh", "-c", "sleep 0.5; exit 3", name="crashy", restart_policy={"Name": "always"}
    )
    # The sleep: an OOM kill 30 ms after the start can come with no `oom` event from the
    # engine (docs/definitions.md), and this test is about Prometheus, not that race.
    hungry = eng.run(
        "sh", "-c", "sleep 0.5; x=a; while true; do x=$x$x; done", name="hungry", mem_limit="8m"
    )
    assert hungry.wait(timeout=60)["StatusCode"] == 137
    steady = eng.run("sleep", "600", name="steady")

    # The generated burn-rate alert (windows scaled down) fires for the crash loop.
    wait_until(lambda: firing(prom, "crashy"), 90, "the 1h/5m burn-rate alert for crashy")
    assert not firing(prom, "steady")
    text = get(endpoint)
    check = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=text, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert b'docktally_container_oom_kills_total{container="hungry"' in text
    # The collector's own health, from its commit hook: every live event in the lag histogram.
    health = {
        (f.name, s.name): s.value
        for f in text_string_to_metric_families(text.decode())
        for s in f.samples
        if f.name.startswith("docktally_collector_")
    }
    events = health["docktally_collector_events", "docktally_collector_events_total"]
    lag_count = health[
        "docktally_collector_commit_lag_seconds", "docktally_collector_commit_lag_seconds_count"
    ]
    assert events >= 6 and lag_count == events
    steady_up = b'container="steady",host="prom",image="docktally-test/busybox:latest",policy="no"'
    steady_up += b',service="steady",state="up"} 1.0'
    wait_until(lambda: steady_up in get(endpoint), 30, "steady to be up at /metrics")

    for c in (crashy, hungry, steady):
        c.remove(force=True)
    removed = time.time()
    # Two refreshes after the removals, the endpoint has everything the store has.
    wait_until(
        lambda: prom.scalar(snap, time.time()) > removed + 2 * REFRESH_S + 2,
        60,
        "a snapshot after the removals",
    )

    end = time.time()
    samples = prom.samples(f"{snap}[{int(end - started) + 5}s]", end)
    # t_a: the last scrape whose snapshot predates every container, so the range holds all
    # their events whatever the commit lag.
    t_a, s_a = [(t, s) for t, s in samples if s < first_run][-1]
    t_b, s_b = samples[-1]
    offset = f"offset {round((t_b - t_a) * 1000)}ms"

    def over_range(selector: str) -> str:
        """The increase from t_a to t_b, exactly: the samples themselves, no extrapolation
        (series that did not exist at t_a count from 0)."""
        return f"(sum({selector}) - (sum({selector} {offset}) or vector(0)))"

    failures = prom.scalar(over_range("docktally_container_failures_total"), t_b)
    ooms = prom.scalar(over_range("docktally_container_oom_kills_total"), t_b)
    down = prom.scalar(over_range("docktally_container_downtime_seconds_total"), t_b)
    observed = prom.scalar(over_range("docktally_container_observed_seconds_total"), t_b)
    crashy_down = prom.scalar(
        over_range('docktally_container_downtime_seconds_total{container="crashy"}'), t_b
    )
    crashy_observed = prom.scalar(
        over_range('docktally_container_observed_seconds_total{container="crashy"}'), t_b
    )

    capsys.readouterr()
    since, until = ns_to_iso(int(s_a * 1e9)), ns_to_iso(int(s_b * 1e9))
    argv = ["report", "--db", db, "--since", since, "--until", until, "--format", "json"]
    assert main(argv) == 0
    groups = {g["key"]["container"]: g for g in json.loads(capsys.readouterr().out)["groups"]}
    assert set(groups) == {"crashy", "hungry", "steady"}

    assert failures == sum(g["failures"] for g in groups.values()), (failures, groups)
    assert groups["crashy"]["failures"] >= 3
    assert ooms == sum(g["oom_kills"] for g in groups.values()) == 1
    uptime = sum(g["uptime_s"] for g in groups.values())
    downtime = sum(g["downtime_s"] for g in groups.values())
    assert 1 - down / observed == pytest.approx(uptime / (uptime + downtime), abs=0.005)
    assert 1 - crashy_down / crashy_observed == pytest.approx(
        groups["crashy"]["availability"], abs=0.005
    )
