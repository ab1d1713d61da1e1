"""The Prometheus endpoint's cost: scraping 10,000 containers' series, and the live collector's
event-to-commit p99 with the endpoint refreshing and being scraped beside it.

    .venv/bin/python -m bench.bench_metrics [--containers 10000] [--events 300000]
                                            [--scrapes 20] [--seconds 30] [--churners 3]

1. Scrape: bench/generate.py's events for `--containers` containers are imported into a
   SQLite file; a MetricsServer over it refreshes (the first refresh computes every
   container's totals since its first event; the next ones only the recent tail; each is
   timed in parts: totals from the store, series rows, text; `--tails` of them 15 s apart,
   one of which folds the settled base forward with the default 9), then `--scrapes` GETs
   of /metrics over HTTP are timed. Target: a scrape <= 200 ms.
2. Collector: a private engine (tests/private_engine.py) with `--churners` processes looping
   create/start/wait/remove; the collector writes into the same database, with the endpoint
   as `collect --metrics` runs it (the store's series from a `docktally metrics` child
   refreshing at most every `--refresh` seconds after a scrape, the collector answering it
   with its health; its first refresh, of all history, before measuring). Event-to-commit
   latency (the bench_collector_latency measure) in `--seconds` phases of three arms, in turn,
   `--rounds` times (the machine's load drifts): A nobody scrapes; B scraped every
   `--scrape-every` seconds (15, Prometheus' usual interval) by another process, the child's
   refresh thread at nice 10 (as before 2026-12-06); C the same, the refresh thread at
   SCHED_IDLE (as shipped). Each phase starts once no refresh is under way or still to come;
   since session 10 (a refresh then waits 50 times its CPU time, tens of seconds here) a
   scraped phase begins a share of the refresh cycle (the time between the last two refreshes'
   starts) after its first scrape (0.1, 0.3, ... of it over 5 rounds), so that the scraped
   phases hold the refreshes of a steady run, not one at each phase's start.
   Each phase's line: its p50 and p99, the child's, the collector's and the scraper's CPU,
   the load average, the WAL's size, and the latency of the events that waited while the
   child worked and while it read the store. Target: p99 not slowed (C as A).
   `--arms A,C,A2` (since session 9) picks the phases of a round; A2 is A again, to show what
   the bench's own noise gives. Per phase besides (bench/commits.py): the events that waited
   during a scrape, during the refresh thread's work and the others; the collector's write
   transactions and COMMIT calls; the WAL's frames not yet checkpointed (read from the -shm
   header); the machine's idle and steal; the run-queue waits of the collector's process and
   of dockerd. At the end, each arm against the first: pooled p99, and the permutation p.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
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
from bench.commits import CommitTimes, Machine, WalWatch, compare_arms
from bench.generate import write_file
from bench.installed import byte_compile
from docktally.cli import main as docktally
from docktally.collector.runner import Collector
from docktally.metrics.collector import container_rows
from docktally.metrics.endpoint import CollectorMetrics, fetch
from docktally.metrics.health import CollectorHealth
from docktally.metrics.server import REFRESH_S, REFRESH_SHARE, MetricsServer
from docktally.store import db
from tests.private_engine import IMAGE, PrivateEngine

# Scrapes come from another process, as Prometheus' would, every `--scrape-every` seconds.
SCRAPER = """
import sys, time, urllib.request
while True:
    at, t0 = time.time_ns(), time.perf_counter()
    with urllib.request.urlopen(sys.argv[1], timeout=60) as resp:
        resp.read()
    took = time.perf_counter() - t0
    print(at, took, flush=True)
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
    base_end = server.totals._base_end_ns
    snapshot = server.totals.refresh()
    # The settled base took in another stretch (every 120 s): a second window read.
    folded = "folded, " if base_end is not None and server.totals._base_end_ns != base_end else ""
    cpu.append(time.thread_time())
    rows = container_rows(snapshot)
    cpu.append(time.thread_time())
    server.rendered = server.render(snapshot, rows)  # as refresh() does
    cpu.append(time.thread_time())
    totals, rows_s, text = (b - a for a, b in itertools.pairwise(cpu))
    return (
        f"{time.perf_counter() - wall:.2f} s, {cpu[-1] - cpu[0]:.2f} s CPU ({folded}totals "
        f"{totals:.2f}, series rows {rows_s:.2f}, text {text:.2f}: "
        f"{server.text.rendered_samples} of {server.text.samples} samples rendered, "
        f"{server.text.spliced_samples} with a new value)"
    )


