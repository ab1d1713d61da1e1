"""The Prometheus endpoint's cost: scraping 10,000 containers' series, and the live collector's
event-to-commit p99 with the endpoint refreshing and being scraped beside it.

    .venv/bin/python -m bench.bench_metrics [--containers 10000] [--events 300000]
                                            [--scrapes 20] [--seconds 30] [--churners 3]

1. Scrape: bench/generate.py's events for `--containers` containers are imported into a
   SQLite file; a MetricsServer over it refreshes (the first refresh computes every
   container's totals since its first event; the next ones only the recent tail; each is
   timed in parts: totals from the store, series rows, text), then `--scrapes` GETs of
   /metrics over HTTP are timed. Target: a scrape <= 200 ms.
2. Collector: a private engine (tests/private_engine.py) with `--churners` processes looping
   create/start/wait/remove; the collector writes into the same database. Event-to-commit
   latency (the bench_collector_latency measure) for `--seconds` without the endpoint, then
   `--seconds` with the endpoint as `collect --metrics` runs it (the store's series from a
   `docktally metrics` child refreshing at most every `--refresh` seconds after a scrape, the
   collector answering it with its health) scraped every `--scrape-every` seconds (15,
   Prometheus' usual interval) by another process, `--rounds` times in turn (the machine's
   load drifts). Target: p99 not slowed.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.bench_collector_latency import CHURN, pct
from bench.generate import write_file
from bench.installed import byte_compile
from docktally.cli import main as docktally
from docktally.collector.runner import Collector
from docktally.metrics.collector import (
    ContainerCollector,
    IncidentCollector,
    StoreHealthCollector,
    container_rows,
)
from docktally.metrics.endpoint import CollectorMetrics, fetch, render
from docktally.metrics.health import CollectorHealth
from docktally.metrics.server import REFRESH_S, MetricsServer
from docktally.store import db
from tests.private_engine import IMAGE, PrivateEngine

# Scrapes come from another process, as Prometheus' would, every `--scrape-every` seconds.
SCRAPER = """
import sys, time, urllib.request
while True:
    t0 = time.perf_counter()
    with urllib.request.urlopen(sys.argv[1], timeout=60) as resp:
        resp.read()
    took = time.perf_counter() - t0
    print(took, flush=True)
    time.sleep(max(0.0, float(sys.argv[2]) - took))
"""


def scrape(url: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:
        body = resp.read()
    return time.perf_counter() - t0, len(body)


def timed_refresh(server: MetricsServer) -> str:
    """MetricsServer.refresh's steps, each timed (CPU of this thread)."""
    wall, cpu = time.perf_counter(), [time.thread_time()]
    snapshot = server.totals.refresh()
    cpu.append(time.thread_time())
    rows = container_rows(snapshot)
    cpu.append(time.thread_time())
    server.rendered = render(
        ContainerCollector(rows),
        IncidentCollector(rows, snapshot.now_ns),
        StoreHealthCollector(snapshot),
    )
    cpu.append(time.thread_time())
    totals, rows_s, text = (b - a for a, b in itertools.pairwise(cpu))
    return (
        f"{time.perf_counter() - wall:.2f} s, {cpu[-1] - cpu[0]:.2f} s CPU (totals "
        f"{totals:.2f}, series rows {rows_s:.2f}, text {text:.2f})"
    )


def bench_scrape(url: str, scrapes: int) -> None:
    store = db.connect(url, readonly=True)
    server = MetricsServer(store, port=0)
    first = timed_refresh(server)
    tail = timed_refresh(server)
    server.start()
    endpoint = f"http://127.0.0.1:{server.port}/metrics"
    times, size = [], 0
    for _ in range(scrapes):
        took, size = scrape(endpoint)
        times.append(took)
    text = urllib.request.urlopen(endpoint, timeout=60).read().decode()
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"first refresh (all history): {first}\nnext refresh (tail): {tail}")
    print(
        f"scrape: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms over {scrapes}; {size / 1e6:.1f} MB, {samples} samples"
    )
    server.close()
    store.dispose()


