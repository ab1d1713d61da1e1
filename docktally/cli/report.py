"""`docktally report`: uptime report: availability, MTBF, MTTR, error budgets.

Parses arguments, loads the window's history, calls analytics, renders: nothing else.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import threading
from typing import Any

from docktally.analytics.periods import EVERY
from docktally.analytics.report import BURN_WINDOWS_NS, build_report, check_slo
from docktally.analytics.select import filter_history
from docktally.cli.common import (
    add_by,
    add_db,
    add_format,
    add_window,
    check_by,
    now_ns,
    open_db,
    window_from_args,
    write_output,
)
from docktally.errors import UsageError
from docktally.reports.render import render_report
from docktally.store import reads

EPILOG = """examples:
  docktally report --since 7d
  docktally report --by service --slo 99.9 --format json
  docktally report --since 30d --every day --format html --out uptime.html
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        help="uptime report: availability, MTBF, MTTR",
        description="Uptime report per container, service, image, host or restart policy: "
        "uptime, downtime, planned and unknown time, availability, failures, restarts, MTBF "
        "(with a 90%% confidence interval), MTTR, exit codes, OOM kills; error budgets and "
        "burn rates with --slo; calendar breakdowns with --every.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db(p)
    add_window(p, default_since="7d")
    add_by(p)
    add_format(p)
    p.add_argument("--every", help=f"break down per calendar {'|'.join(EVERY)} (UTC)")
    p.add_argument("--slo", help="availability target in percent, e.g. 99.9 (0 < SLO < 100)")
    p.add_argument("--host", help="only containers on this host")
    p.add_argument("--container", help="only this container (name or id prefix)")
    p.add_argument("--service", help="only this service (project/service or name)")
    p.set_defaults(func=run)


def parse_slo(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().rstrip("%"))
    except ValueError:
        raise UsageError(f"--slo: {text!r} is not a number (use e.g. 99.9)") from None
    return check_slo(value)


def run(args: argparse.Namespace) -> int:
    # A short-lived command that builds thousands of small dicts (one per group): the cyclic GC
    # would walk every live object each time they pile up (~0.1 s a pass on 1M events), and
    # nothing here makes cycles worth collecting.
    gc.disable()
    # scipy.special (the MTBF interval's chi-squared quantiles) takes ~0.3-0.6 s to import:
    # import it on the side while the database is read, which waits on SQLite, not Python.
    threading.Thread(target=importlib.import_module, args=("scipy.special",), daemon=True).start()
    by = check_by(args.by)
    slo = parse_slo(args.slo)
    if args.every is not None and args.every not in EVERY:
        raise UsageError(f"--every: {args.every!r} is not one of {', '.join(EVERY)}")
    window = window_from_args(args, now_ns())
    load_start = window.start_ns
    if slo is not None:  # burn rates look back 3 days from the window's end
        load_start = min(load_start, window.end_ns - BURN_WINDOWS_NS["3d"])
    engine = open_db(args, readonly=True)
    try:
        with engine.connect() as conn:
            hosts = [args.host] if args.host else None
            history = reads.load_history(conn, load_start, window.end_ns, hosts)
    finally:
        engine.dispose()
    history = filter_history(
        history, host=args.host, container=args.container, service=args.service
    )
    every = args.every
    if every is None and args.format == "html":
        every = "day"  # the HTML report always draws availability per day
    report = build_report(history, window, by=by, slo=slo, every=every)
    write_output(render_report(report, args.format), args.out)
    return 0
