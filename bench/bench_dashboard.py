"""The dashboard's Overview, first render, on the 1M-event database (target <= 3 s), and with
--pg on PostgreSQL beside it (target: within 1.5x of SQLite).

    .venv/bin/python -m bench.bench_dashboard [--db PATH] [--events 1000000] [--ranges 7d,30d]
                                             [--repeat 3] [--pg SERVER_URL [--keep-pg]]
                                             [--pg-db URL]

Without --db (or when the file does not exist yet) the data comes from bench/generate.py:
1,000,000 events of 10,000 containers over the 30 days that end now (the dashboard's ranges end
at now), imported with `docktally import`; the generated file is kept beside the database
(PATH with .jsonl) so that --pg imports the same events. With --pg, a database of its own
(docktally_dashboard_bench_PID) is created on that server, the file imported into it with
`docktally import`, and dropped at the end unless --keep-pg; --pg-db measures a database kept
so instead. The two stores are measured in turn, the order swapped each round, so the load of
a shared machine falls on both; the PostgreSQL server's time in statements (pg_stat_database's
active_time of that database, wall time in the backends) is printed beside the client's CPU.

Each measurement is a fresh Python process running Streamlit's AppTest on app.py: the first
render with every cache cold, as a user opening the dashboard sees it, then a second render in
the same process (caches warm, as on a rerun). The first render's CPU time (all threads of the
process) is printed beside its wall time: on a shared machine it says how much of a slow run
was waiting for a core. Streamlit's discovery of
installed components, which a server does once at startup and AppTest in its first run
(~0.3 s), is done before the clock starts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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


def ensure_db(path: Path, events: int, need_jsonl: bool) -> Path:
    """The SQLite database at `path`, generated and imported when missing; returns the
    generated events file kept beside it (PATH with .jsonl)."""
    jsonl = path.with_suffix(".jsonl")
    if path.exists():
        if need_jsonl and not jsonl.exists():
            raise SystemExit(
                f"{jsonl} is gone, so PostgreSQL cannot get the same events as {path}: "
                "remove the database (or give another --db) to generate both again"
            )
        return jsonl
    path.parent.mkdir(parents=True, exist_ok=True)
    start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
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
    print(f"generated and imported in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return jsonl


def with_db(server_url: str, name: str) -> str:
    p = urlsplit(server_url)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


def admin(server_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql)


def pg_import(url: str, jsonl: Path) -> None:
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "docktally", "import", str(jsonl), "--db", url, "--host", "bench"],
        check=True,
        cwd=ROOT,
    )
    admin(url, "VACUUM ANALYZE")  # as autovacuum does soon after an import
    print(f"imported into PostgreSQL in {time.perf_counter() - t0:.0f} s", file=sys.stderr)


def pg_active_ms(url: str) -> float:
    """The server's time in statements of the database of `url` so far (pg_stat_database:
    written when each backend ends; the dashboard's reads each end theirs)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT active_time FROM pg_stat_database WHERE datname = %s", (name,)
        ).fetchone()
    return float(row[0]) if row else float("nan")


def measure(url: str, rng: str) -> dict[str, float]:
    env = dict(os.environ, DOCKTALLY_DB=url)
    env.pop("DOCKTALLY_COLLECTOR_STATUS", None)
    app = ROOT / "docktally" / "dashboard" / "app.py"
    pg = url.startswith("postgres")
    before = pg_active_ms(url) if pg else 0.0
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
        raise SystemExit(f"the Overview of {url} showed no table: open it in a browser")
    if pg:
        time.sleep(0.6)  # the backends' stats reach pg_stat_database as they end
        result["server_s"] = (pg_active_ms(url) - before) / 1000
    return result


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def summary(name: str, runs: list[dict[str, float]]) -> str:
    firsts = [r["first_s"] for r in runs]
    text = (
        f"{name}: first render median {median(firsts):.2f} s (min {min(firsts):.2f}, max "
        f"{max(firsts):.2f}; CPU median {median([r['first_cpu_s'] for r in runs]):.2f} s"
    )
    if "server_s" in runs[0]:
        text += f", server in statements {median([r['server_s'] for r in runs]):.2f} s"
    return (
        text + f"); rerun median {median([r['rerun_s'] for r in runs]):.2f} s; "
        f"table rows {int(runs[0]['rows'])}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, default=DEFAULT_DB, help=f"(default {DEFAULT_DB})")
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--ranges", default="7d,30d", help="time ranges to render (default 7d,30d)")
    p.add_argument("--repeat", type=int, default=3, help="fresh processes per range (and store)")
    p.add_argument("--pg", metavar="SERVER_URL", help="also on a new database on this server")
    p.add_argument("--keep-pg", action="store_true", help="keep the --pg database at the end")
    p.add_argument("--pg-db", metavar="URL", help="also on this database (a kept --pg one)")
    args = p.parse_args(argv)
    byte_compile()  # as `pip install` leaves docktally (bench/installed.py)
    jsonl = ensure_db(args.db, args.events, need_jsonl=bool(args.pg))
    urls = {"SQLite": f"sqlite:///{args.db.resolve()}"}
    created = None
    if args.pg:
        created = f"docktally_dashboard_bench_{os.getpid()}"
        admin(args.pg, f"CREATE DATABASE {created}")
        urls["PostgreSQL"] = with_db(args.pg, created)
    elif args.pg_db:
        urls["PostgreSQL"] = args.pg_db
    try:
        if created:
            pg_import(urls["PostgreSQL"], jsonl)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", file=sys.stderr)
        for rng in args.ranges.split(","):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
            for i in range(args.repeat):
                order = list(urls) if i % 2 == 0 else list(reversed(urls))
                for name in order:
                    r = measure(urls[name], rng)
                    runs[name].append(r)
                    print(f"  {rng} {name}: first {r['first_s']:.2f} s, CPU "
                          f"{r['first_cpu_s']:.2f} s" + (f", server {r['server_s']:.2f} s"
                          if "server_s" in r else ""), file=sys.stderr)  # fmt: skip
            for name, rs in runs.items():
                print(f"range {rng}, {summary(name, rs)}")
            if len(urls) == 2:
                s_, p_ = runs["SQLite"], runs["PostgreSQL"]
                pairs = [b["first_s"] / a["first_s"] for a, b in zip(s_, p_, strict=True)]
                ratio = median([r["first_s"] for r in p_]) / median([r["first_s"] for r in s_])
                print(
                    f"range {rng}: PostgreSQL / SQLite {ratio:.2f} by median first render "
                    f"(per round {', '.join(f'{x:.2f}' for x in pairs)}); load average "
                    f"{os.getloadavg()[0]:.1f}"
                )
            else:
                print(f"range {rng}: load average {os.getloadavg()[0]:.1f}")
    finally:
        if created and not args.keep_pg:
            admin(args.pg, f"DROP DATABASE {created} WITH (FORCE)")
        elif created:
            print(f"kept {urls['PostgreSQL']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