def bench_collector(
    url: str, seconds: float, churners: int, rounds: int, scrape_every: float, refresh_s: float
) -> None:
    eng = PrivateEngine()
    eng.start()
    phase: list[list[float]] = [[]]
    health = CollectorHealth()

    def on_commit(rows: Sequence[Mapping[str, Any]], committed_ns: int) -> None:
        health.on_commit(rows, committed_ns)
        phase[-1].extend((committed_ns - int(r["time_ns"])) / 1e6 for r in rows)

    store = db.connect(url)
    stop = threading.Event()
    col = Collector(store=store, engine_url=eng.url, on_commit=on_commit, log=print)
    health.watch(eng.url, col)
    runner = threading.Thread(target=col.run, args=(stop,), daemon=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        runner.start()
        while col.sessions < 1:
            time.sleep(0.05)
        procs = [
            subprocess.Popen([sys.executable, "-c", CHURN, eng.url, IMAGE]) for _ in range(churners)
        ]
        time.sleep(2)  # churn under way
        lat: dict[bool, list[float]] = {False: [], True: []}
        scrapes: list[float] = []
        for _ in range(rounds):
            # Without the endpoint, then with it.
            phase.append([])
            time.sleep(seconds)
            alone = list(phase[-1])
            lat[False] += alone
            # As `docktally collect --metrics` runs it: the store's series from a child, whose
            # first refresh (all history) is done before measuring.
            server = CollectorMetrics(url, health, port=0, refresh_s=refresh_s).start()
            endpoint = f"http://127.0.0.1:{server.port}/metrics"
            while b"docktally_container_restarts_total" not in fetch(endpoint):
                time.sleep(0.5)
            phase.append([])
            scraper = subprocess.Popen(
                [sys.executable, "-c", SCRAPER, endpoint, str(scrape_every)],
                stdout=subprocess.PIPE,
                text=True,
            )
            time.sleep(seconds)
            lat[True] += phase[-1]
            print(
                f"round: p99 {pct(alone, 99):.0f} ms alone, {pct(phase[-1], 99):.0f} ms "
                f"with the endpoint ({len(alone)} / {len(phase[-1])} events)",
                flush=True,
            )
            scraper.terminate()
            out, _ = scraper.communicate()
            scrapes += [float(x) for x in out.split()]
            server.close()
        for on, name in ((False, "without the endpoint"), (True, "with the endpoint")):
            v = lat[on]
            print(
                f"event-to-commit {name}: p50 {pct(v, 50):.0f} ms, p99 {pct(v, 99):.0f} ms, "
                f"max {max(v):.0f} ms over {len(v)} events"
            )
        print(
            f"{len(scrapes)} scrapes beside the collector, median "
            f"{statistics.median(scrapes) * 1000:.1f} ms, max {max(scrapes) * 1000:.1f} ms"
        )

    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        stop.set()
        runner.join(timeout=10)
        store.dispose()
        eng.destroy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=10_000)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--days", type=float, default=7)
    ap.add_argument("--scrapes", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--churners", type=int, default=3)
    ap.add_argument("--scrape-every", type=float, default=15.0, help="seconds (default 15)")
    ap.add_argument("--refresh", type=float, default=REFRESH_S, help="seconds (default 15)")
    ap.add_argument("--rounds", type=int, default=2, help="without/with pairs (default 2)")
    ap.add_argument("--skip-collector", action="store_true")
    args = ap.parse_args()
    byte_compile()
    tmp = Path(tempfile.mkdtemp(prefix="dktbench"))
    lines = tmp / "events.jsonl"
    # Ending now: the containers are current, as on a live host.
    start_ns = time.time_ns() - int(args.days * 86400e9)
    write_file(
        lines, events=args.events, containers=args.containers, days=args.days, start_ns=start_ns
    )
    url = f"sqlite:///{tmp}/bench.db"
    assert docktally(["import", "--db", url, "--host", "bench", str(lines)]) == 0
    bench_scrape(url, args.scrapes)
    if not args.skip_collector:
        bench_collector(
            url, args.seconds, args.churners, args.rounds, args.scrape_every, args.refresh
        )


if __name__ == "__main__":
    main()
