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

from dataclasses import dataclass

import numpy as np

from docktally.analytics.states import LIFECYCLE_KIND_ORDER

KINDS = tuple(sorted(LIFECYCLE_KIND_ORDER))
HEALTHS = ("healthy", "unhealthy")
ODD = -1
OTHER = -2

_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
_HEALTH_CODE = {h: i + 1 for i, h in enumerate(HEALTHS)}
EXIT_MIN, EXIT_MAX = -1, 65533
SIGNAL_MIN, SIGNAL_MAX = 0, 254


# The fields' places in `packed`: (shift, mask).
_KIND, _INFERRED, _HEALTH, _EXIT, _SIGNAL = (0, 15), (4, 1), (5, 3), (7, 0xFFFF), (23, 0xFF)


def _field(place: tuple[int, int], value: int) -> int:
    return value << place[0]


@dataclass
class Unpacked:
    """packed values (all >= 0) taken apart, column by column."""

    kind_code: np.ndarray  # int32 index into KINDS
    inferred: np.ndarray  # bool
    health_code: np.ndarray  # int32: 0 none, else 1 + index into HEALTHS
    exit_code: np.ndarray  # float64, NaN for none
    signal: np.ndarray  # float64, NaN for none


def unpack(packed: np.ndarray) -> Unpacked:
    def get(place: tuple[int, int]) -> np.ndarray:
        return (packed >> place[0]) & place[1]

    exit_raw, sig_raw = get(_EXIT), get(_SIGNAL)
    return Unpacked(
        kind_code=get(_KIND).astype(np.int32),
        inferred=get(_INFERRED).astype(bool),
        health_code=get(_HEALTH).astype(np.int32),
        exit_code=np.where(exit_raw > 0, exit_raw - 2, np.nan),
        signal=np.where(sig_raw > 0, sig_raw - 1, np.nan),
    )


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
        _field(_KIND, code)
        + _field(_INFERRED, int(bool(inferred)))
        + _field(_HEALTH, h)
        + _field(_EXIT, 0 if exit_code is None else exit_code + 2)
        + _field(_SIGNAL, 0 if signal is None else signal + 1)
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
    # Multiplications, not shifts: the same SQL on SQLite and PostgreSQL.
    value = (
        f"({kind_code} END) + {1 << _INFERRED[0]} * CAST({inferred} AS INTEGER)"
        f" + {1 << _HEALTH[0]} * (CASE {health} WHEN 'healthy' THEN 1"
        " WHEN 'unhealthy' THEN 2 ELSE 0 END)"
        f" + {1 << _EXIT[0]} * coalesce({exit_code} + 2, 0)"
        f" + {1 << _SIGNAL[0]} * coalesce({signal} + 1, 0)"
    )
    return (
        f"CAST(CASE WHEN {kind} NOT IN ({kinds}) THEN {OTHER} WHEN {plain} THEN {value}"
        f" ELSE {ODD} END AS BIGINT)"
    )
