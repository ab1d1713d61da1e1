"""The vectorised core: events (+ facts, coverage, maintenance) -> per-container segments.

No Python loop runs per event: rows are sorted by (container, time), every "state carried
forward" is a forward fill done with `np.maximum.accumulate` over row indices, and every "next
recovery" a backward fill. Loops run only over hosts and maintenance rows (a handful).

Boundaries that must cut a segment (window start/end, coverage edges, maintenance edges, fact
changes, calendar periods) are inserted as marker rows that change nothing, so every segment
lies wholly inside or outside each of them and can be classified by its start alone.

Internal: the public API is intervals.build_intervals, failures.find_failures and
report.build_report.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from docktally.analytics import states as rules
from docktally.analytics.model import DIE_CAUSES, History, Window

NS = 1_000_000_000

# State codes: index into STATE_NAMES.
UP, UNHEALTHY, DOWN, PLANNED, UNKNOWN = 0, 1, 2, 3, 4
STATE_NAMES = np.array(["up", "unhealthy", "down", "planned", "unknown"], dtype=object)
_STATE_CODE = {str(n): i for i, n in enumerate(STATE_NAMES)}

# Cause codes: index into CAUSE_NAMES (0: no cause, for up).
CAUSE_NAMES = np.array(
    [
        None,
        *DIE_CAUSES,
        "unhealthy",
        "paused",
        "created",
        "removed",
        "absent",
        "maintenance",
        "deploy",
        "no_coverage",
        "no_data",
    ],
    dtype=object,
)
_C = {str(n): i for i, n in enumerate(CAUSE_NAMES) if n is not None}
# Planned time of containers that do not exist: not reported as a container's own time.
ABSENT_CAUSES = (_C["absent"], _C["removed"])

# Event kind codes.
_KINDS = list(rules.LIFECYCLE_KIND_ORDER)
K = {k: i for i, k in enumerate(_KINDS)}
K_OTHER = len(_KINDS)
K_HEALTHY = K_OTHER + 1
K_UNHEALTHY = K_OTHER + 2
K_MARKER = K_OTHER + 3
# Order of events that share a nanosecond: the ask before the death before the restart.
_TIE_RANK = np.zeros(K_MARKER + 1, dtype=np.int8)
for _i, _k in enumerate(
    [
        "create",
        "kill",
        "oom",
        "die",
        "stop",
        "destroy",
        "start",
        "restart",
        "pause",
        "unpause",
        "health_status",
        "rename",
        "update",
    ]
):
    _TIE_RANK[K[_k]] = _i
_TIE_RANK[K_OTHER] = 13
_TIE_RANK[K_UNHEALTHY] = 14
_TIE_RANK[K_HEALTHY] = 15
_TIE_RANK[K_MARKER] = 16

# State set by an event kind (-1: none), from the rule table.
_KIND_STATE = np.full(K_MARKER + 1, -1, dtype=np.int8)
_KIND_CAUSE = np.zeros(K_MARKER + 1, dtype=np.int16)
for _k, _s in rules.ACTION_STATE.items():
    if _s is not None:
        _KIND_STATE[K[_k]] = _STATE_CODE[_s]
    _cause = rules.ACTION_CAUSE.get(_k)
    if _cause:
        _KIND_CAUSE[K[_k]] = _C[_cause]
for _h, _s in rules.HEALTH_STATE.items():
    if _s is not None:
        _KIND_STATE[K_HEALTHY if _h == "healthy" else K_UNHEALTHY] = _STATE_CODE[_s]
_KIND_CAUSE[K_UNHEALTHY] = _C["unhealthy"]

_DIE_STATE = {_C[c]: _STATE_CODE[s] for c, s in rules.DIE_CAUSE_STATE.items()}

I64_MIN = np.iinfo(np.int64).min
I64_MAX = np.iinfo(np.int64).max


@dataclass
class Timeline:
    """Everything the public functions need, as arrays and frames keyed by container code."""

    window: Window
    # One row per container code `ck`: host, container_id, name, image, compose_project,
    # compose_service, service, has_healthcheck, policy (latest).
    containers: pd.DataFrame
    # Segments: ck, start_ns, end_ns, state (code), cause (code), policy (str), in [start, end).
    segments: pd.DataFrame
    # Real events in the window that matter: failures and restarts (frames with ck).
    failures: pd.DataFrame
    restarts: pd.DataFrame
    policies: np.ndarray  # policy code -> string


def _group_bounds(ck: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(ck)
    first = np.ones(n, dtype=bool)
    first[1:] = ck[1:] != ck[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, n))
    gstart = np.repeat(starts, counts)
    gend = np.repeat(starts + counts - 1, counts)
    last = np.zeros(n, dtype=bool)
    last[starts + counts - 1] = True
    return first, last, gstart, gend


def ffill_idx(valid: np.ndarray, gstart: np.ndarray) -> np.ndarray:
    """Index of the last valid row at or before each row, within its group; -1 if none."""
    idx = np.where(valid, np.arange(len(valid)), -1)
    last = np.maximum.accumulate(idx) if len(idx) else idx
    return np.where(last >= gstart, last, -1)


def bfill_idx(valid: np.ndarray, gend: np.ndarray) -> np.ndarray:
    """Index of the first valid row at or after each row, within its group; -1 if none."""
    n = len(valid)
    idx = np.where(valid, np.arange(n), n)
    nxt = np.minimum.accumulate(idx[::-1])[::-1] if n else idx
    return np.where(nxt <= gend, nxt, -1)


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column's codes (NA -> -1) and its distinct values as an object array: a Categorical's
    own codes and categories (no pass over the rows), else pandas.factorize."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), col.cat.categories.to_numpy(dtype=object)
    codes, uni = pd.factorize(col)
    return np.asarray(codes), np.asarray(uni, dtype=object)


def _sorted(ck: np.ndarray, t: np.ndarray, tie: np.ndarray | None = None) -> bool:
    """Are the rows sorted by (ck, t[, tie])?"""
    if len(ck) < 2:
        return True
    d_ck = ck[1:] - ck[:-1]
    if (d_ck < 0).any():
        return False
    same = d_ck == 0
    del d_ck
    d_t = t[1:] - t[:-1]
    if (same & (d_t < 0)).any():
        return False
    if tie is None:
        return True
    return not (same & (d_t == 0) & (tie[1:] < tie[:-1])).any()


def _last_values(col: pd.Series, order: np.ndarray | None, ck: np.ndarray, n_c: int) -> np.ndarray:
    """Per container code, the column's last non-null value in the given row order (rows
    `order`, or as they are, with their container codes `ck` in that order); None if none."""
    out = np.full(n_c, None, dtype=object)
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        present = codes >= 0
    else:
        codes = None
        present = col.notna().to_numpy(dtype=bool)
    if order is not None:
        present = present[order]
    rows = np.flatnonzero(present)
    if not len(rows):
        return out
    ckr = ck[rows]
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = ckr[1:] != ckr[:-1]  # rows are grouped by container: the last of each run
    rows = rows[last]
    src = rows if order is None else order[rows]
    if codes is not None:
        out[ckr[last]] = col.cat.categories.to_numpy(dtype=object)[codes[src]]
    else:
        out[ckr[last]] = col.to_numpy(dtype=object)[src]
    return out


def _with_none(uni: np.ndarray) -> np.ndarray:
    """The values with None appended, so code -1 picks None."""
    return np.concatenate([uni, np.array([None], dtype=object)])


def _lookup(uni: np.ndarray, codes: np.ndarray) -> np.ndarray:
    return _with_none(uni)[codes]


def merge_coverage(cov: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """host -> sorted, merged [start, end) arrays."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if cov.empty:
        return out
    for host, grp in cov.groupby("host", sort=False):
        g = grp.sort_values("start_ns")
        s = g["start_ns"].to_numpy(dtype=np.int64)
        e = np.maximum(g["end_ns"].to_numpy(dtype=np.int64), s)
        # Merge overlaps: a new run starts where start > running max of previous ends.
        run_end = np.maximum.accumulate(e)
        new = np.ones(len(s), dtype=bool)
        new[1:] = s[1:] > run_end[:-1]
        ids = np.cumsum(new) - 1
        ms = s[new]
        me = np.zeros(len(ms), dtype=np.int64)
        np.maximum.at(me, ids, e)
        keep = me > ms
        out[str(host)] = (ms[keep], me[keep])
    return out


