"""`--format json`: the report object of docs/report-json.md."""

from __future__ import annotations

from typing import Any

import orjson

from docktally.analytics.report import Report
from docktally.reports.tables import NO_DATA


def _default(value: Any) -> Any:
    """What orjson does not serialise itself (numpy scalars beyond its own options)."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def render_json(report: Report) -> str:
    doc = report.to_json_dict()
    if report.empty:
        doc["note"] = NO_DATA
    # Indented for people; compact past a few hundred groups, where it halves the time and size.
    # orjson: ~10x faster than the json module on a 10,000-group report; NaN never reaches it
    # (to_json_dict turns every NaN into null).
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE
    if len(report.groups) <= 500:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(doc, option=option, default=_default).decode("utf-8")
