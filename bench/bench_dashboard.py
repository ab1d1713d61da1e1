"""The dashboard's Overview, first render, on the 1M-event database (target <= 3 s).

    .venv/bin/python -m bench.bench_dashboard [--db PATH] [--events 1000000] [--ranges 7d,30d]
                                             [--repeat 3]

Without --db (or when the file does not exist yet) the data comes from bench/generate.py:
1,000,000 events of 10,000 containers over the 30 days that end now (the dashboard's ranges end
at now), imported with `docktally import`. Each measurement is a fresh Python process running
Streamlit's AppTest on app.py: the first render with every cache cold, as a user opening the
dashboard sees it, then a second render in the same process (caches warm, as on a rerun). The
first render's CPU time (all threads of the process) is printed beside its wall time: on a
shared machine it says how much of a slow run was waiting for a core. Streamlit's discovery of
installed components, which a server does once at startup and AppTest in its first run
(~0.3 s), is done before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.installed import byte_compile

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = ROOT / "bench" / "data" / "dashboard-1m.db"

_CHILD = r"""
import json, os, sys, time
from streamlit.testing.v1 import AppTest
app, rng = sys.argv[1], sys.argv[2]
at = AppTest.from_file(app, default_timeout=600)
at.query_params["range"] = rng
# A server discovers installed components once, when it starts (Runtime.__init__); AppTest
# does it in its first run(), ~0.3 s. Done before the clock starts, as a running server has.
if hasattr(at, "_bidi_component_manager"):
    from streamlit.components.v2.component_manager import BidiComponentManager
    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    at._bidi_component_manager = manager
t0, c0 = time.perf_counter(), time.process_time()
at.run()
first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
assert not at.exception, [e.value for e in at.exception]
rows = max((len(d.value) for d in at.dataframe), default=0)
t1 = time.perf_counter()
at.run()
second = time.perf_counter() - t1
print(json.dumps({"first_s": first, "first_cpu_s": first_cpu, "rerun_s": second, "rows": rows}))
"""


def ensure_db(path: Path, events: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    jsonl = path.with_suffix(".jsonl")
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "generate.py"),
            str(jsonl),
            "--events",
            str(events),
            "--days",
            "30",
            "--start",
            start,
            "--db",
            str(path),
        ],
        check=True,
        cwd=ROOT,
    )
    jsonl.unlink(missing_ok=True)
    print(f"generated and imported in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def measure(db: Path, rng: str) -> dict[str, float]:
    env = dict(os.environ, DOCKTALLY_DB=f"sqlite:///{db}")
    env.pop("DOCKTALLY_COLLECTOR_STATUS", None)
    app = ROOT / "docktally" / "dashboard" / "app.py"
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(app), rng],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["rows"]:  # a message instead of the Overview (say, a schema to upgrade)
        raise SystemExit(f"the Overview of {db} showed no table: open it in a browser")
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"(default {DEFAULT_DB})")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--ranges", default="7d,30d", help="time ranges to render (default 7d,30d)")
    p.add_argument("--repeat", type=int, default=3, help="fresh processes per range")
    args = p.parse_args(argv)
    byte_compile()  # as `pip install` leaves docktally (bench/installed.py)
    ensure_db(args.db, args.events)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", file=sys.stderr)
    for rng in args.ranges.split(","):
        runs = [measure(args.db, rng) for _ in range(args.repeat)]
        firsts = sorted(r["first_s"] for r in runs)
        cpus = sorted(r["first_cpu_s"] for r in runs)
        reruns = sorted(r["rerun_s"] for r in runs)
        print(
            f"range {rng}: first render median {firsts[len(firsts) // 2]:.2f} s "
            f"(min {firsts[0]:.2f}, max {firsts[-1]:.2f}; CPU median "
            f"{cpus[len(cpus) // 2]:.2f} s); rerun median "
            f"{reruns[len(reruns) // 2]:.2f} s; table rows {int(runs[0]['rows'])}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