def service_key(project: object, service: object, name: object) -> str:
    """compose project/service, or the container name without compose."""
    if isinstance(project, str) and project and isinstance(service, str) and service:
        return f"{project}/{service}"
    return str(name) if isinstance(name, str) and name else "?"


def _policy_strings(facts: pd.DataFrame) -> np.ndarray:
    return np.array(
        [
            rules.format_policy(p if isinstance(p, str) else None, None if pd.isna(m) else int(m))
            for p, m in zip(facts["restart_policy"], facts["restart_max_retries"], strict=True)
        ],
        dtype=object,
    )


def build_timeline(
    history: History,
    window: Window,
    *,
    extra_breaks_ns: np.ndarray | None = None,
    context_start_ns: int | None = None,
) -> Timeline:
    """Segments over [context_start, window.end) (context_start defaults to the window start;
    an earlier one serves SLO burn rates that look back past the window)."""
    ws, we = window.start_ns, window.end_ns
    cs0 = min(ws, context_start_ns) if context_start_ns is not None else ws
    ev = history.events
    if ev is None or len(ev) == 0:
        return _empty_timeline(window)

    # --- container codes -------------------------------------------------------------------
    # Strings become integer codes once (a Categorical's own codes, else pandas.factorize, in
    # C); everything after works on int codes and never builds a Python object per event.
    h_codes, h_uni = _codes(ev["host"])
    c_codes, c_uni = _codes(ev["container_id"])
    base_c = len(c_uni) + 1
    pair = (h_codes.astype(np.int64) + 1) * base_c + (c_codes.astype(np.int64) + 1)
    del h_codes, c_codes
    ck_ev, pair_uni = pd.factorize(pair)
    del pair
    ck_ev = ck_ev.astype(np.int64)
    n_c = len(pair_uni)
    host_code_of_ck = pair_uni // base_c - 1
    host_of_ck = _lookup(h_uni, host_code_of_ck)
    cid_of_ck = _lookup(c_uni, pair_uni % base_c - 1)

    t_ev = ev["time_ns"].to_numpy(dtype=np.int64)
    kind_codes, kind_uni = _codes(ev["kind"])
    kind_map = np.array([K.get(str(k), K_OTHER) for k in kind_uni] + [K_OTHER], dtype=np.int16)
    kc_ev = kind_map[kind_codes]  # code -1 -> the appended K_OTHER
    del kind_codes
    is_h = kc_ev == K["health_status"]
    if is_h.any():
        hl_codes, hl_uni = _codes(ev["health"])
        health_map = np.full(len(hl_uni) + 1, K["health_status"], dtype=np.int16)
        health_map[: len(hl_uni)][hl_uni == "healthy"] = K_HEALTHY
        health_map[: len(hl_uni)][hl_uni == "unhealthy"] = K_UNHEALTHY
        kc_ev = np.where(is_h, health_map[hl_codes], kc_ev)
        del hl_codes
    del is_h
    # Cause hints of inferred rows, as cause codes (0: none, or not a die cause).
    hint_codes, hint_uni = _codes(ev["cause_hint"])
    hint_map = np.zeros(len(hint_uni) + 1, dtype=np.int16)
    for hi, h in enumerate(hint_uni):
        if h in DIE_CAUSES:
            hint_map[hi] = _C[str(h)]
    hint_ev = hint_map[hint_codes]
    del hint_codes
    exit_ev = ev["exit_code"].to_numpy(dtype=np.float64, na_value=np.nan)
    inf_ev = ev["inferred"].to_numpy(dtype=bool)

    # --- event order: by container, time, and the tie rank inside one nanosecond ------------
    # The store hands events sorted by (host, container_id, time_ns): then every order here is
    # the identity, checked in one pass; otherwise they are sorted here.
    tie_ev = _TIE_RANK[kc_ev]
    ev_order = None if _sorted(ck_ev, t_ev) else np.lexsort((t_ev, ck_ev))
    ev_src = (
        np.arange(len(t_ev)) if _sorted(ck_ev, t_ev, tie_ev) else np.lexsort((tie_ev, t_ev, ck_ev))
    )
    del tie_ev

    # --- per-container descriptors: the last non-null value of each, in time order --------
    ck_by_t = ck_ev if ev_order is None else ck_ev[ev_order]
    desc = pd.DataFrame(
        {
            col: _last_values(ev[col], ev_order, ck_by_t, n_c)
            for col in ("name", "image", "compose_project", "compose_service")
        }
    )
    del ck_by_t, ev_order

    facts = history.facts
    f_ck = np.zeros(0, dtype=np.int64)
    f_t = np.zeros(0, dtype=np.int64)
    f_policy = np.zeros(0, dtype=object)
    has_hc = np.zeros(n_c, dtype=bool)
    stop_timeout_s = np.full(n_c, float(rules.DEFAULT_STOP_TIMEOUT_S))
    if facts is not None and len(facts):
        fh = pd.Index(h_uni).get_indexer(facts["host"].astype(object))
        fc = pd.Index(c_uni).get_indexer(facts["container_id"].astype(object))
        fpair = (fh.astype(np.int64) + 1) * base_c + (fc + 1)
        fck = pd.Index(pair_uni).get_indexer(fpair)
        ok = (fh >= 0) & (fc >= 0) & (fck >= 0)
        fx = facts.loc[ok].copy()
        fx["ck"] = fck[ok]
        fx = fx.sort_values(["ck", "observed_ns"], kind="stable")
        f_ck = fx["ck"].to_numpy(dtype=np.int64)
        f_t = fx["observed_ns"].to_numpy(dtype=np.int64)
        f_policy = _policy_strings(fx)
        hc = fx.groupby("ck")["has_healthcheck"].any()
        has_hc[hc.index.to_numpy(dtype=np.int64)] = hc.to_numpy(dtype=bool)
        st = fx.dropna(subset=["stop_timeout_s"]).groupby("ck")["stop_timeout_s"].last()
        if len(st):
            vals = st.to_numpy(dtype=np.float64)
            stop_timeout_s[st.index.to_numpy(dtype=np.int64)] = np.where(
                vals >= 0, vals, rules.DEFAULT_STOP_TIMEOUT_S
            )
        for col in ("name", "image", "compose_project", "compose_service"):
            fl = fx.dropna(subset=[col]).groupby("ck")[col].last()
            missing = desc[col].isna().to_numpy()
            fill = fl.reindex(np.arange(n_c)).to_numpy(dtype=object)
            desc[col] = np.where(missing, fill, desc[col].to_numpy(dtype=object))
    policy_uni, f_pcode = np.unique(np.append(f_policy, "no").astype(str), return_inverse=True)
    f_pcode = f_pcode[:-1]
    default_pcode = int(np.searchsorted(policy_uni, "no"))

    containers = pd.DataFrame(
        {
            "host": host_of_ck,
            "container_id": cid_of_ck,
            "name": desc["name"].to_numpy(dtype=object),
            "image": desc["image"].to_numpy(dtype=object),
            "compose_project": desc["compose_project"].to_numpy(dtype=object),
            "compose_service": desc["compose_service"].to_numpy(dtype=object),
            "has_healthcheck": has_hc,
        }
    )
    containers["name"] = np.where(
        containers["name"].isna(), containers["container_id"].str[:12], containers["name"]
    )
    containers["service"] = np.array(
        [
            service_key(p, s, n)
            for p, s, n in zip(
                desc["compose_project"].to_numpy(dtype=object),
                desc["compose_service"].to_numpy(dtype=object),
                containers["name"].to_numpy(dtype=object),
                strict=True,
            )
        ],
        dtype=object,
    )

    # --- maintenance: which containers each row covers --------------------------------------
    maint = history.maintenance if history.maintenance is not None else pd.DataFrame()
    maint_targets: list[tuple[np.ndarray, int, int, int]] = []
    if len(maint):
        names = containers["name"].to_numpy(dtype=object)
        services = containers["service"].to_numpy(dtype=object)
        csvc = containers["compose_service"].to_numpy(dtype=object)
        for row in maint.to_dict("records"):
            target = str(row["target"])
            if row["target_kind"] == "service":
                match = (services == target) | ((csvc == target) & ("/" not in target))
                match |= (names == target) & pd.isna(csvc)
            else:
                match = names == target
            if isinstance(row["host"], str) and row["host"]:
                match &= host_of_ck == row["host"]
            cks = np.flatnonzero(match)
            if len(cks):
                code = _C["deploy"] if row["kind"] == "deploy" else _C["maintenance"]
                maint_targets.append((cks, int(row["start_ns"]), int(row["end_ns"]), code))

    # --- marker rows ------------------------------------------------------------------------
    coverage = merge_coverage(history.coverage if history.coverage is not None else pd.DataFrame())
    all_ck = np.arange(n_c, dtype=np.int64)
    m_ck: list[np.ndarray] = []
    m_t: list[np.ndarray] = []
    base_breaks = [cs0, ws, we]
    if extra_breaks_ns is not None:
        base_breaks.extend(int(b) for b in extra_breaks_ns if cs0 < b < we)
    base = np.unique(np.asarray(base_breaks, dtype=np.int64))
    m_ck.append(np.repeat(all_ck, len(base)))
    m_t.append(np.tile(base, n_c))
    for host, (cs, ce) in coverage.items():
        edges = np.unique(np.concatenate([cs, ce]))
        edges = edges[(edges > cs0) & (edges < we)]
        if len(edges):
            cks = np.flatnonzero(host_of_ck == host)
            if not len(cks):
                continue
            m_ck.append(np.repeat(cks, len(edges)))
            m_t.append(np.tile(edges, len(cks)))
    for cks, ms, me, _code in maint_targets:
        edges = np.array([e for e in (ms, me) if cs0 < e < we], dtype=np.int64)
        if len(edges):
            m_ck.append(np.repeat(cks, len(edges)))
            m_t.append(np.tile(edges, len(cks)))
    fin = (f_t > cs0) & (f_t < we)
    m_ck.append(f_ck[fin])
    m_t.append(f_t[fin])
    mk_ck = np.concatenate(m_ck)
    mk_t = np.concatenate(m_t)

    n_ev = len(t_ev)
    n_mk = len(mk_t)
    # Merge the markers into the sorted events without sorting the events again: every time
    # becomes its rank among the distinct marker times (2j+1 for a marker at the j-th, 2j for
    # an event after the (j-1)-th and up to the j-th, so an event at a marker's nanosecond
    # comes first), and one stable sort of (ck, rank) keeps the events' own order.
    ev_ck = ck_ev[ev_src]
    ev_t = t_ev[ev_src]
    mk_uni = np.unique(mk_t)
    width = 2 * len(mk_uni) + 2
    key = np.concatenate(
        [
            ev_ck * width + 2 * np.searchsorted(mk_uni, ev_t, side="left"),
            mk_ck * width + 2 * np.searchsorted(mk_uni, mk_t, side="left") + 1,
        ]
    )
    order = np.argsort(key, kind="stable")
    del key
    ck = np.concatenate([ev_ck, mk_ck])[order]
    t = np.concatenate([ev_t, mk_t])[order]
    del ev_ck, ev_t
    src = np.concatenate([ev_src, np.full(n_mk, -1, dtype=ev_src.dtype)])[order]
    kc = np.where(src >= 0, kc_ev[np.maximum(src, 0)] if n_ev else K_MARKER, K_MARKER).astype(
        np.int16
    )
    del order
    n = len(t)
    real = src >= 0
    srcx = np.maximum(src, 0)
    exit_code = np.where(real, exit_ev[srcx] if n_ev else np.nan, np.nan)
    inferred = np.where(real, inf_ev[srcx] if n_ev else False, False)
    hint_cause = np.where(real, hint_ev[srcx], 0).astype(np.int16)
    del srcx
    first, last, gstart, gend = _group_bounds(ck)

    # --- policy in effect at each row (facts asof; before the first observation: the first) --
    pcode = np.full(n, default_pcode, dtype=np.int64)
    if len(f_t):
        q_ck = np.concatenate([f_ck, ck])
        q_t = np.concatenate([f_t, t])
        q_isf = np.concatenate([np.ones(len(f_t), bool), np.zeros(n, bool)])
        q_src = np.concatenate([np.arange(len(f_t)), np.arange(n)])
        qo = np.lexsort((~q_isf, q_t, q_ck))
        q_ck, q_isf, q_src = q_ck[qo], q_isf[qo], q_src[qo]
        _, _, qgs, qge = _group_bounds(q_ck)
        back = ffill_idx(q_isf, qgs)
        fwd = bfill_idx(q_isf, qge)
        pick = np.where(back >= 0, back, fwd)
        rows = ~q_isf
        fact_idx = np.where(pick[rows] >= 0, q_src[np.maximum(pick[rows], 0)], -1)
        row_pos = q_src[rows]
        got = fact_idx >= 0
        pcode[row_pos[got]] = f_pcode[fact_idx[got]]
    clean_fail_by_code = np.array([rules.clean_exit_is_failure(p) for p in policy_uni], dtype=bool)

    # --- die causes ---------------------------------------------------------------------------
    is_die = kc == K["die"]
    is_start = (kc == K["start"]) | (kc == K["restart"])
    t_f = t.astype(np.float64)
    ls = ffill_idx(is_start, gstart)
    last_start_t = np.where(ls >= 0, t[np.maximum(ls, 0)], I64_MIN)
    lk = ffill_idx(real & ((kc == K["kill"]) | (kc == K["stop"])), gstart)
    last_kill_t = np.where(lk >= 0, t[np.maximum(lk, 0)], I64_MIN)
    lo = ffill_idx(kc == K["oom"], gstart)
    last_oom_t = np.where(lo >= 0, t[np.maximum(lo, 0)], I64_MIN)
    grace_ns = (stop_timeout_s[ck] + rules.STOP_SLACK_S) * NS
    user = (lk >= 0) & (last_kill_t >= last_start_t) & ((t_f - last_kill_t) <= grace_ns)
    oom = ((lo >= 0) & (last_oom_t >= last_start_t)) | (hint_cause == _C["oom"])
    start_fail = np.isin(exit_code, list(rules.START_FAILURE_CODES)) | (
        hint_cause == _C["start_failure"]
    )
    redeploy = _redeploy(is_die, kc, ck, t, gend, containers, host_of_ck)
    clean_fail = clean_fail_by_code[pcode]
    die_cause = np.select(
        [
            hint_cause > 0,
            oom,
            redeploy,
            user,
            start_fail,
            exit_code == 0,
        ],
        [
            hint_cause,
            _C["oom"],
            _C["redeploy"],
            _C["user_stop"],
            _C["start_failure"],
            _C["clean_exit"],
        ],
        default=_C["crash"],
    ).astype(np.int16)
    die_state_tab = np.full(len(CAUSE_NAMES), DOWN, dtype=np.int8)
    for c_code, s_code in _DIE_STATE.items():
        die_state_tab[c_code] = s_code
    die_state = die_state_tab[die_cause]
    die_state = np.where((die_cause == _C["clean_exit"]) & clean_fail, DOWN, die_state)

    # --- state after each row ---------------------------------------------------------------
    set_state = np.where(real, _KIND_STATE[kc], -1).astype(np.int8)
    set_cause = np.where(real, _KIND_CAUSE[kc], 0).astype(np.int16)
    set_state = np.where(is_die, die_state, set_state)
    set_cause = np.where(is_die, die_cause, set_cause)
    # Before a container's first event: absent if that event is its creation, else no data.
    first_real = bfill_idx(real, gend)[gstart]
    init_kind = np.where(first_real >= 0, kc[np.maximum(first_real, 0)], -1)
    init_state = np.where(init_kind == K["create"], PLANNED, UNKNOWN).astype(np.int8)
    init_cause = np.where(init_kind == K["create"], _C["absent"], _C["no_data"]).astype(np.int16)
    fill_first = first & (set_state < 0)
    set_state = np.where(fill_first, init_state, set_state)
    set_cause = np.where(fill_first, init_cause, set_cause)
    # A container with a health check recovers when healthy: a start after a failure keeps it
    # down until then.
    hc_start = is_start & has_hc[ck]
    if hc_start.any():
        s1 = set_state.copy()
        s1[hc_start & ~first] = -1
        idx1 = ffill_idx(s1 >= 0, gstart)
        prev1 = np.empty(n, dtype=np.int8)
        prev1[1:] = s1[idx1][:-1]
        keep_down = hc_start & ~first & (prev1 == DOWN)
        set_state = np.where(keep_down, -1, set_state).astype(np.int8)
    idx = ffill_idx(set_state >= 0, gstart)
    state = set_state[idx]
    cause = set_cause[idx]
    state_before = np.empty(n, dtype=np.int8)
    state_before[1:] = state[:-1]
    state_before[first] = init_state[first]
    running_mark = is_start | (kc == K["unpause"]) | is_die
    rm = ffill_idx(running_mark, gstart)
    running_before = np.ones(n, dtype=bool)
    prev_rm = np.empty(n, dtype=np.int64)
    prev_rm[1:] = rm[:-1]
    prev_rm[first] = -1
    running_before = np.where(prev_rm >= 0, ~is_die[np.maximum(prev_rm, 0)], True)

    # --- segments ---------------------------------------------------------------------------
    seg_end = np.empty(n, dtype=np.int64)
    seg_end[:-1] = t[1:]
    seg_end[last] = we
    seg_ok = (t >= cs0) & (t < we) & (seg_end > t)
    s_idx = np.flatnonzero(seg_ok)
    seg_ck = ck[s_idx]
    seg_s = t[s_idx]
    seg_e = seg_end[s_idx]
    seg_state = state[s_idx].copy()
    seg_cause = cause[s_idx].copy()

    # Known time: covered, or proven by an inferred event until the collector next resumed.
    lr = ffill_idx(real, gstart)[s_idx]
    lr_inf = np.where(lr >= 0, inferred[np.maximum(lr, 0)], False)
    lr_t = np.where(lr >= 0, t[np.maximum(lr, 0)], I64_MIN)
    known = np.zeros(len(s_idx), dtype=bool)
    # Hosts as codes: comparing strings per segment costs more than all the rest here.
    host_code = {h: i for i, h in enumerate(h_uni) if isinstance(h, str)}
    cov_codes = [host_code[h] for h in coverage if h in host_code]
    seg_hcode = host_code_of_ck[seg_ck]
    for host, (cs, ce) in coverage.items():
        if host not in host_code:
            continue
        sel = np.flatnonzero(seg_hcode == host_code[host])
        if not len(sel):
            continue
        s = seg_s[sel]
        i = np.searchsorted(cs, s, side="right") - 1
        cov = (i >= 0) & (s < ce[np.maximum(i, 0)])
        tl = lr_t[sel]
        j = np.searchsorted(cs, tl, side="right") - 1
        tl_cov = (j >= 0) & (tl < ce[np.maximum(j, 0)])
        nxt = np.searchsorted(cs, tl, side="right")
        next_start = np.where(nxt < len(cs), cs[np.minimum(nxt, len(cs) - 1)], I64_MAX)
        by_inf = lr_inf[sel] & ~tl_cov & (s < next_start)
        known[sel] = cov | by_inf
    no_cov_hosts = ~np.isin(seg_hcode, cov_codes)
    if no_cov_hosts.any():
        known[no_cov_hosts] = lr_inf[no_cov_hosts]
    absent = np.isin(seg_cause, ABSENT_CAUSES) & (seg_state == PLANNED)
    unknown = ~known & ~absent & (seg_state != UNKNOWN)
    seg_state[unknown] = UNKNOWN
    seg_cause[unknown] = _C["no_coverage"]

    # Maintenance: down time inside a declared window is planned.
    ev_in_maint = np.zeros(n, dtype=bool)
    for cks, ms, me, code in maint_targets:
        mck = np.zeros(n_c, dtype=bool)
        mck[cks] = True
        hit = mck[seg_ck] & (seg_s >= ms) & (seg_s < me) & np.isin(seg_state, (DOWN, UNHEALTHY))
        seg_state[hit] = PLANNED
        seg_cause[hit] = code
        ev_in_maint |= mck[ck] & (t >= ms) & (t < me)

    segments = pd.DataFrame(
        {
            "ck": seg_ck,
            "start_ns": seg_s,
            "end_ns": seg_e,
            "state": seg_state,
            "cause": seg_cause,
            "pcode": pcode[s_idx],
        }
    )

    # --- failures, recoveries, restarts -----------------------------------------------------
    in_win = real & (t >= ws) & (t < we)
    die_fail = is_die & (set_state == DOWN) & running_before & (state_before != UNHEALTHY)
    health_fail = (kc == K_UNHEALTHY) & (state_before == UP)
    fail = (die_fail | health_fail) & in_win & ~ev_in_maint
    rec_start = bfill_idx(is_start, gend)
    rec_healthy = bfill_idx(kc == K_HEALTHY, gend)
    rec = np.where(has_hc[ck], rec_healthy, rec_start)
    fi = np.flatnonzero(fail)
    rec_i = rec[fi]
    rec_ns = np.where(rec_i >= 0, t[np.maximum(rec_i, 0)], -1)
    failures = pd.DataFrame(
        {
            "ck": ck[fi],
            "time_ns": t[fi],
            "cause": np.where(kc[fi] == K_UNHEALTHY, _C["unhealthy"], set_cause[fi]),
            "exit_code": exit_code[fi],
            "inferred": inferred[fi],
            "recovered_ns": rec_ns,
            "pcode": pcode[fi],
        }
    )
    ri = np.flatnonzero(is_start & (kc == K["start"]) & in_win & (state_before == DOWN))
    restarts = pd.DataFrame({"ck": ck[ri], "time_ns": t[ri], "pcode": pcode[ri]})
    # Every container has window markers, so each code has a last row, in code order.
    containers["policy"] = policy_uni[pcode[last]].astype(object)
    return Timeline(
        window=window,
        containers=containers,
        segments=segments,
        failures=failures,
        restarts=restarts,
        policies=policy_uni.astype(object),
    )


