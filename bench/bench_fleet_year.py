"""A year of a fleet on PostgreSQL: generate hosts x containers x days of events (crash loops,
OOMs, engine restarts, maintenance: bench/generate.py --hosts), import them, build the day
summaries, then time the year's reports and the dashboard's Fleet overview.

    .venv/bin/python bench/bench_fleet_year.py [--hosts 200] [--containers 50] [--days 365]
        [--events 20000000] [--pg postgresql://docktally:docktally@127.0.0.1:5432/postgres]
        [--dir DIR] [--db URL] [--keep] [--year-baseline]

A database of its own is created on the --pg server and dropped at the end (unless --keep);
with --db, an existing one built by an earlier run is measured instead (no generation). The
files are generated into DIR (default a temp folder) and imported host by host while the next
ones are written.

Measured, each in a subprocess as a user runs it (wall time and peak RSS by os.wait4):

- `docktally db summarize` (every day of the year);
- `docktally report --format json` over the year `--by host`, `--by service` and `--every
  month`, from the summaries (the default);
- the dashboard's Fleet overview over the year (dashboard.data.fleet_overview, as the page
  loads it on a cold cache);
- baselines, the event-level path (`report --no-summaries`, the overview from the events):
  over the last 30 days, and with --year-baseline over the year too (many GB at full scale);
  the summaries' figures over the same 30 days beside them.

The load average is printed with the figures: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.generate import DEFAULT_START, store_fleet

ROOT = Path(__file__).resolve().parent.parent
NS = 1_000_000_000
DAY_NS = 86_400 * NS
MEM_LIMIT_BYTES = 8 << 30  # address-space cap per subprocess: a shared machine must survive
DEFAULT_PG = "postgresql://docktally:docktally@127.0.0.1:5432/postgres"
CASES = (["--by", "host"], ["--by", "service"], ["--every", "month"])
# The dashboard's Fleet overview on a cold cache, as its page loads it.
_FLEET_CHILD = """
import json, sys, time
t = time.perf_counter()
from docktally.analytics.model import Window
from docktally.dashboard import data
view = data.View(sys.argv[1], Window(int(sys.argv[2]), int(sys.argv[3])))
if sys.argv[4] == "events":
    f = data.fleet_overview_of(data.history(view), view.window)
else:
    f = data.fleet_overview(view)
print(json.dumps({"hosts": len(f.hosts), "services": len(f.services),
                  "seconds": time.perf_counter() - t}))
"""


def _limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT_BYTES, MEM_LIMIT_BYTES))


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of a subprocess; (nan, nan, the end of its
    stderr) when it fails (say, over the memory cap)."""
    t = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, preexec_fn=_limit, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out.seek(0)
        err.seek(0)
        if code:
            return float("nan"), float("nan"), err.read().decode()[-300:]
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def with_db(url: str, name: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def build(args: argparse.Namespace, db: str, out: Path) -> None:
    """Generate into `out` in a subprocess while importing each finished host's file."""
    t0 = time.perf_counter()
    gen = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "generate.py"), str(out), "--hosts",
         str(args.hosts), "--containers", str(args.containers), "--days", str(args.days),
         "--events", str(args.events)],
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    width = len(str(args.hosts))
    imported = 0
    import_s = 0.0
    for h in range(1, args.hosts + 1):
        name = f"host-{h:0{width}d}"
        path = out / f"{name}.jsonl"
        while not path.exists():
            if gen.poll() not in (None, 0):
                raise SystemExit("generate.py failed")
            time.sleep(1)
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "docktally", "import", str(path), "--db", db, "--host", name],
            check=True,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stderr=subprocess.DEVNULL,
        )
        import_s += time.perf_counter() - t
        with open(path, "rb") as fh:
            imported += sum(1 for _ in fh)
        path.unlink()
    if gen.wait():
        raise SystemExit("generate.py failed")
    store_fleet(out, db)
    print(
        f"generated and imported {imported:,} events in {time.perf_counter() - t0:.0f} s "
        f"(imports {import_s:.0f} s, {imported / import_s:,.0f} events/s; load {load()})",
        flush=True,
    )


def iso(ns: int) -> str:
    from docktally.timespec import ns_to_iso

    return ns_to_iso(ns)


