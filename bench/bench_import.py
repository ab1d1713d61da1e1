"""Time `docktally import` of generated events into a fresh SQLite file, end to end.

    python bench/bench_import.py [--events 1000000] [--containers 10000] [--days 30] [--keep]

Generates the file with bench/generate.py (seeded: same file every run, cached in the temp
folder), then runs `docktally import FILE --db NEW.db` as a subprocess and reports wall time,
events/s (end to end, including the command's start-up) and peak RSS of the import process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import write_file


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--containers", type=int, default=10_000)
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--keep", action="store_true", help="keep the database")
    args = p.parse_args()
    tmp = Path(tempfile.gettempdir())
    src = tmp / f"docktally-bench-{args.events}-{args.containers}-{args.days:g}.jsonl"
    if not src.exists():
        t = time.perf_counter()
        write_file(src, events=args.events, containers=args.containers, days=args.days)
        print(f"generated {src} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    dbfile = Path(tempfile.mkdtemp(prefix="docktally-bench-")) / "bench.db"
    exe = Path(sys.executable).with_name("docktally")
    cmd = [str(exe), "import", str(src), "--db", str(dbfile), "--host", "bench"]
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_kb = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    size_mb = dbfile.stat().st_size / 1e6
    print(
        f"imported {args.events:,} events in {wall:.1f}s: {args.events / wall:,.0f} events/s "
        f"end to end; peak RSS {peak_kb / 1024:.0f} MiB; database {size_mb:,.0f} MB "
        f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})"
    )
    print(
        f"CPU time {cpu:.1f}s (user {usage.ru_utime:.1f}s, sys {usage.ru_stime:.1f}s): "
        f"{args.events / cpu:,.0f} events per CPU-second"
    )
    if not args.keep:
        for f in dbfile.parent.iterdir():
            f.unlink()
        dbfile.parent.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
