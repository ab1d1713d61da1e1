"""The notification history as a text table or JSON (`docktally alerts list`, the dashboard).

Every value is shown as plain text: titles carry container names and labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pandas as pd

from docktally.alerts.message import plain
from docktally.reports.safe_text import json_text
from docktally.reports.tables import text_table
from docktally.timespec import ns_to_iso

TABLE_COLUMNS = [
    "created",
    "status",
    "kind",
    "rule",
    "severity",
    "title",
    "target",
    "tries",
    "error",
]


def display_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    return [
        {
            "created": ns_to_iso(int(r["created_ns"]))[:19] + "Z",
            "status": str(r["status"]),
            "kind": str(r["kind"]),
            "rule": plain(r["rule"], 40),
            "severity": str(r["severity"]),
            "title": plain(r["title"], 100),
            "target": plain(r["target_label"], 60),
            "tries": str(r["attempts"]),
            "error": plain(r["last_error"] or "", 100),
        }
        for r in rows
    ]


def render_table(rows: Sequence[Mapping[str, Any]]) -> str:
    shown = display_rows(rows)
    if not shown:
        return "No notifications yet."
    return text_table(pd.DataFrame(shown, columns=TABLE_COLUMNS))


def render_json(rows: Sequence[Mapping[str, Any]]) -> str:
    out = [
        {
            **dict(r),
            "created": ns_to_iso(int(r["created_ns"])),
            "sent": ns_to_iso(int(r["sent_ns"])) if r.get("sent_ns") is not None else None,
        }
        for r in rows
    ]
    return json_text(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


def status_summary(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """ "2 failed, 1 pending (...)" when anything is not sent yet, else None."""
    failed = sum(1 for r in rows if r["status"] == "failed")
    pending = sum(1 for r in rows if r["status"] == "pending")
    if not failed and not pending:
        return None
    return f"{failed} failed, {pending} pending (retried with back-off)."
