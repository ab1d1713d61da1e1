"""`docktally report`: uptime report: availability, MTBF, MTTR, error budgets.

Parses arguments, loads the window's history, calls analytics, renders: nothing else.
"""

from __future__ import annotations

import argparse
from typing import Any

from docktally.analytics.options import BURN_WINDOWS_NS, EVERY, check_every, check_slo
from docktally.cli.common import (
    add_by,
    add_db,
    add_format,
    add_include_lab,
    add_window,
    check_by,
    now_ns,
    open_reader,
    window_ns_from_args,
    write_output,
)
from docktally.errors import DocktallyError, UsageError

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
    add_include_lab(p)
    p.add_argument(
        "--summaries",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="read the whole days the store has summarized from their summaries, the rest from "
        "the events (default; the same numbers: see docs/cli.md); --no-summaries reads every "
        "event",
    )
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
    from docktally.analytics.model import Window
    from docktally.analytics.report import build_report
    from docktally.analytics.select import filter_history, without_lab
    from docktally.reports.render import render_report
    from docktally.store import reads

    by = check_by(args.by)
    slo = parse_slo(args.slo)
    every = check_every(args.every)
    start_ns, end_ns = window_ns_from_args(args, now_ns())
    load_start = start_ns
    if slo is not None:  # burn rates look back 3 days from the window's end
        load_start = min(load_start, end_ns - BURN_WINDOWS_NS["3d"])
    hosts = [args.host] if args.host else None
    if every is None and args.format == "html":
        # The HTML report always draws availability over time, per the period that fits
        # the window (per hour on a short one, not one bar for a day).
        from docktally.analytics.trends import every_for

        every = every_for(Window(start_ns, end_ns))
    with open_reader(args) as reader:
        if _summaries_serve(args, by, slo, every):
            report = _from_summaries(reader, args, Window(start_ns, end_ns), by, every)
            if report is not None:
                write_output(render_report(report, args.format), args.out)
                return 0
        history = reads.load_history(reader, load_start, end_ns, hosts)
    history = filter_history(
        history, host=args.host, container=args.container, service=args.service
    )
    if not args.include_lab:
        history = without_lab(history)
    if history.events.empty:
        _say_which_filter_matched_nothing(args, start_ns, end_ns)
    report = build_report(history, Window(start_ns, end_ns), by=by, slo=slo, every=every)
    write_output(render_report(report, args.format), args.out)
    return 0


def _summaries_serve(
    args: argparse.Namespace, by: str, slo: float | None, every: str | None
) -> bool:
    """Whether the report's answers can come from the store's daily summaries (with the same
    numbers as from the events): see analytics.daily."""
    from docktally.analytics.daily import SERVED_BY, SERVED_EVERY

    return (
        args.summaries
        and by in SERVED_BY
        and every in SERVED_EVERY
        and slo is None
        and not args.include_lab
        and not args.container
        and not args.service
    )


def _from_summaries(
    reader: Any, args: argparse.Namespace, window: Any, by: str, every: str | None
) -> Any:
    """The report from the daily summaries and the events of the days they lack; None when no
    built day lies inside the window, or the parts do not serve `by` (analytics.daily.serves):
    the caller reads the events."""
    from docktally.analytics.daily import REPORT_DETAILS, report_from_parts, serves
    from docktally.analytics.periods import calendar_periods
    from docktally.store import summaries

    periods = calendar_periods(window, every) if every else []
    parts = summaries.report_parts(
        reader, window, periods, args.host, by, detail_parts=REPORT_DETAILS
    )
    if parts is None or not serves(parts, by):
        return None
    if parts.rows.empty:
        _say_which_filter_matched_nothing(args, window.start_ns, window.end_ns)
    return report_from_parts(parts, window, by=by, every=every)


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