def _redeploy(
    is_die: np.ndarray,
    kc: np.ndarray,
    ck: np.ndarray,
    t: np.ndarray,
    gend: np.ndarray,
    containers: pd.DataFrame,
    host_of_ck: np.ndarray,
) -> np.ndarray:
    """A `die` of a container that is then destroyed while another container of the same
    service is created within REDEPLOY_SLACK of it: replaced by a deploy."""
    out = np.zeros(len(t), dtype=bool)
    nd = bfill_idx(kc == K["destroy"], gend)
    cand = np.flatnonzero(is_die & (nd >= 0))
    creates = np.flatnonzero(kc == K["create"])
    if not len(cand) or not len(creates):
        return out
    svc = (pd.Series(host_of_ck, dtype=object) + "\x00" + containers["service"]).to_numpy()
    d = pd.DataFrame(
        {"i": cand, "ck": ck[cand], "t": t[cand], "td": t[nd[cand]], "svc": svc[ck[cand]]}
    )
    c = pd.DataFrame({"ck2": ck[creates], "tc": t[creates], "svc": svc[ck[creates]]})
    m = d.merge(c, on="svc")
    slack = REDEPLOY_SLACK_NS
    m = m[(m["ck"] != m["ck2"]) & (m["tc"] >= m["t"] - slack) & (m["tc"] <= m["td"] + slack)]
    out[m["i"].to_numpy(dtype=np.int64)] = True
    return out


