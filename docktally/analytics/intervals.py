"""Per-container state intervals (stub; replaced by the vectorised builder)."""

from __future__ import annotations

import pandas as pd

from docktally.analytics.model import INTERVAL_COLUMNS, History, Window


def build_intervals(history: History, window: Window) -> pd.DataFrame:
    return pd.DataFrame(columns=INTERVAL_COLUMNS)
