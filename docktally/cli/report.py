"""`docktally report`: uptime report: availability, MTBF, MTTR, error budgets.

Parses arguments, loads the window's history, calls analytics, renders: nothing else.
"""

from __future__ import annotations

import argparse
import gc
from typing import TYPE_CHECKING, Any

# Only what parsing and the early read need: pandas, SQLAlchemy, analytics and the renderers
# are imported in run(), while the database is being read.
from docktally.analytics import chi2
from docktally.analytics.options import BURN_WINDOWS_NS, EVERY, check_every, check_slo
from docktally.cli import quantile_helper
from docktally.cli.common import (
    add_by,
    add_db,
    add_format,
    add_window,
    check_by,
    now_ns,
    open_db,
    window_ns_from_args,
    write_output,
)
from docktally.errors import DocktallyError, UsageError
from docktally.store import window_reader

if TYPE_CHECKING:
    from docktally.analytics.model import History

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
        "(with a 90% confidence interval), MTTR, exit codes, OOM kills; error budgets and "
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
    by = check_by(args.by)
    slo = parse_slo(args.slo)
    every = check_every(args.every)
    start_ns, end_ns = window_ns_from_args(args, now_ns())
    load_start = start_ns
    if slo is not None:  # burn rates look back 3 days from the window's end
        load_start = min(load_start, end_ns - BURN_WINDOWS_NS["3d"])
    hosts = [args.host] if args.host else None
    # scipy.special (the MTBF interval's quantiles, ~0.25 s to import) goes to a helper
    # process, told to import once this one has imported the rest (the readers are then done
    # with the other core). Forked first, while this process is small: pages shared with a
    # child are copied when this process writes them, for as long as the child lives.
    quantiles = quantile_helper.Helper.start()
    # The events are read in forked children from here on, while this process imports pandas,
    # analytics and the renderers (~1 s): on a SQLite file at head, SQLAlchemy is never needed.
    early = window_reader.start_early(args.db, load_start, end_ns, hosts)
    try:
        from docktally.analytics.model import Window
        from docktally.analytics.report import build_report
        from docktally.analytics.select import filter_history
        from docktally.reports.render import render_report
        from docktally.store import frames

        if quantiles is not None:
            quantiles.go()
        if early is not None:
            history = frames.history(early.fetch, early.read, load_start, end_ns, hosts)
            early.close()
        else:
            history = _load(args, load_start, end_ns, hosts)
        history = filter_history(
            history, host=args.host, container=args.container, service=args.service
        )
        if history.events.empty:
            _say_which_filter_matched_nothing(args, start_ns, end_ns)
        if every is None and args.format == "html":
            every = "day"  # the HTML report always draws availability per day
        with chi2.computed_by(quantiles):
            report = build_report(history, Window(start_ns, end_ns), by=by, slo=slo, every=every)
    finally:
        if early is not None:
            early.close()  # on the way out of an error: the readers first, then the helper
        if quantiles is not None:
            quantiles.close()
    write_output(render_report(report, args.format), args.out)
    return 0


def _say_which_filter_matched_nothing(args: argparse.Namespace, start_ns: int, end_ns: int) -> None:
    """Without a filter, an empty report says the window holds no events; with one, the filter
    is what matched nothing, and a typo in a name must not read as an empty database."""
    from docktally.timespec import ns_to_iso

    given = [
        f"--{name} {value!r}"
        for name in ("host", "container", "service")
        if (value := getattr(args, name))
    ]
    if given:
        raise DocktallyError(
            f"{' '.join(given)} matches no container with events in "
            f"{ns_to_iso(start_ns)} .. {ns_to_iso(end_ns)} (see `docktally events`)"
        )


def _load(args: argparse.Namespace, start_ns: int, end_ns: int, hosts: list[str] | None) -> History:
    """Through store.db: a database to create or migrate first, PostgreSQL, a URL only
    SQLAlchemy reads."""
    from docktally.store import reads

    engine = open_db(args, readonly=True)
    try:
        with engine.connect() as conn:
            return reads.load_history(conn, start_ns, end_ns, hosts)
    finally:
        engine.dispose()