REDEPLOY_SLACK_NS = 300 * NS


def _empty_timeline(window: Window) -> Timeline:
    return Timeline(
        window=window,
        containers=pd.DataFrame(
            columns=[
                "host",
                "container_id",
                "name",
                "image",
                "compose_project",
                "compose_service",
                "has_healthcheck",
                "service",
                "policy",
            ]
        ),
        segments=pd.DataFrame(
            {
                "ck": np.zeros(0, np.int64),
                "start_ns": np.zeros(0, np.int64),
                "end_ns": np.zeros(0, np.int64),
                "state": np.zeros(0, np.int8),
                "cause": np.zeros(0, np.int16),
                "pcode": np.zeros(0, np.int64),
            }
        ),
        failures=pd.DataFrame(
            {
                "ck": np.zeros(0, np.int64),
                "time_ns": np.zeros(0, np.int64),
                "cause": np.zeros(0, np.int16),
                "exit_code": np.zeros(0, np.float64),
                "inferred": np.zeros(0, bool),
                "recovered_ns": np.zeros(0, np.int64),
                "pcode": np.zeros(0, np.int64),
            }
        ),
        restarts=pd.DataFrame(
            {
                "ck": np.zeros(0, np.int64),
                "time_ns": np.zeros(0, np.int64),
                "pcode": np.zeros(0, np.int64),
            }
        ),
        policies=np.array(["no"], dtype=object),
    )
