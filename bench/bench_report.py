"""Time `docktally report --format json` end to end on generated events, beside a minimal pandas
pass over the same SQLite file in the same run.

    .venv/bin/python bench/bench_report.py [--events 1000000] [--containers 10000] [--days 30]
                                           [--db PATH] [--repeat 3] [--profile] [--pg URL]

The database is built once (bench/generate.py --db: the generator's deterministic lines loaded
with `docktally import`) and cached in the temp folder, or taken from --db. Then, `--repeat`
times each:

- report: `docktally report --db DB --since START --until END --format json --out FILE` as a
  subprocess, as a user runs it: wall time and peak RSS (os.wait4's ru_maxrss);
- baseline: what a pandas user would write for fleet availability, in a subprocess too
  (`python bench/bench_report.py --baseline DB START END`): `pd.read_sql_query` of the
  window's lifecycle events (container, time, kind, health, exit code) over sqlite3, then
  per-container groupby passes: sort, state after each event (up after start/unpause/
  healthy; planned after stop/pause and after a die that follows a kill or exits 0; down
  after any other die or unhealthy; else carried), sum durations. No coverage, facts, grace
  periods, health-check recovery, causes, MTBF/MTTR or grouping;
- with --pg URL, the same report on PostgreSQL (the SQLite file's rows copied there once).

The ratio report/baseline says what the full analytics costs over the bare minimum. With
--profile, the report's phases are timed in-process and a cProfile of build_report printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.installed import byte_compile

NS = 1_000_000_000
START_NS = 1_767_225_600 * NS  # bench/generate.py's default start, 2026-01-01T00:00:00Z
LIFECYCLE = (
    "create", "start", "restart", "die", "kill", "stop", "oom", "pause", "unpause", "destroy",
    "health_status", "rename", "update",
)  # fmt: skip


def iso(ns: int) -> str:
    from docktally.timespec import ns_to_iso

    return ns_to_iso(ns)


def build_db(events: int, containers: int, days: float) -> Path:
    tmp = Path(tempfile.gettempdir())
    # v2: schema 0002 with events.packed (older files lack the column)
    db = tmp / f"docktally-report-bench2-{events}-{containers}-{days:g}.db"
    if db.exists():
        return db
    src = tmp / f"docktally-report-bench-{events}-{containers}-{days:g}.jsonl"
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, str(Path(__file__).with_name("generate.py")), str(src),
         "--events", str(events), "--containers", str(containers), "--days", str(days),
         "--db", str(db), "--host", "bench"],
        check=True,
    )  # fmt: skip
    src.unlink(missing_ok=True)
    print(f"built {db} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    return db


PATTERN = [
    ("start", None), ("die", 1), ("start", None), ("kill", None), ("die", 143), ("stop", None),
    ("start", None), ("oom", None), ("die", 137), ("start", None), ("pause", None),
    ("unpause", None), ("die", 0),
]  # fmt: skip


def build_synthetic_db(events: int, containers: int, days: float) -> Path:
    """A minimal generator for sizes bench/generate.py cannot hold in memory (it builds every
    line before merging them): lifecycle rows straight into SQLite, `raw` left empty, each
    container cycling through PATTERN at sorted random times, one import-coverage row."""
    import sqlite3

    import numpy as np

    from docktally.store import db as store_db

    tmp = Path(tempfile.gettempdir())
    path = tmp / f"docktally-report-synth3-{events}-{containers}-{days:g}.db"
    if path.exists():
        return path
    store_db.connect(str(path)).dispose()  # migrated schema
    rng = np.random.default_rng(1)
    span = int(days * 86400 * NS)
    per = events // containers
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    # Schema 0002 still has events.packed (NOT NULL, read by nobody now): -1 there.
    has_packed = any(r[1] == "packed" for r in con.execute("PRAGMA table_info(events)"))
    sql = (
        "INSERT INTO events (container_ref, time_ns, action, kind, exit_code, inferred, source"
        f"{', packed' if has_packed else ''}) VALUES (?, ?, ?, ?, ?, 0, 'bench'"
        f"{', -1' if has_packed else ''})"
    )
    t = time.perf_counter()
    for c in range(containers):
        con.execute(
            "INSERT INTO containers (ref, host, container_id, name, image) "
            "VALUES (?, 'bench', ?, ?, 'app:1')",
            (c + 1, f"{c:064x}", f"c{c}"),
        )
        times = np.sort(rng.integers(START_NS, START_NS + span, size=per))
        rows = []
        for i, tn in enumerate(times.tolist()):
            kind, code = PATTERN[i % len(PATTERN)]
            rows.append((c + 1, tn, kind, kind, code))
        con.executemany(sql, rows)
        if c % 1000 == 999:
            con.commit()
            print(f"  {c + 1:,} containers in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    con.execute(
        "INSERT INTO coverage (host, source, start_ns, end_ns, heartbeat_ns) "
        "VALUES ('bench', 'import', ?, ?, ?)",
        (START_NS, START_NS + span, START_NS + span),
    )
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return path


MEM_LIMIT_BYTES = 8 << 30  # address-space cap per subprocess: a shared machine must survive


def _limit() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEM_LIMIT_BYTES, MEM_LIMIT_BYTES))


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of a subprocess."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limit)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, usage.ru_maxrss / 1024, out.decode()


def baseline(db: str, start_ns: int, end_ns: int) -> float:
    """Fleet availability the minimal way; prints it and returns it."""
    import sqlite3

    import numpy as np
    import pandas as pd

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    marks = ",".join("?" * len(LIFECYCLE))
    df = pd.read_sql_query(
        f"SELECT container_ref AS container_id, time_ns, kind, health, exit_code FROM events "
        f"WHERE kind IN ({marks}) AND time_ns < ?",
        con,
        params=[*LIFECYCLE, end_ns],
    )
    df = df.sort_values(["container_id", "time_ns"], kind="stable")
    kind = df["kind"]
    prev = kind.groupby(df["container_id"]).shift(1)
    gap = df["time_ns"] - df.groupby("container_id")["time_ns"].shift(1)
    up = kind.isin(["start", "restart", "unpause"]) | (df["health"] == "healthy")
    # A die within the default stop grace (10 s + 5 s slack) of a kill was asked for.
    asked = (kind == "die") & (((prev == "kill") & (gap <= 15 * NS)) | (df["exit_code"] == 0))
    down = ((kind == "die") & ~asked) | (df["health"] == "unhealthy")
    planned = asked | kind.isin(["stop", "pause", "destroy", "create"])
    code = np.where(up, 1.0, np.where(down, 0.0, np.where(planned, 2.0, np.nan)))
    state = pd.Series(code, index=df.index).groupby(df["container_id"]).ffill()
    t = df["time_ns"].clip(lower=start_ns)
    nxt = df.groupby("container_id")["time_ns"].shift(-1).fillna(end_ns).clip(upper=end_ns)
    dur = (nxt - t).clip(lower=0)
    avail = float((dur * (state == 1)).sum() / (dur * state.isin([0.0, 1.0])).sum())
    print(json.dumps({"availability": avail}))
    return avail


def profile(db: str, start_ns: int, end_ns: int) -> None:
    """The report's phases in this process, in the order `docktally report` runs them: the
    imports, opening the store, the history, build_report, render_json; then a cProfile of
    build_report."""
    import cProfile
    import pstats

    t0 = time.perf_counter()
    from docktally.analytics.model import Window
    from docktally.analytics.report import build_report
    from docktally.reports.jsonout import render_json
    from docktally.store import db as store_db
    from docktally.store import reads

    t1 = time.perf_counter()
    reader = store_db.open_reader(store_db.connect(db, readonly=True))
    t2 = time.perf_counter()
    with reader:
        history = reads.load_history(reader, start_ns, end_ns)
    t3 = time.perf_counter()
    prof = cProfile.Profile()
    prof.enable()
    report = build_report(history, Window(start_ns, end_ns))
    prof.disable()
    t4 = time.perf_counter()
    text = render_json(report)
    t5 = time.perf_counter()
    print(
        f"phases: imports {t1 - t0:.2f}s, open {t2 - t1:.2f}s, history {t3 - t2:.2f}s "
        f"({len(history.events):,} lifecycle events), build_report {t4 - t3:.2f}s (under "
        f"cProfile), render_json {t5 - t4:.2f}s ({len(text) / 1e6:.1f} MB)"
    )
    pstats.Stats(prof).sort_stats("cumulative").print_stats(12)


def copy_to_postgres(db: Path, url: str) -> None:
    """The SQLite file's containers, events, coverage, facts and maintenance copied into the
    PostgreSQL database `url` (created at head by store.db.connect), unless it already holds
    as many events: the same rows on both backends, through ADBC's bulk ingest (COPY)."""
    import adbc_driver_postgresql.dbapi
    import adbc_driver_sqlite.dbapi

    from docktally.store import db as store_db

    engine = store_db.connect(url)
    pg_url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    engine.dispose()
    tables = ["containers", "events", "coverage", "container_facts", "maintenance"]
    with adbc_driver_sqlite.dbapi.connect(f"file:{db}?mode=ro") as src, \
            adbc_driver_postgresql.dbapi.connect(pg_url) as dst:  # fmt: skip
        with src.cursor() as s, dst.cursor() as d:
            s.execute("SELECT count(*) FROM events")
            want = s.fetchone()[0]
            d.execute("SELECT count(*) FROM events")
            if d.fetchone()[0] == want:
                return
            t = time.perf_counter()
            for name in reversed(tables):
                d.execute(f"DELETE FROM {name}")
            for name in tables:
                d.execute(f"SELECT * FROM {name} LIMIT 0")
                cols = [c[0] for c in d.description]
                if name == "events":  # the raw JSON is not read by the report
                    cols = [c for c in cols if c not in ("raw_chunk", "raw_line", "evidence")]
                s.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "100000"})
                s.execute(f"SELECT {', '.join(cols)} FROM {name}")
                table = s.fetch_arrow_table()
                d.execute(f"SELECT {', '.join(cols)} FROM {name} LIMIT 0")
                table = table.cast(d.fetch_arrow_table().schema)  # SQLite's ints -> PG types
                d.adbc_ingest(name, table, mode="append")
            d.execute("ANALYZE")
        dst.commit()
    print(f"copied {want:,} events into {url} in {time.perf_counter() - t:.0f}s", file=sys.stderr)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--containers", type=int, default=10_000)
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--db", help="an existing database built by bench/generate.py --db")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--synthetic", action="store_true", help="build the DB with the minimal generator here"
    )
    p.add_argument("--profile", action="store_true")
    p.add_argument(
        "--pg",
        metavar="URL",
        help="also time the same report on this PostgreSQL database (filled from the SQLite "
        "file once)",
    )
    p.add_argument(
        "--no-baseline",
        action="store_true",
        help="time the report only (the baseline at 10M takes minutes and 5 GB)",
    )
    p.add_argument(
        "--baseline", nargs=3, metavar=("DB", "START_NS", "END_NS"), help=argparse.SUPPRESS
    )
    args = p.parse_args()
    byte_compile()  # as `pip install` leaves docktally (bench/installed.py)
    if args.baseline:
        baseline(args.baseline[0], int(args.baseline[1]), int(args.baseline[2]))
        return 0
    if args.db:
        db = Path(args.db)
    elif args.synthetic:
        db = build_synthetic_db(args.events, args.containers, args.days)
    else:
        db = build_db(args.events, args.containers, args.days)
    start, end = START_NS, START_NS + int(args.days * 86400 * NS)
    exe = str(Path(sys.executable).with_name("docktally"))
    out = Path(tempfile.mkdtemp(prefix="docktally-report-bench-")) / "report.json"
    report_cmd = [exe, "report", "--db", str(db), "--since", iso(start), "--until", iso(end),
                  "--format", "json", "--out", str(out)]  # fmt: skip
    base_cmd = [sys.executable, __file__, "--baseline", str(db), str(start), str(end)]
    pg_cmd = None
    if args.pg:
        copy_to_postgres(db, args.pg)
        pg_cmd = [*report_cmd[:3], args.pg, *report_cmd[4:-1], f"{out}.pg"]
    rows, pg_rows = [], []
    for _ in range(args.repeat):
        if pg_cmd:
            p_wall, p_rss, _ = timed(pg_cmd)
            pg_rows.append((p_wall, p_rss))
            print(f"report on PostgreSQL {p_wall:.2f}s ({p_rss:.0f} MB)", file=sys.stderr)
        r_wall, r_rss, _ = timed(report_cmd)
        if args.no_baseline:
            rows.append((r_wall, r_rss, float("nan"), float("nan")))
            print(f"report {r_wall:.2f}s ({r_rss:.0f} MB)", file=sys.stderr)
            continue
        b_wall, b_rss, b_out = timed(base_cmd)
        rows.append((r_wall, r_rss, b_wall, b_rss))
        print(f"report {r_wall:.2f}s ({r_rss:.0f} MB)  baseline {b_wall:.2f}s ({b_rss:.0f} MB)  "
              f"ratio {r_wall / b_wall:.2f}", file=sys.stderr)  # fmt: skip
    doc = json.loads(out.read_text())
    fleet = doc["fleet"]
    med = [statistics.median(c) for c in zip(*rows, strict=True)]
    load = os.getloadavg()
    print(json.dumps({
        "events": args.events, "containers": args.containers, "days": args.days, "db": str(db),
        "report_s": round(med[0], 2), "report_peak_rss_mb": round(max(r[1] for r in rows)),
        "baseline_s": None if args.no_baseline else round(med[2], 2),
        "ratio": None if args.no_baseline else round(med[0] / med[2], 2),
        "groups": len(doc["groups"]), "fleet_availability": fleet["availability"],
        "postgresql_s": round(statistics.median(r[0] for r in pg_rows), 2) if pg_rows else None,
        "postgresql_peak_rss_mb": round(max(r[1] for r in pg_rows)) if pg_rows else None,
        "postgresql_over_sqlite": (
            round(statistics.median(r[0] for r in pg_rows) / med[0], 2) if pg_rows else None
        ),
        "postgresql_same_output": (
            Path(f"{out}.pg").read_bytes() == out.read_bytes() if pg_rows else None
        ),
        "baseline_availability": None if args.no_baseline else json.loads(b_out)["availability"],
        "load_average": [round(x, 1) for x in load],
    }, indent=2))  # fmt: skip
    if args.profile:
        profile(str(db), start, end)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
