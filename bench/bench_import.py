"""Time `docktally import` of generated events into a fresh SQLite file, end to end, beside a
baseline measured in the same run.

    python -m bench.bench_import [--events 1000000] [--containers 10000] [--days 30]
                                 [--repeat N] [--keep]

Generates the file with bench/generate.py (seeded: same file every run, cached in the temp
folder). Each repeat runs, in turn:

- `docktally import FILE --db NEW.db` as a subprocess (as users run it: start-up, parsing,
  normalisation, containers, raw chunks, coverage, commit and WAL checkpoint);
- the baseline, also a subprocess: the least any import into this schema must do, by hand with
  orjson.loads and sqlite3's executemany of the same lines into the same `events` columns and
  indexes of a fresh, migrated file (a dict for container refs, no raw JSON kept, no checks);
- with --pg URL, `docktally import FILE --db` a fresh PostgreSQL database on that server
  (docktally_import_bench, created before each run and dropped after; the URL's user needs
  CREATEDB).

It prints wall time, events/s, CPU time and peak RSS of each, and the ratio.
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

BASELINE = r"""
import sqlite3, sys, orjson
from docktally.store import db
path, src = sys.argv[1], sys.argv[2]
db.connect(path).dispose()  # the schema, migrated: the same columns and indexes
conn = sqlite3.connect(path)
conn.execute("PRAGMA synchronous=NORMAL")
refs = {}
sql = ("INSERT INTO events (container_ref, time_ns, action, kind, exit_code, signal, inferred, "
       "source) VALUES (?, ?, ?, ?, ?, ?, 0, 'import') ON CONFLICT DO NOTHING")
batch = []
with open(src, "rb") as fh:
    for line in fh:
        p = orjson.loads(line)
        actor = p["Actor"]
        attrs = actor["Attributes"]
        action = p["Action"]
        batch.append((refs.setdefault(actor["ID"], len(refs) + 1), p["timeNano"], action,
                      action.partition(":")[0], attrs.get("exitCode"), attrs.get("signal")))
        if len(batch) == 20000:
            conn.executemany(sql, batch)
            batch = []
conn.executemany(sql, batch)
conn.commit()
conn.close()
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--containers", type=int, default=10_000)
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--keep", action="store_true", help="keep the databases")
    p.add_argument("--repeat", type=int, default=1, help="runs; medians are printed last")
    p.add_argument("--pg", metavar="URL", help="also import into PostgreSQL on this server")
    args = p.parse_args()
    byte_compile()  # as `pip install` leaves docktally (bench/installed.py)
    tmp = Path(tempfile.gettempdir())
    src = tmp / f"docktally-bench-{args.events}-{args.containers}-{args.days:g}.jsonl"
    if not src.exists():
        t = time.perf_counter()
        write_file(src, events=args.events, containers=args.containers, days=args.days)
        print(f"generated {src} in {time.perf_counter() - t:.1f}s", file=sys.stderr)
    exe = Path(sys.executable).with_name("docktally")
    walls: dict[str, list[float]] = {"import": [], "baseline": []}
    if args.pg:
        walls["postgresql"] = []
    for _ in range(args.repeat):
        for what in walls:
            work = Path(tempfile.mkdtemp(prefix="docktally-bench-"))
            dbfile = work / "bench.db"
            if what == "import":
                cmd = [str(exe), "import", str(src), "--db", str(dbfile), "--host", "bench"]
            elif what == "baseline":
                cmd = [sys.executable, "-c", BASELINE, str(dbfile), str(src)]
            else:
                url = fresh_pg(args.pg)
                cmd = [str(exe), "import", str(src), "--db", url, "--host", "bench"]
            on_file = dbfile if what != "postgresql" else None
            walls[what].append(run_once(what, cmd, args.events, on_file))
            if what == "postgresql":
                fresh_pg(args.pg, create=False)
            if not args.keep:
                for f in work.iterdir():
                    f.unlink()
                work.rmdir()
    mid = {what: statistics.median(w) for what, w in walls.items()}
    print(
        f"median of {args.repeat}: import {mid['import']:.1f}s "
        f"({args.events / mid['import']:,.0f} events/s), baseline {mid['baseline']:.1f}s "
        f"({args.events / mid['baseline']:,.0f} events/s); "
        f"import/baseline {mid['import'] / mid['baseline']:.2f}"
        + (
            f"; PostgreSQL {mid['postgresql']:.1f}s "
            f"({args.events / mid['postgresql']:,.0f} events/s)"
            if args.pg
            else ""
        )
    )
    return 0


PG_BENCH_DB = "docktally_import_bench"


def fresh_pg(server_url: str, create: bool = True) -> str:
    """The URL of an empty database PG_BENCH_DB on the server of `server_url` (dropped first;
    with create=False only dropped)."""
    from sqlalchemy import create_engine, text

    from docktally.store.db import resolve_db_url

    admin = create_engine(resolve_db_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}"'))
        if create:
            conn.execute(text(f'CREATE DATABASE "{PG_BENCH_DB}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"


def run_once(what: str, cmd: list[str], events: int, dbfile: Path | None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(
        f"{what:>8}: {events:,} events in {wall:.1f}s, {events / wall:,.0f} events/s end to end; "
        f"CPU {cpu:.1f}s ({events / cpu:,.0f} events per CPU-second); "
        f"peak RSS of the largest child so far {after.ru_maxrss / 1024:.0f} MiB; "
        + (f"database {dbfile.stat().st_size / 1e6:,.0f} MB " if dbfile is not None else "")
        + f"(load average {os.getloadavg()[0]:.1f})"
    )
    return wall


if __name__ == "__main__":
    sys.exit(main())
