"""The uptime report: availability, MTBF (with a 90% CI), MTTR, error budgets, per group.

Pure: a History and a Window in, a Report out. Rendering lives in docktally.reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics import chi2
from docktally.analytics.model import History, Window
from docktally.analytics.options import BURN_WINDOWS_NS, check_by, check_slo
from docktally.analytics.periods import calendar_periods, period_breaks
from docktally.analytics.service_state import service_timeline
from docktally.analytics.stops import find_stops
from docktally.analytics.timeline import (
    ABSENT_CAUSES,
    CAUSE_NAMES,
    DOWN,
    PLANNED,
    STATE_NAMES,
    UNHEALTHY,
    UNKNOWN,
    UP,
    Timeline,
    build_timeline,
)

NS = 1_000_000_000
# Sort order of groups: names first, ids only to break ties.
SORT_COLUMNS: dict[str, list[str]] = {
    "container": ["host", "container", "container_id"],
    "service": ["service"],
    "host,service": ["host", "service"],
    "image": ["image"],
    "host": ["host"],
    "policy": ["policy"],
}
# The columns that name a group, in the report's order: the same, but the id before the name.
KEY_COLUMNS = {**SORT_COLUMNS, "container": ["host", "container_id", "container"]}
METRIC_COLUMNS = [
    "uptime_s",
    "downtime_s",
    "planned_s",
    "unknown_s",
    "availability",
    "failures",
    "restarts",
    "mtbf_s",
    "mtbf_ci90_low_s",
    "mtbf_ci90_high_s",
    "mttr_s",
    "exit_codes",
    "oom_kills",
    "downtime_by_cause_s",
    "stops",
    "forced_stops",
    "stop_mean_s",
    "stop_max_s",
]
SLO_COLUMNS = [
    "slo_target",
    "budget_s",
    "budget_spent_s",
    "budget_left_s",
    "burn_rate_5m",
    "burn_rate_30m",
    "burn_rate_1h",
    "burn_rate_6h",
    "burn_rate_3d",
    "slo_alert",
]
# The SRE workbook's multiwindow, multi-burn-rate alerts: (factor, long, short, severity).
BURN_ALERTS = (
    (14.4, "1h", "5m", "page"),
    (6.0, "6h", "30m", "page"),
    (1.0, "3d", "6h", "ticket"),
)


@dataclass
class Report:
    window: Window
    by: str
    groups: pd.DataFrame
    breakdown: pd.DataFrame | None = None
    time_by_class_s: dict[str, float] = field(default_factory=dict)
    fleet: dict[str, Any] = field(default_factory=dict)
    slo: float | None = None
    every: str | None = None

    @property
    def key_columns(self) -> list[str]:
        return KEY_COLUMNS[self.by]

    @property
    def empty(self) -> bool:
        return self.groups.empty


def num(v: Any) -> float | None:
    """A number as a float, None for NaN or what is not one."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def jsonable(v: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value (NaN and NA -> None)."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating | float):
        return num(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if v is pd.NA:
        return None
    return v


def chi2_ppf(q: float, df: Any) -> Any:
    """scipy.stats.chi2.ppf(q, df) for even df (analytics/chi2.py)."""
    return chi2.ppf(q, df)


def mtbf_ci90(uptime_s: float, failures: int) -> tuple[float, float | None]:
    """Two-sided 90% CI of the MTBF under the exponential model (T uptime, r failures):
    lower 2T / chi2_0.95(2r+2), upper 2T / chi2_0.05(2r); no upper bound when r = 0."""
    t2 = 2.0 * uptime_s
    low = t2 / float(chi2_ppf(0.95, 2 * failures + 2))
    high = t2 / float(chi2_ppf(0.05, 2 * failures)) if failures > 0 else None
    return low, high


# --- grouping ---------------------------------------------------------------------------------


@dataclass
class _Units:
    """Segments, failures and restarts with an integer group code `g`, and the key table."""

    seg: pd.DataFrame  # start_ns, end_ns, state (int8), cause (int16)
    g_seg: np.ndarray  # the group code of each segment
    fail: pd.DataFrame  # g, time_ns, cause, exit_code, recovered_ns
    restarts: pd.DataFrame  # g, time_ns
    ooms: pd.DataFrame  # g, time_ns (container-level OOM kills)
    exits: pd.DataFrame  # g, time_ns, exit_code (container-level failures)
    keys: pd.DataFrame  # one row per g: the key columns
    real: np.ndarray  # per g: has any time besides absent/removed
    # g, time_ns (the die), duration_ns (SIGTERM to die), forced (bool): analytics.stops
    stops: pd.DataFrame | None = None


def _container_units(tl: Timeline, by: str) -> _Units:
    c = tl.containers
    seg = tl.segments
    ck_seg = seg["ck"].to_numpy(dtype=np.int64)
    if by == "container":
        g_of_ck = np.arange(len(c), dtype=np.int64)
        keys = pd.DataFrame(
            {"host": c["host"], "container_id": c["container_id"], "container": c["name"]}
        )
        g_seg = ck_seg  # the group is the container
        g_fail = tl.failures["ck"].to_numpy(dtype=np.int64)
        g_rest = tl.restarts["ck"].to_numpy(dtype=np.int64)
    elif by == "policy":
        # The policy in effect at each moment: segments are cut at every facts change.
        used = np.unique(
            np.concatenate(
                [
                    seg["pcode"].to_numpy(dtype=np.int64),
                    tl.failures["pcode"].to_numpy(dtype=np.int64),
                    tl.restarts["pcode"].to_numpy(dtype=np.int64),
                ]
            )
        )
        remap = np.full(len(tl.policies), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        keys = pd.DataFrame({"policy": tl.policies[used]})
        g_seg = remap[seg["pcode"].to_numpy(dtype=np.int64)]
        g_fail = remap[tl.failures["pcode"].to_numpy(dtype=np.int64)]
        g_rest = remap[tl.restarts["pcode"].to_numpy(dtype=np.int64)]
    else:
        col = {"image": "image", "host": "host"}[by]
        vals = c[col].fillna("?").astype(str).to_numpy(dtype=object)
        codes, uni = pd.factorize(vals, use_na_sentinel=False)
        g_of_ck = codes.astype(np.int64)
        keys = pd.DataFrame({col: np.asarray(uni, dtype=object)})
        g_seg = g_of_ck[ck_seg]
        g_fail = g_of_ck[tl.failures["ck"].to_numpy(dtype=np.int64)]
        g_rest = g_of_ck[tl.restarts["ck"].to_numpy(dtype=np.int64)]
    fail = pd.DataFrame(
        {
            "g": g_fail,
            "time_ns": tl.failures["time_ns"].to_numpy(dtype=np.int64),
            "cause": tl.failures["cause"].to_numpy(dtype=np.int16),
            "exit_code": tl.failures["exit_code"].to_numpy(dtype=np.float64),
            "recovered_ns": tl.failures["recovered_ns"].to_numpy(dtype=np.int64),
        }
    )
    rest = pd.DataFrame({"g": g_rest, "time_ns": tl.restarts["time_ns"].to_numpy(dtype=np.int64)})
    return _Units(
        seg=seg,  # the timeline's own frame: no copy of millions of rows
        g_seg=g_seg,
        fail=fail,
        restarts=rest,
        ooms=fail[fail["cause"] == _cause_code("oom")][["g", "time_ns"]],
        exits=fail[["g", "time_ns", "exit_code"]],
        keys=keys.reset_index(drop=True),
        real=_real_groups(seg, g_seg, len(keys), tl.window.start_ns, tl.window.end_ns),
    )


def _cause_code(name: str) -> int:
    return int(np.flatnonzero(name == CAUSE_NAMES)[0])


def _real_groups(
    seg: pd.DataFrame, g: np.ndarray, n_g: int, start_ns: int, end_ns: int
) -> np.ndarray:
    """Per group: has any time in [start_ns, end_ns) besides absent/removed time."""
    st = seg["state"].to_numpy()
    s = seg["start_ns"].to_numpy()
    real = (
        (s >= start_ns)
        & (s < end_ns)
        & ~((st == PLANNED) & np.isin(seg["cause"].to_numpy(), ABSENT_CAUSES))
    )
    out = np.zeros(n_g, dtype=bool)
    out[g[real]] = True
    return out


def _service_units(tl: Timeline, *, per_host: bool) -> _Units:
    sv = service_timeline(tl, per_host=per_host)
    sk_of_ck = sv.sk_of_ck
    pieces = sv.pieces
    pg = pieces["g"].to_numpy(dtype=np.int64)
    fail = sv.failures[["g", "time_ns", "cause", "exit_code", "recovered_ns"]]
    cf = tl.failures
    rest = pd.DataFrame(
        {
            "g": sk_of_ck[tl.restarts["ck"].to_numpy(dtype=np.int64)],
            "time_ns": tl.restarts["time_ns"].to_numpy(dtype=np.int64),
        }
    )
    oom_mask = cf["cause"].to_numpy() == _cause_code("oom")
    ooms = pd.DataFrame(
        {
            "g": sk_of_ck[cf["ck"].to_numpy(dtype=np.int64)[oom_mask]],
            "time_ns": cf["time_ns"].to_numpy(dtype=np.int64)[oom_mask],
        }
    )
    exits = pd.DataFrame(
        {
            "g": sk_of_ck[cf["ck"].to_numpy(dtype=np.int64)],
            "time_ns": cf["time_ns"].to_numpy(dtype=np.int64),
            "exit_code": cf["exit_code"].to_numpy(dtype=np.float64),
        }
    )
    seg_units = pieces[["start_ns", "end_ns", "state", "cause"]]
    return _Units(
        seg=seg_units,
        g_seg=pg,
        fail=fail,
        restarts=rest,
        ooms=ooms,
        exits=exits,
        keys=sv.keys,
        real=_real_groups(seg_units, pg, len(sv.keys), tl.window.start_ns, tl.window.end_ns),
    )


# --- metrics ----------------------------------------------------------------------------------


_ABSENT_COL = 5  # after the five states


def _metrics(u: _Units, start_ns: int, end_ns: int, *, causes: bool = True) -> pd.DataFrame:
    """One row per group code with METRIC_COLUMNS, over [start_ns, end_ns); without `causes`,
    downtime_by_cause_s is left empty."""
    n_g = len(u.keys)
    seg = u.seg
    s = seg["start_ns"].to_numpy(dtype=np.int64)
    e = seg["end_ns"].to_numpy(dtype=np.int64)
    inside = (s >= start_ns) & (s < end_ns)
    sel: Any = slice(None) if inside.all() else inside  # a view, not a copy, when all are in
    del inside
    g = u.g_seg[sel]
    st = seg["state"].to_numpy()[sel]
    ca = seg["cause"].to_numpy()[sel]
    dur = (np.minimum(e[sel], end_ns) - s[sel]) / NS
    # Time the container did not exist (before its create, after its destroy) is a sixth
    # column summed nowhere: it is nobody's planned time.
    col = np.where((st == PLANNED) & np.isin(ca, ABSENT_CAUSES), _ABSENT_COL, st)
    state_key = col if n_g == 1 else g.astype(np.int64) * 6 + col
    by_state = np.bincount(state_key, weights=dur, minlength=n_g * 6).reshape(n_g, 6)
    del state_key, col
    up = by_state[:, UP]
    downtime = by_state[:, DOWN] + by_state[:, UNHEALTHY]
    planned = by_state[:, PLANNED]
    unknown = by_state[:, UNKNOWN]
    known = up + downtime
    with np.errstate(invalid="ignore", divide="ignore"):
        avail = np.where(known > 0, up / np.where(known > 0, known, 1), np.nan)

    f = u.fail
    ft = f["time_ns"].to_numpy(dtype=np.int64)
    fin = (ft >= start_ns) & (ft < end_ns)
    fg = f["g"].to_numpy(dtype=np.int64)[fin]
    failures = np.bincount(fg, minlength=n_g)
    rec = f["recovered_ns"].to_numpy(dtype=np.int64)[fin]
    # Recovered inside [start, end): one at the end is after the window (or period), as a
    # report from the store sees it (its events are read up to the end, not at it).
    recovered = (rec >= 0) & (rec < end_ns)
    ttr = (rec - ft[fin]) / NS
    ttr_sum = np.bincount(fg[recovered], weights=ttr[recovered], minlength=n_g)
    ttr_n = np.bincount(fg[recovered], minlength=n_g)
    with np.errstate(invalid="ignore", divide="ignore"):
        mttr = np.where(ttr_n > 0, ttr_sum / np.maximum(ttr_n, 1), np.nan)
        mtbf = np.where(failures > 0, up / np.maximum(failures, 1), np.nan)
    rt = u.restarts["time_ns"].to_numpy(dtype=np.int64)
    rin = (rt >= start_ns) & (rt < end_ns)
    restarts = np.bincount(u.restarts["g"].to_numpy(dtype=np.int64)[rin], minlength=n_g)
    ot = u.ooms["time_ns"].to_numpy(dtype=np.int64)
    oin = (ot >= start_ns) & (ot < end_ns)
    ooms = np.bincount(u.ooms["g"].to_numpy(dtype=np.int64)[oin], minlength=n_g)

    # Chi-squared quantiles once per distinct failure count, not once per group.
    r_uni, r_inv = np.unique(failures, return_inverse=True)
    q_low = chi2_ppf(0.95, 2 * r_uni + 2)
    q_high = np.full(len(r_uni), np.nan)
    q_high[r_uni > 0] = chi2_ppf(0.05, 2 * r_uni[r_uni > 0])
    ci_low = 2 * up / q_low[r_inv]
    ci_high = 2 * up / q_high[r_inv]

    # Exit codes of failures, and downtime by cause: small dicts per group, filled from one
    # integer key per (group, value) pair; only groups that have entries get a loop turn.
    xt = u.exits["time_ns"].to_numpy(dtype=np.int64)
    xc = u.exits["exit_code"].to_numpy(dtype=np.float64)
    xin = (xt >= start_ns) & (xt < end_ns) & ~np.isnan(xc)
    exit_codes: list[dict[str, int]] = [{} for _ in range(n_g)]
    if xin.any():
        code_idx, codes_uni = pd.factorize(xc[xin], sort=True)  # hashing, not a sort of all
        names = [str(int(c)) for c in codes_uni]
        n_x = len(codes_uni)
        key = u.exits["g"].to_numpy(dtype=np.int64)[xin] * n_x + code_idx
        counts = np.bincount(key, minlength=n_g * n_x)
        present = np.flatnonzero(counts)
        for k, cnt in zip(present.tolist(), counts[present].tolist(), strict=True):
            exit_codes[k // n_x][names[k % n_x]] = cnt
    by_cause: list[dict[str, float]] = [{} for _ in range(n_g)]
    dmask = (st == DOWN) | (st == UNHEALTHY) if causes else np.zeros(0, dtype=bool)
    if dmask.any():
        n_ca = len(CAUSE_NAMES)
        dkey = g[dmask].astype(np.int64) * n_ca + ca[dmask]
        dur_ns = np.minimum(e[sel][dmask], end_ns) - s[sel][dmask]
        cause_names = [str(c or "unknown") for c in CAUSE_NAMES]
        for k, total_ns in _ns_sums(dkey, dur_ns, n_g * n_ca).items():
            by_cause[k // n_ca][cause_names[k % n_ca]] = total_ns / NS

    stops, forced, stop_mean, stop_max = _stop_metrics(u.stops, n_g, start_ns, end_ns)
    return pd.DataFrame(
        {
            "uptime_s": up,
            "downtime_s": downtime,
            "planned_s": planned,
            "unknown_s": unknown,
            "availability": avail,
            "failures": failures.astype(np.int64),
            "restarts": restarts.astype(np.int64),
            "mtbf_s": mtbf,
            "mtbf_ci90_low_s": ci_low,
            "mtbf_ci90_high_s": ci_high,
            "mttr_s": mttr,
            "exit_codes": exit_codes,
            "oom_kills": ooms.astype(np.int64),
            "downtime_by_cause_s": by_cause,
            "stops": stops,
            "forced_stops": forced,
            "stop_mean_s": stop_mean,
            "stop_max_s": stop_max,
        }
    )


def _stop_metrics(
    stops: pd.DataFrame | None, n_g: int, start_ns: int, end_ns: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per group: stops whose die is in [start_ns, end_ns), those that needed a SIGKILL, and
    the mean and longest time from SIGTERM to die."""
    count = np.zeros(n_g, dtype=np.int64)
    forced = np.zeros(n_g, dtype=np.int64)
    mean = np.full(n_g, np.nan)
    longest = np.full(n_g, np.nan)
    if stops is None or stops.empty:
        return count, forced, mean, longest
    t = stops["time_ns"].to_numpy(dtype=np.int64)
    g = stops["g"].to_numpy(dtype=np.int64)
    ok = (t >= start_ns) & (t < end_ns) & (g >= 0)
    g = g[ok]
    dur = stops["duration_ns"].to_numpy(dtype=np.int64)[ok] / NS
    count = np.bincount(g, minlength=n_g)
    forced = np.bincount(g, weights=stops["forced"].to_numpy(dtype=bool)[ok], minlength=n_g)
    total = np.bincount(g, weights=dur, minlength=n_g)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    np.fmax.at(longest, g, dur)
    return count.astype(np.int64), forced.astype(np.int64), mean, longest


def _stops_of_containers(tl: Timeline, history: History) -> tuple[pd.DataFrame, np.ndarray]:
    """The stops of analytics.stops, and each one's container code (-1: not in the timeline):
    found once for the groups and the fleet."""
    st = find_stops(history.events)
    c = tl.containers  # one row per (host, container id)
    known = pd.MultiIndex.from_arrays([c[k].astype(object) for k in ("host", "container_id")])
    stopped = pd.MultiIndex.from_arrays([st[k].astype(object) for k in ("host", "container_id")])
    return st, known.get_indexer(stopped).astype(np.int64)


def _attach_stops(u: _Units, tl: Timeline, stops: tuple[pd.DataFrame, np.ndarray], by: str) -> None:
    """Each stop given its group: the group of its container (under --by policy, of the
    container's latest policy)."""
    st, ck = stops
    g_of_ck = _group_of_container(u, tl, by)
    g = np.where(ck >= 0, g_of_ck[np.maximum(ck, 0)] if len(g_of_ck) else -1, -1)
    u.stops = pd.DataFrame(
        {
            "g": g.astype(np.int64),
            "time_ns": st["die_ns"].to_numpy(dtype=np.int64),
            "duration_ns": (st["die_ns"] - st["term_ns"]).to_numpy(dtype=np.int64),
            "forced": st["forced"].to_numpy(dtype=bool),
        }
    )


def _group_of_container(u: _Units, tl: Timeline, by: str) -> np.ndarray:
    c = tl.containers
    if by == "container":
        return np.arange(len(c), dtype=np.int64)
    if by == "fleet":
        return np.zeros(len(c), dtype=np.int64)
    if by == "host,service":
        vals = c["host"].astype(str) + "\x00" + c["service"].astype(str)
        keys = u.keys["host"].astype(str) + "\x00" + u.keys["service"].astype(str)
    elif by == "policy":
        vals, keys = c["policy"].astype(str), u.keys["policy"].astype(str)
    else:
        vals = c[by].fillna("?").astype(str)
        keys = u.keys[by].astype(str)
    pos = {k: i for i, k in enumerate(keys)}
    return np.array([pos.get(v, -1) for v in vals], dtype=np.int64)


def _burn(u: _Units, lookback_ns: int, end_ns: int, slo: float) -> np.ndarray:
    """Error-budget burn rate per group over [end - lookback, end): bad fraction / allowed."""
    n_g = len(u.keys)
    s = u.seg["start_ns"].to_numpy(dtype=np.int64)
    e = u.seg["end_ns"].to_numpy(dtype=np.int64)
    lo = end_ns - lookback_ns
    ov = np.clip(np.minimum(e, end_ns) - np.maximum(s, lo), 0, None) / NS
    st = u.seg["state"].to_numpy()
    g = u.g_seg
    bad = np.bincount(g, weights=np.where((st == DOWN) | (st == UNHEALTHY), ov, 0), minlength=n_g)
    good = np.bincount(g, weights=np.where(st == UP, ov, 0), minlength=n_g)
    allowed = 1.0 - slo / 100.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bad + good > 0, bad / np.maximum(bad + good, 1e-300) / allowed, np.nan)


def _slo_columns(u: _Units, m: pd.DataFrame, window: Window, slo: float) -> pd.DataFrame:
    allowed = 1.0 - slo / 100.0
    out = pd.DataFrame(index=m.index)
    out["slo_target"] = slo
    out["budget_s"] = allowed * (m["uptime_s"] + m["downtime_s"])
    out["budget_spent_s"] = m["downtime_s"]
    out["budget_left_s"] = out["budget_s"] - out["budget_spent_s"]
    burns = {k: _burn(u, v, window.end_ns, slo) for k, v in BURN_WINDOWS_NS.items()}
    for k, v in burns.items():
        out[f"burn_rate_{k}"] = v
    alert = np.full(len(m), None, dtype=object)
    for factor, lng, sh, sev in reversed(BURN_ALERTS):
        fire = (np.nan_to_num(burns[lng]) >= factor) & (np.nan_to_num(burns[sh]) >= factor)
        alert = np.where(fire, f"{sev}: burn >= {factor:g}x over {lng} and {sh}", alert)
    out["slo_alert"] = pd.Series(alert, index=m.index, dtype=object)
    return out


def _time_by_class(tl: Timeline) -> dict[str, float]:
    seg = tl.segments
    s = seg["start_ns"].to_numpy(dtype=np.int64)
    inside = s >= tl.window.start_ns
    sel: Any = slice(None) if inside.all() else inside  # a view, not a copy, when all are in
    dur_ns = seg["end_ns"].to_numpy(dtype=np.int64)[sel] - s[sel]
    n_ca = len(CAUSE_NAMES)
    key = seg["state"].to_numpy()[sel].astype(np.int64) * n_ca + seg["cause"].to_numpy()[sel]
    totals_ns: dict[str, int] = {"up": 0, "unhealthy": 0, "down": 0, "unknown": 0}
    for k, total_ns in _ns_sums(key, dur_ns, len(STATE_NAMES) * n_ca).items():
        s_i, c_i = divmod(k, n_ca)
        if s_i == PLANNED and c_i in ABSENT_CAUSES:
            continue  # the container did not exist: not time it "took"
        name = str(STATE_NAMES[s_i])
        key_name = f"planned:{CAUSE_NAMES[c_i]}" if s_i == PLANNED else name
        totals_ns[key_name] = totals_ns.get(key_name, 0) + total_ns
    return {k: v / NS for k, v in totals_ns.items()}


_SPLIT = 26  # bits: whole-nanosecond sums in two float64 halves, each exact (see _ns_sums)


def _ns_sums(key: np.ndarray, dur_ns: np.ndarray, n_keys: int) -> dict[int, int]:
    """Exact sums of whole nanoseconds per key present: {key: total_ns}. Two bincounts over the
    high and low bits of each duration (each partial sum stays below 2**53, exact in float64
    for any window under a few million years and fewer than 2**27 rows per call); the
    seconds are then rounded once. A float sum of seconds over millions of rows would not be
    exact, and an int64 sum of nanoseconds overflows past ~292 container-years."""
    if not len(key):
        return {}
    count = np.bincount(key, minlength=n_keys)
    hi = np.bincount(key, weights=(dur_ns >> _SPLIT).astype(np.float64), minlength=n_keys)
    lo = np.bincount(
        key, weights=(dur_ns & ((1 << _SPLIT) - 1)).astype(np.float64), minlength=n_keys
    )
    present = np.flatnonzero(count)
    return {
        k: (int(h) << _SPLIT) + int(low)
        for k, h, low in zip(
            present.tolist(), hi[present].tolist(), lo[present].tolist(), strict=True
        )
    }


def build_report(
    history: History,
    window: Window,
    *,
    by: str = "container",
    slo: float | None = None,
    every: str | None = None,
) -> Report:
    """Per-group availability, MTBF/MTTR, error budget (with `slo`, a percentage such as 99.9)
    and calendar breakdowns (with `every` = hour|day|week|month, UTC)."""
    return build_report_with_timeline(history, window, by=by, slo=slo, every=every)[0]


def build_report_with_timeline(
    history: History,
    window: Window,
    *,
    by: str = "container",
    slo: float | None = None,
    every: str | None = None,
) -> tuple[Report, Timeline]:
    """build_report, and the timeline it was built from (for callers that also want intervals
    or "down now" without building a second one: intervals.intervals_from_timeline). With
    `every` its segments are also cut at period boundaries, and with `slo` it starts 3 days
    before the window's end when that is earlier than the window's start; segments before the
    window start are context only (intervals_from_timeline drops them)."""
    by = check_by(by)
    slo = check_slo(slo)
    periods = calendar_periods(window, every) if every else []
    context = window.end_ns - BURN_WINDOWS_NS["3d"] if slo is not None else None
    tl = build_timeline(
        history,
        window,
        extra_breaks_ns=period_breaks(periods) if periods else None,
        context_start_ns=context,
    )
    u = group_units(tl, by)
    stops = _stops_of_containers(tl, history)
    _attach_stops(u, tl, stops, by)
    m = _metrics(u, window.start_ns, window.end_ns)
    if slo is not None:
        m = pd.concat([m, _slo_columns(u, m, window, slo)], axis=1)
    keep = _kept(u, m)
    groups = pd.concat([u.keys, m], axis=1)[keep]
    groups = groups.sort_values(SORT_COLUMNS[by], kind="stable").reset_index(drop=True)
    breakdown = None
    if every:
        parts = []
        for ps, pe in periods:
            pm = _metrics(u, ps, pe)
            # A period before a container existed (or after it was removed) is nobody's time:
            # no row, as a group without such time has none in `groups`.
            here = _real_groups(u.seg, u.g_seg, len(u.keys), ps, pe)
            part = pd.concat([u.keys, pm], axis=1)[keep & (here | (pm["failures"].to_numpy() > 0))]
            part.insert(0, "period_end_ns", pe)
            part.insert(0, "period_start_ns", ps)
            parts.append(part)
        breakdown = pd.concat(parts, ignore_index=True) if parts else None
        if breakdown is not None:
            breakdown = breakdown.sort_values(
                [*SORT_COLUMNS[by], "period_start_ns"], kind="stable"
            ).reset_index(drop=True)
    report = Report(
        window=window,
        by=by,
        groups=groups,
        breakdown=breakdown,
        time_by_class_s=_time_by_class(tl),
        fleet=_fleet(tl, window, stops),
        slo=slo,
        every=every,
    )
    return report, tl


def group_units(tl: Timeline, by: str) -> _Units:
    """The timeline's segments, failures and restarts coded by group (`by`, one of GROUP_BY)."""
    if by in ("service", "host,service"):
        return _service_units(tl, per_host=by == "host,service")
    return _container_units(tl, by)


def _kept(u: _Units, m: pd.DataFrame) -> np.ndarray:
    """The groups a report shows: those with time besides not existing, or a failure."""
    return np.asarray(u.real | (m["failures"].to_numpy() > 0))


def timeline_groups(tl: Timeline, by: str) -> pd.DataFrame:
    """The report's groups over the timeline's window without the stop columns (the stops
    need the events: build_report): key columns and the other METRIC_COLUMNS, sorted by
    key. For callers that group one timeline several ways (analytics.fleet)."""
    by = check_by(by)
    u = group_units(tl, by)
    m = _metrics(u, tl.window.start_ns, tl.window.end_ns)
    m = m.drop(columns=["stops", "forced_stops", "stop_mean_s", "stop_max_s"])
    groups = pd.concat([u.keys, m], axis=1)[_kept(u, m)]
    return groups.sort_values(SORT_COLUMNS[by], kind="stable").reset_index(drop=True)


def containers_with_time(tl: Timeline) -> np.ndarray:
    """Per container code: has time in the window besides not existing (the report's
    containers)."""
    seg = tl.segments
    w = tl.window
    return _real_groups(seg, seg["ck"].to_numpy(), len(tl.containers), w.start_ns, w.end_ns)


def _fleet(tl: Timeline, window: Window, stops: tuple[pd.DataFrame, np.ndarray]) -> dict[str, Any]:
    """Fleet-wide totals, in container-seconds."""
    seg = tl.segments
    u = _Units(
        seg=seg,
        g_seg=np.zeros(len(seg), dtype=np.int8),
        fail=tl.failures.assign(g=0),
        restarts=tl.restarts.assign(g=0),
        ooms=tl.failures[tl.failures["cause"] == _cause_code("oom")].assign(g=0),
        exits=tl.failures.assign(g=0),
        keys=pd.DataFrame({"fleet": ["all"]}),
        real=np.ones(1, dtype=bool),
    )
    _attach_stops(u, tl, stops, "fleet")
    # The fleet reports no downtime by cause: not computed.
    m = _metrics(u, window.start_ns, window.end_ns, causes=False).iloc[0].to_dict()
    m["containers"] = int(containers_with_time(tl).sum())
    m["hosts"] = int(tl.containers["host"].nunique()) if len(tl.containers) else 0
    m.pop("downtime_by_cause_s", None)
    m["exit_codes"] = {str(k): int(v) for k, v in m["exit_codes"].items()}
    return {str(k): jsonable(v) for k, v in m.items()}
