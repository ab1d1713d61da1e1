"""`events.packed`: what the report needs of a lifecycle event, in one integer.

Reading a value out of SQLite costs ~0.3 us whoever reads it, and evaluating string
comparisons per row in SQL costs as much again: the window loader reads most events as three
integers (container_ref, time_ns, packed), filtered by integer comparisons only. The writers
compute `packed` when they store an event (in Python here, or in SQL with PACKED_SQL; a test
checks the two agree), so the reader never has to.

    packed >= 0   a lifecycle event that `packed` says exactly:
                  kind code (4 bits) | inferred << 4 | health code << 5 |
                  (exit code + 2, 0 for none) << 7 (16 bits) | (signal + 1, 0 for none) << 23
    packed = -1   a lifecycle event it cannot say (an action that is not its kind, a cause
                  hint, a health other than healthy/unhealthy, codes out of range): read whole
    packed = -2   not a lifecycle event (exec_*, ...): the report never reads it
"""

from __future__ import annotations

from docktally.analytics.states import LIFECYCLE_KIND_ORDER

KINDS = tuple(sorted(LIFECYCLE_KIND_ORDER))
HEALTHS = ("healthy", "unhealthy")
ODD = -1
OTHER = -2

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_HEALTH_CODE = {h: i + 1 for i, h in enumerate(HEALTHS)}
EXIT_MIN, EXIT_MAX = -1, 65533
SIGNAL_MIN, SIGNAL_MAX = 0, 254


def pack(
    *,
    action: str,
    kind: str,
    exit_code: int | None,
    signal: int | None,
    health: str | None,
    inferred: bool,
    cause_hint: str | None,
) -> int:
    code = _KIND_CODE.get(kind)
    if code is None:
        return OTHER
    if cause_hint is not None:
        return ODD
    if health is None:
        h = 0
        plain_action = action == kind
    else:
        h = _HEALTH_CODE.get(health, -1)
        plain_action = kind == "health_status" and action == f"health_status: {health}"
    if h < 0 or not plain_action:
        return ODD
    if exit_code is not None and not EXIT_MIN <= exit_code <= EXIT_MAX:
        return ODD
    if signal is not None and not SIGNAL_MIN <= signal <= SIGNAL_MAX:
        return ODD
    return (
        code
        + 16 * int(bool(inferred))
        + 32 * h
        + 128 * (0 if exit_code is None else exit_code + 2)
        + 8388608 * (0 if signal is None else signal + 1)
    )


def packed_sql(
    action: str = "action",
    kind: str = "kind",
    exit_code: str = "exit_code",
    signal: str = "signal",
    health: str = "health",
    inferred: str = "inferred",
    cause_hint: str = "cause_hint",
) -> str:
    """pack() as one SQL expression (SQLite and PostgreSQL) over the named columns."""
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    plain = (
        f"{cause_hint} IS NULL"
        f" AND (({health} IS NULL AND {action} = {kind})"
        f" OR ({health} IN ('healthy', 'unhealthy') AND {kind} = 'health_status'"
        f" AND {action} = 'health_status: ' || {health}))"
        f" AND ({exit_code} IS NULL OR {exit_code} BETWEEN {EXIT_MIN} AND {EXIT_MAX})"
        f" AND ({signal} IS NULL OR {signal} BETWEEN {SIGNAL_MIN} AND {SIGNAL_MAX})"
    )
    kind_code = f"CASE {kind} " + " ".join(f"WHEN '{k}' THEN {i}" for i, k in enumerate(KINDS))
    value = (
        f"({kind_code} END) + 16 * CAST({inferred} AS INTEGER)"
        f" + 32 * (CASE {health} WHEN 'healthy' THEN 1 WHEN 'unhealthy' THEN 2 ELSE 0 END)"
        f" + 128 * coalesce({exit_code} + 2, 0) + 8388608 * coalesce({signal} + 1, 0)"
    )
    return (
        f"CAST(CASE WHEN {kind} NOT IN ({kinds}) THEN {OTHER} WHEN {plain} THEN {value}"
        f" ELSE {ODD} END AS BIGINT)"
    )