def bench_scrape(url: str, scrapes: int, tail_refreshes: int) -> None:
    store = db.connect(url, readonly=True)
    server = MetricsServer(store, port=0)
    first = timed_refresh(server)
    # The next ones as the endpoint runs them, 15 s apart: each a tail later (the store's
    # events end at the start, so only time moves: what every refresh of a steady fleet sees).
    tails = []
    for _ in range(tail_refreshes):
        time.sleep(REFRESH_S)
        tails.append(timed_refresh(server))
    server.start()
    endpoint = f"http://127.0.0.1:{server.port}/metrics"
    times, size = [], 0
    for _ in range(scrapes):
        took, size = scrape(endpoint)
        times.append(took)
    text = urllib.request.urlopen(endpoint, timeout=60).read().decode()
    samples = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    print(f"first refresh (all history): {first}")
    for tail in tails:
        print(f"next refresh (tail): {tail}")
    print(
        f"scrape: median {statistics.median(times) * 1000:.1f} ms, "
        f"max {max(times) * 1000:.1f} ms over {scrapes}; {size / 1e6:.1f} MB, {samples} samples"
    )
    server.close()
    store.dispose()


def cpu_s(pid: int, path: str = "") -> float:
    """A process's user + system CPU seconds so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{path or pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_s(pid: int, tid: int) -> float:
    """One thread's user + system CPU seconds so far (/proc/PID/task/TID/stat)."""
    return cpu_s(pid, f"{pid}/task/{tid}")


