"""The report's options as analytics defines them, in the standard library alone: the CLI
checks them before pandas is imported."""

from __future__ import annotations

import math

from docktally.errors import UsageError

NS = 1_000_000_000

# What a report groups by (`--by`). A service is one group across hosts; `host,service` is one
# per host (the same service on two hosts: two groups).
GROUP_BY = ("container", "service", "host,service", "image", "host", "policy")

# Calendar breakdowns (`--every`), UTC.
EVERY = ("hour", "day", "week", "month")

# The look-backs of the SRE workbook's burn-rate alerts; the longest decides how far before the
# window an SLO report reads.
BURN_WINDOWS_NS = {
    "5m": 300 * NS,
    "30m": 1800 * NS,
    "1h": 3600 * NS,
    "6h": 6 * 3600 * NS,
    "3d": 3 * 86400 * NS,
}


def check_slo(slo: float | None) -> float | None:
    if slo is None:
        return None
    if not (isinstance(slo, int | float) and 0 < slo < 100) or math.isnan(slo):
        raise UsageError(f"--slo: {slo!r} must be a percentage between 0 and 100 (e.g. 99.9)")
    return float(slo)


def check_by(by: str, choices: tuple[str, ...] = GROUP_BY) -> str:
    """`--by` as one of `choices`; a pair is written with a comma, in either order and with
    spaces allowed (`service,host` and `host, service` are `host,service`)."""
    parts = [p.strip() for p in str(by).split(",")]
    for choice in choices:
        if sorted(parts) == sorted(choice.split(",")) and len(parts) == len(set(parts)):
            return choice
    raise UsageError(f"--by: {by!r} is not one of {'|'.join(choices)}")


def check_every(every: str | None) -> str | None:
    if every is not None and every not in EVERY:
        raise UsageError(f"--every: {every!r} is not one of {', '.join(EVERY)}")
    return every
