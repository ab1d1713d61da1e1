"""`docktally policies`: compare restart policies, observed and replayed."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.analytics.failures import find_failures
from docktally.analytics.incidents import DEFAULT_STABLE_S
from docktally.analytics.intervals import build_intervals
from docktally.analytics.policies import DEFAULT_RETRIES, compare_policies
from docktally.analytics.select import without_lab
from docktally.cli.common import (
    add_db,
    add_duration,
    add_include_lab,
    add_window,
    now_ns,
    open_reader,
    window_from_args,
    write_output,
)
from docktally.errors import UsageError
from docktally.reports.policies import render_policies
from docktally.store import reads
from docktally.timespec import NS_PER_S


def add_replay_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help=f"N of the what-if on-failure:N (default: {DEFAULT_RETRIES})",
    )
    add_duration(
        p,
        "--manual-mttr",
        help="how long people take to restart a container by hand (default: measured from "
        "history, die -> start of the failures the engine did not restart)",
        allow_zero=True,
    )
    add_duration(
        p,
        "--stable",
        default=f"{DEFAULT_STABLE_S:g}s",
        help="up this long between failures ends an incident / crash loop",
        allow_zero=True,
    )


def replay_args(args: argparse.Namespace) -> dict[str, Any]:
    if args.retries < 0:
        raise UsageError("--retries must be 0 (unlimited) or more")
    manual_ns = args.manual_mttr_ns
    return {
        "retries": args.retries,
        "manual_mttr_s": None if manual_ns is None else manual_ns / NS_PER_S,
        "stable_s": args.stable_ns / NS_PER_S,
    }


def run(args: argparse.Namespace) -> int:
    opts = replay_args(args)
    window = window_from_args(args, now_ns())
    with open_reader(args) as reader:
        history = reads.load_history(reader, window.start_ns, window.end_ns)
    if not args.include_lab:
        history = without_lab(history)
    result = compare_policies(
        find_failures(history, window),
        build_intervals(history, window),
        history.facts,
        window,
        **opts,
    )
    write_output(render_policies(result, args.format), args.out)
    return 0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "policies",
        help="compare restart policies",
        description=(
            "Compare restart policies: what was observed under each policy in effect "
            "(failures, share recovered without a person, MTTR, availability, crash loops, "
            "time in back-off), and a what-if replay of the observed failures under every "
            "policy with the engine's own restart rules. The output states its assumptions."
        ),
    )
    add_db(p)
    add_window(p)
    add_replay_options(p)
    add_include_lab(p)
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=run)
