"""`--format json`: DESIGN.md's report object."""

from __future__ import annotations

import json

from docktally.analytics.report import Report
from docktally.reports.tables import NO_DATA


def render_json(report: Report) -> str:
    doc = report.to_json_dict()
    if report.empty:
        doc["note"] = NO_DATA
    return json.dumps(doc, indent=2, allow_nan=False) + "\n"
