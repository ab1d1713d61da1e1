"""`--format html`: one self-contained file (charts inline as base64 PNG), names escaped."""

from __future__ import annotations

import base64
import html

import pandas as pd

from docktally.analytics.report import Report
from docktally.analytics.stops import ADVICE
from docktally.reports import charts
from docktally.reports.safe_text import NAME_CSS, html_name
from docktally.reports.tables import (
    FORCED_STOPS_TITLE,
    NO_DATA,
    display_rows,
    forced_stop_rows,
    header_lines,
    time_by_class_rows,
)

# Past this many (group, period) rows the per-period table is left to the CSV/JSON formats.
MAX_BREAKDOWN_ROWS = 500

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;white-space:nowrap}
td.text{white-space:normal}
th{background:#f2f2f2;white-space:normal;vertical-align:bottom}
.wide{overflow-x:auto}
img{max-width:100%;display:block;margin:1em 0}
.note{color:#666}
"""


# Columns holding names: a long one may wrap after its separators. Sentences may wrap at
# spaces; everything else (numbers, durations, dates) stays on one line.
NAME_HEADERS = frozenset({"Container", "Service", "Image", "Host", "Project"})
TEXT_HEADERS = frozenset({"Alert", "What it is"})


def html_table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    is_name = [c in NAME_HEADERS for c in df.columns]
    opens = ['<td class="text">' if c in TEXT_HEADERS else "<td>" for c in df.columns]
    rows = "".join(
        "<tr>"
        + "".join(
            f"{td}{html_name(v) if n else html.escape(str(v))}</td>"
            for v, n, td in zip(r, is_name, opens, strict=True)
        )
        + "</tr>"
        for r in df.itertuples(index=False)
    )
    # A table wider than the window scrolls in its own box: the page never scrolls sideways.
    return (
        f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        "</div>"
    )


def img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def render_html(report: Report) -> str:
    head = header_lines(report)
    body = [f"<h1>{html.escape(head[0])}</h1>"]
    body += [f"<p>{html.escape(x)}</p>" for x in head[1:]]
    if report.empty:
        body.append(f'<p class="note">{html.escape(NO_DATA)}</p>')
    else:
        body += [
            img(charts.availability_chart(report), f"availability per {report.by}"),
            html_table(display_rows(report)),
            "<h2>Time by class</h2>",
            img(charts.downtime_by_cause_chart(report), "downtime by cause"),
            html_table(time_by_class_rows(report)),
        ]
        forced = forced_stop_rows(report)
        if len(forced):
            body += [
                f"<h2>{FORCED_STOPS_TITLE}</h2>",
                f"<p>{html.escape(ADVICE)}</p>",
                html_table(forced),
            ]
        body += [
            f"<h2>Availability per {html.escape(report.every or 'day')}</h2>",
            img(charts.availability_per_day_chart(report), "availability per day"),
        ]
        if report.breakdown is not None and len(report.breakdown) <= MAX_BREAKDOWN_ROWS:
            body.append(html_table(display_rows(report, report.breakdown)))
    title = html.escape(head[0])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{CSS}{NAME_CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
