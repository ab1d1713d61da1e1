"""Format name -> renderer of an uptime Report."""

from __future__ import annotations

from collections.abc import Callable

from docktally.analytics.report import Report
from docktally.reports.csvout import render_csv
from docktally.reports.html import render_html
from docktally.reports.jsonout import render_json
from docktally.reports.markdown import render_markdown
from docktally.reports.tables import render_table

RENDERERS: dict[str, Callable[[Report], str]] = {
    "table": render_table,
    "json": render_json,
    "csv": render_csv,
    "markdown": render_markdown,
    "html": render_html,
}


def render_report(report: Report, fmt: str) -> str:
    return RENDERERS[fmt](report)
