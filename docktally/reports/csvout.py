"""`--format csv`: one row per group (or per group and period with --every), raw numbers;
dict columns (exit codes, downtime by cause) as JSON text."""

from __future__ import annotations

import io
import json

import pandas as pd

from docktally.analytics.report import Report
from docktally.reports.safe_text import visible


def report_frame(report: Report) -> pd.DataFrame:
    df = report.breakdown if report.breakdown is not None else report.groups
    df = df.copy()
    for col in ("exit_codes", "downtime_by_cause_s"):
        if col in df.columns:
            df[col] = [json.dumps(v, sort_keys=True) for v in df[col]]
    return df


def frame_csv(df: pd.DataFrame) -> str:
    """Any table as CSV, its text escaped: names, labels and reasons are other people's text,
    and a spreadsheet or `cat` shows them escaped."""
    df = df.copy()
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):
            df[col] = [visible(v) if isinstance(v, str) else v for v in df[col]]
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def render_csv(report: Report) -> str:
    return frame_csv(report_frame(report))
