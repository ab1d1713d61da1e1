"""One alert evaluation (store -> incidents -> decisions -> outbox) on generated events.

    .venv/bin/python -m bench.bench_alerts --events 100000 --containers 1000 --days 1

Generates a day of events (bench/generate.py), imports them into a fresh SQLite file, and times
the evaluations of one alerts.evaluate.Evaluator at the end of that day, 2 s apart, as the
collector's alert thread runs them (its first read at once here): the first reads every
container's lookback and decides (and enqueues) every open incident's firing; the next ones
read what changed (nothing, but the containers of still-notifiable incidents whose oldest
events leave the lookback) and decide nothing new. Times are the thread's CPU and wall clock.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.generate import write_file
from docktally.alerts.delivery import targets
from docktally.alerts.evaluate import Evaluator
from docktally.alerts.rules import default_config
from docktally.cli import main as cli
from docktally.store import db, reads


def run(events: int, containers: int, days: float, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp) / "events.jsonl"
        write_file(lines, events=events, containers=containers, days=days, seed=3)
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        assert cli(["import", "--db", url, str(lines)]) == 0
        store = db.connect(url)
        with store.connect() as conn:
            end = int(reads.list_events(conn)["time_ns"].max())
        config = default_config(["json://127.0.0.1:9/"])
        to = targets(config.targets)
        evaluator = Evaluator(config)
        times = []
        for i in range(repeat):
            wall, cpu = time.perf_counter(), time.thread_time()
            decided = evaluator.evaluate(store, to, end + (i + 1) * 2_000_000_000)
            times.append((time.perf_counter() - wall, time.thread_time() - cpu))
            print(
                f"evaluation {i + 1}: {times[-1][0] * 1000:.0f} ms ({times[-1][1] * 1000:.0f} ms "
                f"CPU), {evaluator.analysed} containers read, {len(decided)} decisions"
            )
        rest = times[1:]
        print(
            f"the next ones: median {statistics.median(w for w, _ in rest) * 1000:.0f} ms "
            f"({statistics.median(c for _, c in rest) * 1000:.0f} ms CPU) over {len(rest)}"
        )
        store.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--containers", type=int, default=1_000)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=10)
    a = p.parse_args()
    run(a.events, a.containers, a.days, a.repeat)


if __name__ == "__main__":
    main()
