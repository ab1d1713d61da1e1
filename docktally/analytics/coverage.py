"""How much of a window the collector (or an import) covered, per host. Pure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from docktally.analytics.model import Window
from docktally.analytics.timeline import merge_coverage

COVERAGE_SUMMARY_COLUMNS = [
    "host",
    "covered_s",
    "covered_pct",
    "uncovered_s",
    "first",
    "last",
    "sources",
]


def coverage_by_host(coverage: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Per host: covered seconds inside the window (overlapping spans counted once), the share
    of the window, the uncovered rest, the first start and last end seen, and the sources."""
    if coverage.empty:
        return pd.DataFrame(columns=COVERAGE_SUMMARY_COLUMNS)
    cov = coverage[coverage["end_ns"].notna()]
    rows = []
    for host, (starts, ends) in sorted(merge_coverage(cov).items()):
        clipped = np.minimum(ends, window.end_ns) - np.maximum(starts, window.start_ns)
        covered_ns = int(np.clip(clipped, 0, None).sum())
        grp = cov[cov["host"].astype(str) == host]
        rows.append(
            {
                "host": host,
                "covered_s": covered_ns / 1e9,
                "covered_pct": 100.0 * covered_ns / (window.end_ns - window.start_ns),
                "uncovered_s": (window.end_ns - window.start_ns - covered_ns) / 1e9,
                "first": pd.to_datetime(grp["start_ns"].min(), unit="ns", utc=True),
                "last": pd.to_datetime(grp["end_ns"].max(), unit="ns", utc=True),
                "sources": ", ".join(sorted({str(x) for x in grp["source"]})),
            }
        )
    return pd.DataFrame(rows, columns=COVERAGE_SUMMARY_COLUMNS)
