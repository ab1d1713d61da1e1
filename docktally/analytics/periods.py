"""Calendar periods (UTC) for `--every hour|day|week|month` breakdowns, and the finer fixed
ones (5 minutes, 15 minutes, 6 hours) a chart of a short range is binned by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from docktally.analytics.model import Window
from docktally.analytics.options import EVERY
from docktally.errors import UsageError
from docktally.timespec import NS_PER_S, datetime_to_ns

_MINUTE_NS = 60 * NS_PER_S
# Periods of a fixed length, on UTC multiples of it (00:05, 00:10; 06:00, 12:00): for charts
# only, the CLI's --every stays calendar hour|day|week|month.
FIXED_NS = {
    "5 minutes": 5 * _MINUTE_NS,
    "15 minutes": 15 * _MINUTE_NS,
    "6 hours": 360 * _MINUTE_NS,
}
PERIODS = (*FIXED_NS, *EVERY)
# Roughly how long each period is, to choose one for a range (a month as 30 days).
LENGTH_NS = {
    **FIXED_NS,
    "hour": 60 * _MINUTE_NS,
    "day": 1440 * _MINUTE_NS,
    "week": 7 * 1440 * _MINUTE_NS,
    "month": 30 * 1440 * _MINUTE_NS,
}


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
    """[start, end) of each calendar hour/day/week/month (or fixed period of FIXED_NS)
    touching the window, clipped to it."""
    if every in FIXED_NS:
        return _fixed_periods(window, FIXED_NS[every])
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


def _fixed_periods(window: Window, size: int) -> list[tuple[int, int]]:
    first = window.start_ns // size * size
    starts = range(first, window.end_ns, size)
    return [(max(s, window.start_ns), min(s + size, window.end_ns)) for s in starts]


def period_breaks(periods: list[tuple[int, int]]) -> np.ndarray:
    return np.array(sorted({s for s, _ in periods} | {e for _, e in periods}), dtype=np.int64)
