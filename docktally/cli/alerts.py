"""`docktally alerts`: send a test message to every target, list what was sent and what failed;
and the `--alerts FILE` / `--notify URL` options of `collect` and `up`."""

from __future__ import annotations

import argparse
import threading
import time
from typing import TYPE_CHECKING, Any

from docktally.cli.common import add_db, open_db, write_output
from docktally.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from docktally.alerts.rules import Config


def add_alert_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--alerts",
        metavar="FILE",
        help="alert rules and targets (TOML; see docs/alerts.md)",
    )
    p.add_argument(
        "--notify",
        metavar="URL",
        action="append",
        help="send alerts to this Apprise URL (ntfy://, slack://, json://, mailto://...); "
        "repeatable; without --alerts turns the default rules on",
    )


def config_from_args(args: argparse.Namespace) -> Config | None:
    """The alert config --alerts/--notify ask for, or None (alerts off)."""
    from docktally.alerts.rules import default_config, load_config, with_targets

    path = getattr(args, "alerts", None)
    urls = list(getattr(args, "notify", None) or [])
    if path is None and not urls:
        return None
    config = load_config(path) if path else default_config(urls)
    config = with_targets(config, urls)
    if not config.targets:
        raise UsageError(f"--alerts {path}: no targets: add notify = [URL, ...] or --notify URL")
    from docktally.alerts.delivery import targets

    targets(config.targets)  # an unknown URL scheme stops here, before anything starts
    return config


def start_alerts(
    store: Engine, config: Config | None, stop: threading.Event, log: Any = None
) -> list[threading.Thread]:
    """Start the alert threads beside a collector (none when alerts are off)."""
    if config is None:
        return []
    from docktally.alerts.service import AlertService

    service = AlertService(store, config, **({"log": log} if log else {}))
    return service.start(stop)


def _test(args: argparse.Namespace) -> int:
    from docktally.alerts import delivery
    from docktally.store import alerts as outbox

    config = config_from_args(args)
    if config is None:
        raise UsageError("give --alerts FILE or --notify URL: which targets to test")
    store = open_db(args)
    now = time.time_ns()
    failed = 0
    try:
        for t in delivery.targets(config.targets):
            title = "docktally test message"
            body = f"A test message from docktally to {t.label}: alerts reach this target."
            error = delivery.send(t.url, title, body, "info")
            row = {
                "dedupe_key": f"test/{now}",
                "target": t.id,
                "target_label": t.label,
                "alert_key": "test",
                "rule": "test",
                "kind": "test",
                "severity": "info",
                "subject": "test",
                "host": "-",
                "key": "-",
                "title": title,
                "body": body,
                "notify_type": "info",
                "created_ns": now,
            }
            with store.begin() as conn:
                outbox.record_delivered(conn, row, now_ns=time.time_ns(), error=error)
            print(f"{t.label}: {'sent' if error is None else 'FAILED: ' + error}")
            failed += error is not None
    finally:
        store.dispose()
    return 1 if failed else 0


def _list(args: argparse.Namespace) -> int:
    from docktally.reports.alerts import render_json, render_table
    from docktally.store import alerts as outbox
    from docktally.store import db

    store = open_db(args, readonly=True)
    try:
        with store.connect() as conn:
            rows = outbox.list_outbox(
                db.ConnectionReader(conn), limit=args.limit, status=args.status
            )
    finally:
        store.dispose()
    text = render_json(rows) if args.format == "json" else render_table(rows)
    write_output(text, args.out)
    return 0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "alerts",
        help="test alert targets, list sent and failed notifications",
        description="Alerts are sent by `docktally collect` and `docktally up` with --alerts "
        "FILE or --notify URL. These commands test the targets and show the history.",
    )
    asub = p.add_subparsers(dest="alerts_command", metavar="ACTION")
    asub.required = True
    t = asub.add_parser(
        "test",
        help="send a test message to every target",
        description="Send a test message to every target of --alerts FILE and --notify URL; "
        "exit 1 when a target did not take it.",
    )
    add_db(t)
    add_alert_options(t)
    t.set_defaults(func=_test)
    ls = asub.add_parser(
        "list",
        help="notifications sent, pending and failed, newest first",
        description="Notifications sent, pending (being retried) and failed, newest first.",
    )
    add_db(ls)
    ls.add_argument("--status", choices=("pending", "sent", "failed"), help="only these")
    ls.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    ls.add_argument("--format", choices=("table", "json"), default="table")
    ls.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    ls.set_defaults(func=_list)
