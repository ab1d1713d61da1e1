"""Failures and recoveries (stub)."""

from __future__ import annotations

import pandas as pd

from docktally.analytics.model import FAILURE_COLUMNS, History, Window


def find_failures(history: History, window: Window) -> pd.DataFrame:
    return pd.DataFrame(columns=FAILURE_COLUMNS)
