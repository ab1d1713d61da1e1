"""`--format json`: DESIGN.md's report object."""

from __future__ import annotations

import json

from docktally.analytics.report import Report
from docktally.reports.tables import NO_DATA


def render_json(report: Report) -> str:
    doc = report.to_json_dict()
    if report.empty:
        doc["note"] = NO_DATA
    # Indented for people; compact past a few hundred groups, where it halves the time and size.
    indent = 2 if len(report.groups) <= 500 else None
    return json.dumps(doc, indent=indent, allow_nan=False) + "\n"