def report(db: str, start: int, end: int, case: list[str], summaries: bool) -> str:
    wall, rss, out = timed(
        [sys.executable, "-m", "docktally", "report", "--db", db, "--since", iso(start),
         "--until", iso(end), "--format", "json", *case,
         *([] if summaries else ["--no-summaries"])],
    )  # fmt: skip
    rows = len(json.loads(out)["groups"]) if wall == wall else 0
    return f"{wall:6.1f} s {rss:6.0f} MB ({rows} groups)" if wall == wall else f"failed: {out}"


def fleet(db: str, start: int, end: int, how: str) -> str:
    wall, rss, out = timed([sys.executable, "-c", _FLEET_CHILD, db, str(start), str(end), how])
    if wall != wall:
        return f"failed: {out}"
    doc = json.loads(out.strip().splitlines()[-1])
    return (
        f"{doc['seconds']:6.1f} s {rss:6.0f} MB ({doc['hosts']} hosts, {doc['services']} "
        f"services; {wall:.1f} s with the imports)"
    )


def measure(args: argparse.Namespace, db: str) -> None:
    from docktally.timespec import parse_rfc3339_ns

    start = parse_rfc3339_ns(DEFAULT_START)
    assert start is not None
    # The year as far as its days are complete (a generated year may end after today: the
    # days not built yet would be read from the events).
    end = min(start + int(args.days * DAY_NS), (time.time_ns() - 3600 * NS) // DAY_NS * DAY_NS)
    month = end - 30 * DAY_NS
    if not args.no_summarize:
        wall, rss, out = timed([sys.executable, "-m", "docktally", "db", "summarize", "--db", db])
        print(f"db summarize: {wall:.0f} s, {rss:.0f} MB: {out.strip()[:60]} (load {load()})")
    print(f"window {iso(start)} .. {iso(end)}")
    for case in CASES:
        what = " ".join(case)
        print(f"report {what:13} year, summaries: {report(db, start, end, case, True)}"
              f" (load {load()})", flush=True)  # fmt: skip
        if args.year_baseline:
            print(f"report {what:13} year, events:    {report(db, start, end, case, False)}"
                  f" (load {load()})", flush=True)  # fmt: skip
        print(f"report {what:13} 30 d, summaries: {report(db, month, end, case, True)}",
              flush=True)  # fmt: skip
        print(f"report {what:13} 30 d, events:    {report(db, month, end, case, False)}"
              f" (load {load()})", flush=True)  # fmt: skip
    print(f"fleet overview year, summaries: {fleet(db, start, end, 'summaries')} (load {load()})")
    if args.year_baseline:
        print(f"fleet overview year, events:    {fleet(db, start, end, 'events')}")
    print(f"fleet overview 30 d, summaries: {fleet(db, month, end, 'summaries')}")
    print(f"fleet overview 30 d, events:    {fleet(db, month, end, 'events')} (load {load()})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hosts", type=int, default=200)
    p.add_argument("--containers", type=int, default=50, help="per host")
    p.add_argument("--days", type=float, default=365)
    p.add_argument("--events", type=int, default=20_000_000)
    p.add_argument("--pg", default=DEFAULT_PG, help="a PostgreSQL server's URL (any database)")
    p.add_argument("--dir", type=Path, help="where the files are generated (default: a temp dir)")
    p.add_argument("--db", help="measure this database (built by an earlier run) instead")
    p.add_argument("--keep", action="store_true", help="keep the database it creates")
    p.add_argument("--year-baseline", action="store_true", help="event-level over the year too")
    p.add_argument("--no-summarize", action="store_true", help="with --db: already summarized")
    args = p.parse_args(argv)
    print(f"{args.hosts} hosts x {args.containers} containers x {args.days:g} days, "
          f"{args.events:,} events; load {load()}", flush=True)  # fmt: skip
    if args.db:
        measure(args, args.db)
        return 0
    name = f"docktally_fleet_year_{os.getpid()}"
    admin(args.pg, f"CREATE DATABASE {name}")
    db = with_db(args.pg, name)
    try:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            build(args, db, Path(tmp))
        measure(args, db)
    finally:
        if not args.keep:
            admin(args.pg, f"DROP DATABASE {name} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
