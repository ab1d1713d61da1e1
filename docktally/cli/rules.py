"""`docktally rules`: Prometheus recording rules and SLO burn-rate alerts over docktally's
metrics."""

from __future__ import annotations

import argparse
from typing import Any

from docktally.cli.common import write_output

EPILOG = """examples:
  docktally rules --slo 99.9 --out docktally-rules.yml
  docktally rules --slo 99.5 --by service
  docktally rules --slo 99.5 --by host,service
  promtool check rules docktally-rules.yml
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "rules",
        help="write Prometheus SLO rules for docktally's metrics",
        description="Write a Prometheus rule file: the error ratio (downtime over observed "
        "time) over 5m, 30m, 1h, 2h, 6h, 1d and 3d as recording rules, and the SRE "
        "workbook's multiwindow burn-rate alerts (1h/5m at 14.4x and 6h/30m at 6x page; "
        "1d/2h at 3x and 3d/6h at 1x open a ticket). See docs/metrics.md.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--slo", required=True, help="availability target in percent, e.g. 99.9")
    p.add_argument(
        "--by",
        default="container",
        help="container|service|host,service: per container, per service across hosts, or per "
        "service on each host (default: container)",
    )
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    # Tests run the alerts in seconds: every window divided by this.
    p.add_argument("--window-scale", type=float, default=1.0, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from docktally.analytics.options import check_by
    from docktally.cli.report import parse_slo
    from docktally.errors import UsageError
    from docktally.metrics.rules import SCOPES, render_rules

    by = check_by(args.by, tuple(SCOPES))
    if not args.window_scale > 0:
        raise UsageError("--window-scale must be positive")
    slo = parse_slo(args.slo)
    assert slo is not None
    write_output(render_rules(slo, by, args.window_scale), args.out)
    return 0
