"""Time `docktally import` of generated events into a fresh SQLite file, end to end.

    python bench/bench_import.py [--events 1000000] [--containers 10000] [--days 30] [--keep]
                                 [--escaped] [--repeat N]

Generates the file with bench/generate.py (seeded: same file every run, cached in the temp
folder), then runs `docktally import FILE --db NEW.db` as a subprocess and reports wall time,
events/s (end to end, including the command's start-up) and peak RSS of the import process.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import write_file
from bench.installed import byte_compile


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--containers", type=int, default=10_000)
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--keep", action="store_true", help="keep the database")
    p.add_argument(
        "--escaped",
        action="store_true",
        help="every line carries a JSON escape (\\u0061 for an 'a'), so that none is read by the "
        "import's plain-JSON scanner: all go through orjson, the worst case for real output",
    )
    p.add_argument("--repeat", type=int, default=1, help="runs; the median is printed last")
    args = p.parse_args()
    byte_compile()  # as `pip install` leaves docktally (bench/installed.py)
    tmp = Path(tempfile.gettempdir())
    src = tmp / f"docktally-bench-{args.events}-{args.containers}-{args.days:g}.jsonl"
    if not src.exists():
        t = time.perf_counter()
        write_file(src, events=args.events, containers=args.containers, days=args.days)
        print(f"generated {src} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    if args.escaped:
        plain, src = src, src.with_suffix(".escaped.jsonl")
        if not src.exists():
            with plain.open("rb") as fin, src.open("wb") as fout:
                for line in fin:
                    fout.write(line.replace(b'"scope":"local"', b'"scope":"loc\\u0061l"', 1))
    walls = [run_once(args, src) for _ in range(args.repeat)]
    if args.repeat > 1:
        mid = statistics.median(walls)
        print(f"median of {args.repeat}: {mid:.1f}s, {args.events / mid:,.0f} events/s end to end")
    return 0


def run_once(args: argparse.Namespace, src: Path) -> float:
    dbfile = Path(tempfile.mkdtemp(prefix="docktally-bench-")) / "bench.db"
    exe = Path(sys.executable).with_name("docktally")
    cmd = [str(exe), "import", str(src), "--db", str(dbfile), "--host", "bench"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    usage = argparse.Namespace(
        ru_maxrss=after.ru_maxrss,
        ru_utime=after.ru_utime - before.ru_utime,
        ru_stime=after.ru_stime - before.ru_stime,
    )
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
    return wall


if __name__ == "__main__":
    sys.exit(main())