def syscr(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscr:"):
            return int(line.split()[1])
    return 0


def overlapping(
    got: list[tuple[int, float]], spans: list[tuple[int, int]], outside: bool = False
) -> list[float]:
    """The latencies of events whose wait (event time to commit) overlapped one of spans (or,
    `outside`, none of them)."""
    return [v for c, v in got if any(c >= t0 and c - v * 1e6 <= t1 for t0, t1 in spans) != outside]


class Busy(threading.Thread):
    """When a process works: its CPU sampled every 0.1 s; the spans in which it took any
    (those less than 1 s apart merged: a refresh at nice 10 on a busy machine gets a slice now
    and then). Beside it, the SQLite WAL's size."""

    def __init__(self, pid: int, wal: Path) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.wal = wal
        self.samples: list[tuple[int, float]] = []
        self.refresher: int | None = None  # the refresh thread, sampled apart once known
        self.refreshing: list[tuple[int, float]] = []
        self.reads: list[tuple[int, int]] = []  # its read syscalls so far (/proc/PID/io syscr)
        self.wal_sizes: list[tuple[int, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.1):
            with contextlib.suppress(OSError):
                self.samples.append((time.time_ns(), cpu_s(self.pid)))
                if self.refresher is not None:
                    self.refreshing.append((time.time_ns(), thread_cpu_s(self.pid, self.refresher)))
                self.reads.append((time.time_ns(), syscr(self.pid)))
            with contextlib.suppress(OSError):
                self.wal_sizes.append((time.time_ns(), self.wal.stat().st_size))

    def spans(self, reading: bool = False, refresh: bool = False) -> list[tuple[int, int]]:
        """When it took CPU; `reading`: when it made read calls (the store's, SQLite's);
        `refresh`: when its refresh thread took CPU."""
        out: list[tuple[int, int]] = []
        samples = self.reads if reading else self.refreshing if refresh else self.samples
        for (t0, c0), (t1, c1) in itertools.pairwise(samples):
            if c1 > c0 + (20 if reading else 0):
                if out and t0 - out[-1][1] < 1e9:
                    out[-1] = (out[-1][0], t1)
                else:
                    out.append((t0, t1))
        return out

    def wal_max_mb(self, since_ns: int) -> float:
        return max((n for t, n in self.wal_sizes if t >= since_ns), default=0) / 1e6

    def refreshes(self) -> list[tuple[int, float]]:
        """The refresh thread's stretches of work: (start ns, CPU s), samples less than 3 s
        apart merged (at SCHED_IDLE on a busy machine a refresh can wait over a second for a
        core; refreshes are at least 15 s apart)."""
        out: list[tuple[int, float]] = []
        at = None
        for (t0, c0), (t1, c1) in itertools.pairwise(self.refreshing):
            if c1 > c0:
                if at is None or t0 - at >= 3e9:
                    out.append((t0, 0.0))
                out[-1] = (out[-1][0], out[-1][1] + c1 - c0)
                at = t1
        return out

    def last_refresh_cpu(self) -> float:
        """The refresh thread's CPU in its last refresh."""
        done = self.refreshes()
        return done[-1][1] if done else 0.0

    def refresh_cycle(self) -> float | None:
        """Seconds between the last two refreshes' starts, or None before two."""
        done = self.refreshes()
        return (done[-1][0] - done[-2][0]) / 1e9 if len(done) >= 2 else None

    def idle_for(self, seconds: float) -> bool:
        recent = [c for t, c in self.samples if t >= time.time_ns() - seconds * 1e9]
        return len(recent) >= seconds * 5 and recent[-1] - recent[0] < 0.02


def spread(values: list[float]) -> str:
    return (
        f"{len(values)} (p50 {pct(values, 50):.0f}, p99 {pct(values, 99):.0f} ms)"
        if values
        else "0"
    )


def own_io() -> dict[str, int]:
    fields = (line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return {k: int(v) for k, v in fields}


def refresh_thread(pid: int) -> int:
    """The child's refresh thread: the one that put itself at SCHED_IDLE (server.idle_priority)."""
    while True:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                if os.sched_getscheduler(int(task.name)) == os.SCHED_IDLE:
                    return int(task.name)
        time.sleep(0.1)


# The phases of a round: no scrapes; scraped, the child's refresh thread at nice 10 like the
# rest of the child (as before 2026-12-06 07:40); scraped, the refresh thread at SCHED_IDLE (as
# shipped); and, to see what the bench's own noise gives, a second arm nobody scrapes.
ARMS = ("A alone", "B nice 10", "C idle", "A2 alone")
SHORT = {arm.split()[0]: arm for arm in ARMS}


def bench_collector(
    url: str,
    seconds: float,
    churners: int,
    rounds: int,
    scrape_every: float,
    refresh_s: float,
    arms: Sequence[str] = ARMS[:3],
) -> None:
    """The endpoint runs throughout (its first refresh, of all history, before measuring);
    the ARMS' phases follow each other in turn, each starting once the child has been idle
    for longer than its refresh interval (no refresh a scrape started is still to come)."""
    eng = PrivateEngine()
    eng.start()
    assert eng.proc is not None
    machine = Machine(eng.proc.pid)  # dockerd's waits beside ours
    # Per phase: (commit ns, latency ms) of each event.
    phase: list[list[tuple[int, float]]] = [[]]
    health = CollectorHealth()

    def on_commit(rows: Sequence[Mapping[str, Any]], committed_ns: int) -> None:
        health.on_commit(rows, committed_ns)
        commits.on_commit(committed_ns)
        phase[-1].extend((committed_ns, (committed_ns - int(r["time_ns"])) / 1e6) for r in rows)

    store = db.connect(url)
    commits = CommitTimes(store)
    wal = WalWatch(Path(url.removeprefix("sqlite:///")))
    stop = threading.Event()
    col = Collector(store=store, engine_url=eng.url, on_commit=on_commit, log=print)
    health.watch(eng.url, col)
    runner = threading.Thread(target=col.run, args=(stop,), daemon=True)
    procs: list[subprocess.Popen[bytes]] = []
    server = CollectorMetrics(url, health, port=0, refresh_s=refresh_s)
    try:
        runner.start()
        while col.sessions < 1:
            time.sleep(0.05)
        procs = [
            subprocess.Popen([sys.executable, "-c", CHURN, eng.url, IMAGE]) for _ in range(churners)
        ]
        server.start()
        assert server.child is not None
        refresher = refresh_thread(server.child.pid)
        busy = Busy(server.child.pid, Path(url.removeprefix("sqlite:///") + "-wal"))
        busy.refresher = refresher
        busy.start()
        wal.start()
        endpoint = f"http://127.0.0.1:{server.port}/metrics"
        while b"docktally_container_restarts_total" not in fetch(endpoint):
            time.sleep(0.5)
        # A tail refresh before the phases, so that their waits are a tail refresh's.
        time.sleep(refresh_s + 1.0)
        fetch(endpoint)
        time.sleep(1.0)
        while not busy.idle_for(3.0):
            time.sleep(0.2)
        lat: dict[str, list[float]] = {arm: [] for arm in arms}
        each: dict[str, list[list[float]]] = {arm: [] for arm in arms}
        p50s: dict[str, list[float]] = {arm: [] for arm in arms}
        p99s: dict[str, list[float]] = {arm: [] for arm in arms}
        scrapes: list[float] = []
        for i in range(rounds * len(arms)):
            arm = arms[i % len(arms)]
            # No refresh left to come: the last scrape's may start up to the server's wait
            # later (refresh_s, or longer for a refresh's CPU: server.REFRESH_SHARE).
            wait = max(refresh_s, busy.last_refresh_cpu() / REFRESH_SHARE)
            while not busy.idle_for(min(wait, 90.0) + 2.0):
                time.sleep(0.2)
            policy = os.SCHED_IDLE if arm == "C idle" else os.SCHED_OTHER
            os.sched_setscheduler(refresher, policy, os.sched_param(0))  # nice 10 kept
            scraper = None
            if not arm.startswith("A"):
                scraper = subprocess.Popen(
                    [sys.executable, "-c", SCRAPER, endpoint, str(scrape_every)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                # The first scrape refreshes at once; a phase that began there would hold more
                # refreshes than a steady run (one per `wait`). It begins this far into the
                # cycle, spread over the rounds (stratified): the phases together see the
                # refreshes of a steady run.
                cycle = busy.refresh_cycle() or wait  # a refresh's wait plus its own time
                time.sleep(min(cycle, 90.0) * (i // len(arms) + 0.5) / rounds)
            phase.append([])
            began = time.time_ns()
            load0, child0, own0 = os.getloadavg()[0], cpu_s(server.child.pid), time.process_time()
            refresh0 = thread_cpu_s(server.child.pid, refresher)
            io0 = own_io()
            machine.start()
            time.sleep(seconds)
            got = list(phase[-1])
            child, own = cpu_s(server.child.pid) - child0, time.process_time() - own0
            refreshing = thread_cpu_s(server.child.pid, refresher) - refresh0
            scraper_cpu = 0.0
            served: list[tuple[int, int]] = []  # each scrape's span, from the scraper's lines
            if scraper is not None:
                scraper_cpu = cpu_s(scraper.pid)
                scraper.terminate()
                out, _ = scraper.communicate()
                scrapes += [float(x) for x in out.split()[1::2]]
                served = [
                    (int(at), int(at) + int(float(took) * 1e9))
                    for at, took in zip(out.split()[::2], out.split()[1::2], strict=True)
                ]
            values = [v for _, v in got]
            lat[arm] += values
            each[arm].append(values)
            p50s[arm].append(pct(values, 50))
            p99s[arm].append(pct(values, 99))
            hit = overlapping(got, busy.spans())
            # Of those, the ones that overlapped the child's reads of the store.
            reading = overlapping(got, busy.spans(reading=True))
            io1 = own_io()
            io = {k: io1[k] - io0[k] for k in io1}
            print(
                f"{arm:<9}: p50 {pct(values, 50):.0f} ms, p99 {pct(values, 99):.0f} ms, "
                f"{len(values)} events; CPU s: child {child:.2f} (refresh thread "
                f"{refreshing:.2f}), collector process {own:.1f}, "
                f"scraper {scraper_cpu:.1f}; load {load0:.1f}-{os.getloadavg()[0]:.1f}; WAL max "
                f"{busy.wal_max_mb(began):.0f} MB; {len(hit)} events while the child worked"
                + (f" (p50 {pct(hit, 50):.0f}, p99 {pct(hit, 99):.0f} ms)" if hit else "")
                + (
                    f", {len(reading)} while it read the store (p50 {pct(reading, 50):.0f}, "
                    f"p99 {pct(reading, 99):.0f} ms)"
                    if reading
                    else ""
                )
                + f"; collector writes {io['syscw']} calls, {io['write_bytes'] / 1e6:.1f} MB",
                flush=True,
            )
            # The events that waited during a scrape (the HTTP side), during the refresh
            # thread's work, and the rest.
            work = busy.spans(refresh=True)
            scraped, refreshed = overlapping(got, served), overlapping(got, work)
            rest = overlapping(got, served + work, outside=True)
            print(
                f"    events during a scrape {spread(scraped)}, during the refresh thread's "
                f"work {spread(refreshed)}, the others {spread(rest)}",
                flush=True,
            )
            print(f"    {commits.since(began)}; {wal.since(began)}; {machine.since()}", flush=True)
        busy.done.set()
        wal.done.set()
        for arm in arms:
            v = lat[arm]
            print(
                f"event-to-commit {arm}: p50 {pct(v, 50):.0f} ms, p99 {pct(v, 99):.0f} ms, "
                f"max {max(v):.0f} ms over {len(v)} events; per phase p50 "
                f"{'/'.join(f'{x:.0f}' for x in p50s[arm])}, p99 "
                f"{'/'.join(f'{x:.0f}' for x in p99s[arm])}"
            )
        for line in compare_arms(each):
            print(line)
        print(
            f"{len(scrapes)} scrapes beside the collector, median "
            f"{statistics.median(scrapes) * 1000:.1f} ms, max {max(scrapes) * 1000:.1f} ms"
            if scrapes
            else "no scrapes"
        )

    finally:
        server.close()
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
    ap.add_argument("--tails", type=int, default=9, help="tail refreshes, 15 s apart (9)")
    ap.add_argument("--skip-collector", action="store_true")
    ap.add_argument(
        "--arms", default="A,B,C", help="phases of a round, of A, B, C, A2 (A again: the noise)"
    )
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
    bench_scrape(url, args.scrapes, args.tails)
    if not args.skip_collector:
        bench_collector(
            url,
            args.seconds,
            args.churners,
            args.rounds,
            args.scrape_every,
            args.refresh,
            [SHORT[a] for a in args.arms.split(",")],
        )


if __name__ == "__main__":
    main()
