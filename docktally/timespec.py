"""Parsing of user time specs: durations (`90`, `7d`, `1h30m`), ISO times, and ns conversions.

Pure: the current time is always an argument, so callers decide what "now" is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction

from docktally.errors import UsageError

NS_PER_S = 1_000_000_000
# The longest duration taken: the times it makes still fit the store's signed 64-bit ns.
MAX_DURATION_NS = 100 * 365 * 86400 * NS_PER_S
DURATION_FORMS = "seconds, or e.g. 90s, 5m, 1h30m, 2d"

_UNIT_NS = {
    "w": 7 * 86400 * NS_PER_S,
    "d": 86400 * NS_PER_S,
    "h": 3600 * NS_PER_S,
    "m": 60 * NS_PER_S,
    "s": NS_PER_S,
    "ms": NS_PER_S // 1000,
}
_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# Each unit at most once, largest first: `1h30m`, `2d 12h`, `1m30.5s`; `m` is not `ms`.
_WITH_UNITS = re.compile(
    r"\s*"
    + r"\s*".join(rf"(?:(?P<{u}>{_NUMBER})\s*{u}{'(?!s)' if u == 'm' else ''})?" for u in _UNIT_NS)
    + r"\s*"
)
_BARE_SECONDS = re.compile(rf"\s*(?P<s>{_NUMBER})\s*")


def _units_ns(text: str) -> int | None:
    """The ns a duration with units (`1h30m`) spells, exactly; None if it is not one."""
    m = _WITH_UNITS.fullmatch(text)
    if m is None or not any(m.groupdict().values()):
        return None
    # Fraction, not float: `0.1s` is 100,000,000 ns, not 100,000,000.000000006.
    total = sum(
        (Fraction(v) * _UNIT_NS[u] for u, v in m.groupdict().items() if v is not None),
        Fraction(0),
    )
    return int(total)


def parse_duration_ns(text: str, *, what: str = "duration", allow_zero: bool = False) -> int:
    """Every duration option's one syntax: a bare number of seconds (`90`, `1.5`), or numbers
    with units w, d, h, m, s, ms, largest first (`90s`, `5m`, `1h30m`, `2d`) -> nanoseconds."""
    ns = _units_ns(text)
    if ns is None and (bare := _BARE_SECONDS.fullmatch(text)) is not None:
        ns = int(Fraction(bare.group("s")) * NS_PER_S)
    if ns is None:
        raise UsageError(f"{what}: {text!r} is not a duration ({DURATION_FORMS})")
    if ns == 0 and not allow_zero:
        raise UsageError(f"{what}: {text!r} is not a positive duration")
    if ns > MAX_DURATION_NS:
        raise UsageError(f"{what}: {text!r} is longer than 100 years")
    return ns


def parse_instant_ns(text: str, *, now_ns: int, what: str = "time") -> int:
    """A duration with units means that long before `now_ns`; otherwise an ISO 8601 time (UTC if
    no zone). A bare number is neither: the docker CLI reads `--since 1700000000` as a Unix
    time, so guessing either way would mislead someone."""
    if _units_ns(text) is not None:
        return now_ns - parse_duration_ns(text, what=what, allow_zero=True)
    if text.strip().lower() == "now":
        return now_ns
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        if _BARE_SECONDS.fullmatch(text):
            raise UsageError(
                f"{what}: {text!r} needs a unit (e.g. {text.strip()}s before now) or an ISO time"
            ) from None
        raise UsageError(
            f"{what}: {text!r} is neither a duration before now (7d, 1h30m) nor an ISO time "
            "(2026-11-01T12:00)"
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
