"""Parsing of user time specs: durations (`7d`, `90m`), ISO times, and ns conversions.

Pure: the current time is always an argument, so callers decide what "now" is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from docktally.errors import UsageError

NS_PER_S = 1_000_000_000

_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration_ns(text: str, *, what: str = "duration") -> int:
    """`90s`, `15m`, `6h`, `7d`, `2w` -> nanoseconds."""
    m = _DURATION.match(text)
    if not m:
        raise UsageError(f"{what}: {text!r} is not a duration (use e.g. 30s, 15m, 6h, 7d, 2w)")
    return int(float(m.group(1)) * _UNITS_S[m.group(2)] * NS_PER_S)


def parse_instant_ns(text: str, *, now_ns: int, what: str = "time") -> int:
    """A duration means that long before `now_ns`; otherwise an ISO 8601 time (UTC if no zone)."""
    if _DURATION.match(text):
        return now_ns - parse_duration_ns(text, what=what)
    if text.strip().lower() == "now":
        return now_ns
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{what}: {text!r} is neither a duration (7d) nor an ISO time (2026-11-01T12:00)"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return datetime_to_ns(dt)


def datetime_to_ns(dt: datetime) -> int:
    # Integer arithmetic: float timestamps lose the nanoseconds we promise to keep.
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339_ns(text: str) -> int | None:
    """The engine's `2026-11-27T23:55:51.518539074Z` -> ns, exactly. Zero time -> None."""
    if not text or text.startswith("0001-01-01"):
        return None
    m = _RFC3339.match(text.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    date, clock, frac, zone = m.groups()
    base = datetime.fromisoformat(f"{date}T{clock}{'+00:00' if zone == 'Z' else zone}")
    nanos = int((frac or "0").ljust(9, "0"))
    return datetime_to_ns(base) + nanos


def ns_to_iso(ns: int) -> str:
    """ns -> ISO 8601 UTC with the nanoseconds kept."""
    secs, nanos = divmod(int(ns), NS_PER_S)
    base = datetime.fromtimestamp(secs, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{nanos:09d}Z" if nanos else f"{base}Z"


def ns_to_since(ns: int) -> str:
    """The engine's `since`/`until` form, `SECONDS.NANOS`: exact, unlike a datetime."""
    secs, nanos = divmod(int(ns), NS_PER_S)
    return f"{secs}.{nanos:09d}"
