"""Calendar periods (UTC) for `--every hour|day|week|month` breakdowns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from docktally.analytics.model import Window
from docktally.analytics.options import EVERY
from docktally.errors import UsageError
from docktally.timespec import NS_PER_S, datetime_to_ns


def _floor(dt: datetime, every: str) -> datetime:
    if every == "hour":
        return dt.replace(minute=0, second=0, microsecond=0)
    day = dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if every == "day":
        return day
    if every == "week":  # ISO weeks start on Monday
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(dt: datetime, every: str) -> datetime:
    if every == "hour":
        return dt + timedelta(hours=1)
    if every == "day":
        return dt + timedelta(days=1)
    if every == "week":
        return dt + timedelta(days=7)
    return (
        dt.replace(year=dt.year + 1, month=1) if dt.month == 12 else dt.replace(month=dt.month + 1)
    )


def calendar_periods(window: Window, every: str) -> list[tuple[int, int]]:
    """[start, end) of each calendar hour/day/week/month touching the window, clipped to it."""
    if every not in EVERY:
        raise UsageError(f"--every: {every!r} is not one of {', '.join(EVERY)}")
    start = datetime.fromtimestamp(window.start_ns // NS_PER_S, tz=UTC)
    cur = _floor(start, every)
    out: list[tuple[int, int]] = []
    while True:
        nxt = _next(cur, every)
        s = max(datetime_to_ns(cur), window.start_ns)
        e = min(datetime_to_ns(nxt), window.end_ns)
        if e > s:
            out.append((s, e))
        if datetime_to_ns(nxt) >= window.end_ns:
            return out
        cur = nxt


def period_breaks(periods: list[tuple[int, int]]) -> np.ndarray:
    return np.array(sorted({s for s, _ in periods} | {e for _, e in periods}), dtype=np.int64)
