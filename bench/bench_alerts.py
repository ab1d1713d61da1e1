"""One alert evaluation (store -> incidents -> decisions -> outbox) on generated events.

    .venv/bin/python -m bench.bench_alerts --events 100000 --containers 1000 --days 1

Generates a day of events (bench/generate.py), imports them into a fresh SQLite file, and times
alerts.evaluate.evaluate_once at the end of that day, as the collector's alert thread runs it:
the first evaluation decides (and enqueues) every open incident's firing, the next ones decide
nothing new.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.generate import write_file
from docktally.alerts.delivery import targets
from docktally.alerts.evaluate import evaluate_once
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
        times = []
        for i in range(repeat):
            began = time.perf_counter()
            decided = evaluate_once(store, config, to, end + (i + 1) * 1_000_000_000)
            times.append(time.perf_counter() - began)
            print(f"evaluation {i + 1}: {times[-1]:.2f} s, {len(decided)} decisions")
        print(f"median {statistics.median(times):.2f} s over {repeat}")
        store.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--containers", type=int, default=1_000)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--repeat", type=int, default=3)
    a = p.parse_args()
    run(a.events, a.containers, a.days, a.repeat)


if __name__ == "__main__":
    main()
