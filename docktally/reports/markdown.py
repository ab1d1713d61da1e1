"""`--format markdown`: the report as GitHub-flavoured Markdown tables."""

from __future__ import annotations

import pandas as pd

from docktally.analytics.report import Report
from docktally.analytics.stops import ADVICE
from docktally.reports.safe_text import markdown
from docktally.reports.tables import (
    FORCED_STOPS_TITLE,
    NO_DATA,
    display_rows,
    forced_stop_rows,
    header_lines,
    time_by_class_rows,
)


def md_table(df: pd.DataFrame) -> str:
    cols = [markdown(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(markdown(v) for v in row) + " |")
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    head = header_lines(report)
    parts = [f"# {head[0]}", *head[1:]]
    if report.empty:
        return "\n\n".join([*parts, NO_DATA]) + "\n"
    parts += [
        md_table(display_rows(report)),
        "## Time by class",
        md_table(time_by_class_rows(report)),
    ]
    forced = forced_stop_rows(report)
    if len(forced):
        parts += [f"## {FORCED_STOPS_TITLE}", markdown(ADVICE), md_table(forced)]
    if report.breakdown is not None:
        parts += [f"## Per {report.every}", md_table(display_rows(report, report.breakdown))]
    return "\n\n".join(parts) + "\n"
