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
from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics import backoff
from docktally.analytics import states as rules
from docktally.analytics.model import DIE_CAUSES, History, Window
from docktally.analytics.services import service_key

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


def _idx_dtype(n: int) -> type[np.signedinteger[Any]]:
    """Row indices in int32 while they fit: half the memory of int64 on millions of rows."""
    return np.int32 if n < 2**31 - 1 else np.int64


def _group_bounds(ck: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(ck)
    first = np.ones(n, dtype=bool)
    first[1:] = ck[1:] != ck[:-1]
    starts = np.flatnonzero(first).astype(_idx_dtype(n))
    counts = np.diff(np.append(starts, n))
    gstart = np.repeat(starts, counts)
    gend = np.repeat(starts + counts.astype(starts.dtype) - 1, counts)
    last = np.zeros(n, dtype=bool)
    last[starts + counts - 1] = True
    return first, last, gstart, gend


def ffill_idx(valid: np.ndarray, gstart: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """Index of the last valid row at or before each row, within its group; -1 if none.
    With `at`, only for those rows (one pass over all rows fewer)."""
    idx = np.where(valid, np.arange(len(valid), dtype=gstart.dtype), -1)
    last = np.maximum.accumulate(idx) if len(idx) else idx
    del idx
    if at is not None:
        last, gstart = last[at], gstart[at]
    return np.where(last >= gstart, last, -1)


def bfill_idx(valid: np.ndarray, gend: np.ndarray, at: np.ndarray | None = None) -> np.ndarray:
    """Index of the first valid row at or after each row, within its group; -1 if none.
    With `at`, only for those rows (one pass over all rows fewer)."""
    n = len(valid)
    idx = np.where(valid, np.arange(n, dtype=gend.dtype), n)
    nxt = np.minimum.accumulate(idx[::-1])[::-1] if n else idx
    del idx
    if at is not None:
        nxt, gend = nxt[at], gend[at]
    return np.where(nxt <= gend, nxt, -1)


def _codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column's codes (NA -> -1) and its distinct values as an object array: a Categorical's
    own codes and categories (no pass over the rows), else pandas.factorize."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy(), col.cat.categories.to_numpy(dtype=object)
    codes, uni = pd.factorize(col)
    return np.asarray(codes), np.asarray(uni, dtype=object)


def _sorted(ck: np.ndarray, t: np.ndarray, tie: np.ndarray) -> tuple[bool, bool]:
    """Are the rows sorted by (ck, t), and by (ck, t, tie)? One pass over both."""
    if len(ck) < 2:
        return True, True
    d_ck = ck[1:] - ck[:-1]
    if (d_ck < 0).any():
        return False, False
    same = d_ck == 0
    del d_ck
    d_t = t[1:] - t[:-1]
    if (same & (d_t < 0)).any():
        return False, False
    same &= d_t == 0
    del d_t
    return True, not (same & (tie[1:] < tie[:-1])).any()


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
    if present.all():  # the usual case: every row has it, so each container's last row
        rows = np.flatnonzero(np.append(ck[1:] != ck[:-1], True))
        ck_last = ck[rows]
    else:
        rows = np.flatnonzero(present)
        if not len(rows):
            return out
        ckr = ck[rows]
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = ckr[1:] != ckr[:-1]  # rows are grouped by container: the last of each run
        rows = rows[last]
        ck_last = ckr[last]
    src = rows if order is None else order[rows]
    if codes is not None:
        out[ck_last] = col.cat.categories.to_numpy(dtype=object)[codes[src]]
    else:
        out[ck_last] = col.to_numpy(dtype=object)[src]
    return out


def _float_at(col: pd.Series, rows: np.ndarray) -> np.ndarray:
    """The column's values at `rows` as float64 (NA -> NaN), without converting it whole."""
    return col.array.take(rows).to_numpy(dtype=np.float64, na_value=np.nan)


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
        if keep.any():  # a coverage row without a heartbeat yet is no span, its host unwatched
            out[str(host)] = (ms[keep], me[keep])
    return out


def _policy_strings(facts: pd.DataFrame) -> np.ndarray:
    return np.array(
        [
            rules.format_policy(p if isinstance(p, str) else None, None if pd.isna(m) else int(m))
            for p, m in zip(facts["restart_policy"], facts["restart_max_retries"], strict=True)
        ],
        dtype=object,
    )


@dataclass
class _Encoded:
    """The events as integer codes (build_timeline's first stage)."""

    ck: np.ndarray  # container code of each event
    n_c: int  # number of containers
    h_uni: np.ndarray  # host strings (codes index them)
    c_uni: np.ndarray  # container id strings
    base_c: int  # (host code + 1) * base_c + (id code + 1) is a container's pair
    pair_uni: np.ndarray  # the pair of each container code
    host_code_of_ck: np.ndarray
    host_of_ck: np.ndarray
    cid_of_ck: np.ndarray
    t: np.ndarray  # time_ns
    kc: np.ndarray  # kind code (health_status split into healthy/unhealthy)
    hint: np.ndarray  # cause code of an inferred row's hint (0: none)
    exit_col: pd.Series  # read only at the rows that need it (see _float_at)
    inferred: np.ndarray

    def take_rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Hand over the per-event container, time and kind arrays (dropped here): the merged
        rows replace them, and millions of values are not kept twice."""
        out = (self.ck, self.t, self.kc)
        self.ck = self.t = self.kc = np.zeros(0, dtype=np.int64)
        return out


def _encode(ev: pd.DataFrame) -> _Encoded:
    """Strings become integer codes once (a Categorical's own codes, else pandas.factorize, in
    C); everything after works on int codes and never builds a Python object per event."""
    h_codes, h_uni = _codes(ev["host"])
    c_codes, c_uni = _codes(ev["container_id"])
    base_c = len(c_uni) + 1
    pair = (h_codes.astype(np.int64) + 1) * base_c + (c_codes.astype(np.int64) + 1)
    del h_codes, c_codes
    ck_ev, pair_uni = pd.factorize(pair)
    del pair
    ck_ev = ck_ev.astype(np.int32 if len(pair_uni) < 2**31 - 1 else np.int64)
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
    # Exit codes are read only at the rows that need them (dies, failures): see _float_at.
    exit_col = ev["exit_code"]
    inf_ev = ev["inferred"].to_numpy(dtype=bool)
    return _Encoded(
        ck=ck_ev,
        n_c=n_c,
        h_uni=h_uni,
        c_uni=c_uni,
        base_c=base_c,
        pair_uni=pair_uni,
        host_code_of_ck=host_code_of_ck,
        host_of_ck=host_of_ck,
        cid_of_ck=cid_of_ck,
        t=t_ev,
        kc=kc_ev,
        hint=hint_ev,
        exit_col=exit_col,
        inferred=inf_ev,
    )


def _event_order(
    ck_ev: np.ndarray, t_ev: np.ndarray, kc_ev: np.ndarray
) -> tuple[np.ndarray | None, np.ndarray]:
    """(the order that sorts the events by container and time, None when they already are;
    the order by container, time and the tie rank inside one nanosecond)."""
    # The store hands events sorted by (host, container_id, time_ns): then every order here is
    # the identity, checked in one pass; otherwise they are sorted here.
    tie_ev = _TIE_RANK[kc_ev]
    by_time, by_rank = _sorted(ck_ev, t_ev, tie_ev)
    if by_time:
        ev_order = None
        if by_rank:
            ev_src = np.arange(len(t_ev))
        else:
            # Only events sharing a nanosecond are out of rank order: a stable sort of (run of
            # equal (container, time), rank), nearly sorted already, puts them right.
            new_run = np.ones(len(t_ev), dtype=bool)
            new_run[1:] = (ck_ev[1:] != ck_ev[:-1]) | (t_ev[1:] != t_ev[:-1])
            run_key = np.cumsum(new_run) * (int(_TIE_RANK.max()) + 1) + tie_ev
            del new_run
            ev_src = np.argsort(run_key, kind="stable")
            del run_key
    else:
        ev_order = np.lexsort((t_ev, ck_ev))
        ev_src = np.lexsort((tie_ev, t_ev, ck_ev))
    del tie_ev
    return ev_order, ev_src


def _maintenance_targets(
    maint: pd.DataFrame | None, containers: pd.DataFrame, host_of_ck: np.ndarray
) -> list[tuple[np.ndarray, int, int, int]]:
    """Each declared maintenance (or deploy) window's containers: (container codes, start,
    end, cause code)."""
    maint = maint if maint is not None else pd.DataFrame()
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
    return maint_targets


def build_timeline(
    history: History,
    window: Window,
    *,
    extra_breaks_ns: np.ndarray | None = None,
    context_start_ns: int | None = None,
) -> Timeline:
    """Segments over [context_start, window.end) (context_start defaults to the window start;
    an earlier one serves SLO burn rates that look back past the window).

    The stages, in order: the events as integer codes (_encode) and their order
    (_event_order); what is known of each container (_describe_containers) and the maintenance
    windows that cover it (_maintenance_targets); marker rows at every boundary (_markers),
    merged with the events (_merge_rows); the cause of every die and the policy in effect
    (_deaths); the state after every row (_states); the segments (_segments); the failures,
    recoveries and restarts (_failures_and_restarts).
    """
    ws, we = window.start_ns, window.end_ns
    cs0 = min(ws, context_start_ns) if context_start_ns is not None else ws
    ev = history.events
    if ev is None or len(ev) == 0:
        return _empty_timeline(window)

    e = _encode(ev)
    ev_order, ev_src = _event_order(e.ck, e.t, e.kc)
    info = _describe_containers(ev, e, ev_order, history.facts)
    del ev_order
    maint_targets = _maintenance_targets(history.maintenance, info.frame, e.host_of_ck)
    engine_stops = _watched_engine_stops(history.engine_restarts)
    coverage = known_spans(history.coverage, history.engine_restarts)
    mk_ck, mk_t = _markers(
        e.host_of_ck, coverage, maint_targets, info, cs0, ws, we, extra_breaks_ns
    )
    rows = _merge_rows(e, ev_src, mk_ck, mk_t)
    del ev_src, mk_ck, mk_t
    deaths = _deaths(rows, e, info, _first_watch(history.coverage, coverage), engine_stops)
    st = _states(rows, deaths, info.has_hc)
    segments = _segments(rows, st, deaths, e, coverage, maint_targets, cs0, we)
    failures, restarts = _failures_and_restarts(rows, st, deaths, e, info, maint_targets, ws, we)
    del st
    containers = info.frame
    # Every container has window markers, so each code has a last row, in code order.
    containers["policy"] = info.policy_uni[deaths.pcode[rows.last]].astype(object)
    return Timeline(
        window=window,
        containers=containers,
        segments=segments,
        failures=failures,
        restarts=restarts,
        policies=info.policy_uni.astype(object),
    )


@dataclass
class _ContainerInfo:
    """What is known of each container code (build_timeline's descriptors and facts stage)."""

    # host, container_id, name, image, compose_project, compose_service, has_healthcheck,
    # service (and, at the end, policy)
    frame: pd.DataFrame
    has_hc: np.ndarray  # bool per container: reports health, or its facts say it has a check
    stop_timeout_s: np.ndarray  # float per container
    f_ck: np.ndarray  # facts rows by container and observed time: container code,
    f_t: np.ndarray  # observed_ns,
    f_pcode: np.ndarray  # and policy code (index into policy_uni)
    policy_uni: np.ndarray  # policy strings
    default_pcode: int  # "unknown": containers without facts


def _describe_containers(
    ev: pd.DataFrame, e: _Encoded, ev_order: np.ndarray | None, facts: pd.DataFrame | None
) -> _ContainerInfo:
    """Per container: the last non-null name, image and compose labels in time order (facts
    fill what the events leave out), its health check, stop timeout and policy history."""
    n_c = e.n_c
    ck_by_t = e.ck if ev_order is None else e.ck[ev_order]
    desc = pd.DataFrame(
        {
            col: _last_values(ev[col], ev_order, ck_by_t, n_c)
            for col in ("name", "image", "compose_project", "compose_service")
        }
    )
    del ck_by_t

    f_ck = np.zeros(0, dtype=np.int64)
    f_t = np.zeros(0, dtype=np.int64)
    f_policy = np.zeros(0, dtype=object)
    has_hc = np.zeros(n_c, dtype=bool)
    stop_timeout_s = np.full(n_c, float(rules.DEFAULT_STOP_TIMEOUT_S))
    if facts is not None and len(facts):
        fh = pd.Index(e.h_uni).get_indexer(facts["host"].astype(object))
        fc = pd.Index(e.c_uni).get_indexer(facts["container_id"].astype(object))
        fpair = (fh.astype(np.int64) + 1) * e.base_c + (fc + 1)
        fck = pd.Index(e.pair_uni).get_indexer(fpair)
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
    # A container that reports health has a health check, facts or not (imports have none).
    has_hc[e.ck[(e.kc == K_HEALTHY) | (e.kc == K_UNHEALTHY)]] = True
    # Containers without facts: "unknown", unless the events prove more (see _infer_policies).
    labels = ["no", rules.UNKNOWN_POLICY, *rules.INFERRED_POLICIES]
    policy_uni, f_pcode = np.unique(np.append(f_policy, labels).astype(str), return_inverse=True)
    f_pcode = f_pcode[: -len(labels)]
    default_pcode = int(np.searchsorted(policy_uni, rules.UNKNOWN_POLICY))

    frame = pd.DataFrame(
        {
            "host": e.host_of_ck,
            "container_id": e.cid_of_ck,
            "name": desc["name"].to_numpy(dtype=object),
            "image": desc["image"].to_numpy(dtype=object),
            "compose_project": desc["compose_project"].to_numpy(dtype=object),
            "compose_service": desc["compose_service"].to_numpy(dtype=object),
            "has_healthcheck": has_hc,
        }
    )
    frame["name"] = np.where(frame["name"].isna(), frame["container_id"].str[:12], frame["name"])
    frame["service"] = np.array(
        [
            service_key(p, s, n)
            for p, s, n in zip(
                desc["compose_project"].to_numpy(dtype=object),
                desc["compose_service"].to_numpy(dtype=object),
                frame["name"].to_numpy(dtype=object),
                strict=True,
            )
        ],
        dtype=object,
    )
    return _ContainerInfo(
        frame=frame,
        has_hc=has_hc,
        stop_timeout_s=stop_timeout_s,
        f_ck=f_ck,
        f_t=f_t,
        f_pcode=f_pcode,
        policy_uni=policy_uni,
        default_pcode=default_pcode,
    )


def _markers(
    host_of_ck: np.ndarray,
    coverage: dict[str, tuple[np.ndarray, np.ndarray]],
    maint_targets: list[tuple[np.ndarray, int, int, int]],
    info: _ContainerInfo,
    cs0: int,
    ws: int,
    we: int,
    extra_breaks_ns: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(container code, time) of a marker row at every boundary that must cut a segment:
    window and period edges for every container, coverage edges of its host, maintenance edges
    of the containers each window covers, and fact changes."""
    n_c = len(host_of_ck)
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
    fin = (info.f_t > cs0) & (info.f_t < we)
    m_ck.append(info.f_ck[fin])
    m_t.append(info.f_t[fin])
    return np.concatenate(m_ck), np.concatenate(m_t)


@dataclass
class _Rows:
    """Events and markers in one order: by container, time and the tie rank."""

    ck: np.ndarray  # container code
    t: np.ndarray  # time_ns
    src: np.ndarray  # the event's index in the input frame, -1 for a marker
    real: np.ndarray  # src >= 0
    kc: np.ndarray  # kind code (K_MARKER for markers)
    first: np.ndarray  # a container's first row
    last: np.ndarray  # a container's last row
    gstart: np.ndarray  # each row's container's first row index
    gend: np.ndarray  # and last row index
    group_first: np.ndarray  # the first rows' indices
    n_ev: int  # how many rows are events
    idx_t: type[np.signedinteger[Any]]  # the integer type of row indices


def _merge_rows(e: _Encoded, ev_src: np.ndarray, mk_ck: np.ndarray, mk_t: np.ndarray) -> _Rows:
    """Merge the markers into the sorted events without sorting the events again: every time
    becomes its rank among the distinct marker times (2j+1 for a marker at the j-th, 2j for an
    event after the (j-1)-th and up to the j-th, so an event at a marker's nanosecond comes
    first), and one stable sort of (ck, rank) keeps the events' own order. The per-event
    container, time and kind arrays are handed over to the rows (not kept twice)."""
    ck_ev, t_ev, kc_ev = e.take_rows()
    n_ev = len(t_ev)
    n_mk = len(mk_t)
    # Row indices fit int32 below 2**31 rows: half the memory of int64 on 10M events.
    idx_t = np.int32 if n_ev + n_mk < 2**31 - 1 else np.int64
    ev_src = ev_src.astype(idx_t, copy=False)
    ev_ck = ck_ev[ev_src]
    del ck_ev
    ev_t = t_ev[ev_src]
    del t_ev
    mk_uni = np.unique(mk_t)
    width = 2 * len(mk_uni) + 2
    key = np.concatenate(
        [
            ev_ck.astype(np.int64) * width + 2 * np.searchsorted(mk_uni, ev_t, side="left"),
            mk_ck.astype(np.int64) * width + 2 * np.searchsorted(mk_uni, mk_t, side="left") + 1,
        ]
    )
    order = np.argsort(key, kind="stable")
    del key
    ck = np.concatenate([ev_ck, mk_ck]).astype(idx_t)[order]
    del ev_ck
    t = np.concatenate([ev_t, mk_t])[order]
    del ev_t
    src = np.concatenate([ev_src, np.full(n_mk, -1, dtype=idx_t)])[order]
    del order
    n = len(t)
    real = src >= 0
    kc = (
        np.where(real, kc_ev[np.maximum(src, 0)], K_MARKER).astype(np.int16)
        if n_ev
        else np.full(n, K_MARKER, dtype=np.int16)
    )
    del kc_ev
    first, last, gstart, gend = _group_bounds(ck)
    return _Rows(
        ck=ck,
        t=t,
        src=src,
        real=real,
        kc=kc,
        first=first,
        last=last,
        gstart=gstart,
        gend=gend,
        group_first=np.flatnonzero(first),
        n_ev=n_ev,
        idx_t=idx_t,
    )


@dataclass
class _Deaths:
    """Every die row's cause and the state it leaves, and the policy in effect at each row."""

    d: np.ndarray  # the die rows
    cause: np.ndarray  # cause code per die
    state: np.ndarray  # state code per die
    unwatched: np.ndarray  # per die: inspect reported it from before anyone watched its host
    pcode: np.ndarray  # policy code per row
    is_die: np.ndarray  # per row
    is_start: np.ndarray  # per row: start or restart


def _deaths(
    rows: _Rows,
    e: _Encoded,
    info: _ContainerInfo,
    first_watch_of_host: dict[str, int],
    engine_stops: dict[str, np.ndarray],
) -> _Deaths:
    ck, t, kc, src = rows.ck, rows.t, rows.kc, rows.src
    n_c = e.n_c
    # Policy in effect at each row (facts as of then; before the first observation, the first).
    pcode = _policy_codes(ck, t, info.f_ck, info.f_t, info.f_pcode, info.default_pcode, n_c)
    clean_fail_by_code = np.array(
        [rules.clean_exit_is_failure(p) for p in info.policy_uni], dtype=bool
    )
    is_die = kc == K["die"]
    is_start = (kc == K["start"]) | (kc == K["restart"])
    d = np.flatnonzero(is_die)
    d_src = src[d]
    # A die inspect reported from before anyone watched its host (a collector's first start):
    # not a failure of any window, and the time until the watch began is unknown.
    first_watch = np.full(n_c, I64_MIN, dtype=np.int64)
    for host, start in first_watch_of_host.items():
        first_watch[e.host_of_ck == host] = start
    if rows.n_ev:
        unwatched_d = e.inferred[np.maximum(d_src, 0)] & (t[d] < first_watch[ck[d]])
    else:
        unwatched_d = d < 0
    die_cause, die_state = _die_causes(
        d,
        kc=kc,
        ck=ck,
        t=t,
        real=rows.real,
        is_start=is_start,
        gstart=rows.gstart,
        exit_code=_float_at(e.exit_col, d_src),
        hint_cause=e.hint[d_src],
        clean_fail=clean_fail_by_code[pcode[d]],
        stop_timeout_s=info.stop_timeout_s,
        redeploy=_redeploy(is_die, kc, ck, t, rows.gend, info.frame, e.host_of_ck)[d],
        engine_stop_ns=_next_engine_stop(t[d], e.host_of_ck[ck[d]], engine_stops),
        unwatched=unwatched_d,
    )

    # Containers without facts: the policy the engine's restarts in the events prove.
    no_facts = np.ones(n_c, dtype=bool)
    no_facts[info.f_ck] = False
    if no_facts.any() and len(d):
        label = _infer_policies(
            d,
            die_cause,
            kc=kc,
            ck=ck,
            t=t,
            real=rows.real,
            inferred=e.inferred[np.maximum(src, 0)],
            is_start=is_start,
            gstart=rows.gstart,
            gend=rows.gend,
            exit_code=_float_at(e.exit_col, d_src),
            n_c=n_c,
        )
        codes = np.searchsorted(info.policy_uni, np.array(rules.INFERRED_POLICIES))
        ck_code = np.full(n_c, -1, dtype=np.int64)
        ck_code[no_facts & (label == 1)] = codes[0]
        ck_code[no_facts & (label == 2)] = codes[1]
        row_code = ck_code[ck]
        pcode = np.where(row_code >= 0, row_code, pcode).astype(pcode.dtype)
        # Only a clean exit's state depends on the policy.
        ce = die_cause == _C["clean_exit"]
        die_state[ce] = np.where(clean_fail_by_code[pcode[d[ce]]], DOWN, PLANNED)
    return _Deaths(
        d=d,
        cause=die_cause,
        state=die_state,
        unwatched=unwatched_d,
        pcode=pcode,
        is_die=is_die,
        is_start=is_start,
    )


@dataclass
class _States:
    """The state (and its cause) after each row, and what each row itself set."""

    state: np.ndarray  # state code after each row (carried forward)
    cause: np.ndarray  # cause code after each row
    set_state: np.ndarray  # what the row itself set (-1: nothing)
    set_cause: np.ndarray
    before: np.ndarray  # state code just before each row


def _states(rows: _Rows, deaths: _Deaths, has_hc: np.ndarray) -> _States:
    kc, ck, d = rows.kc, rows.ck, deaths.d
    set_state = _KIND_STATE[kc]  # markers set nothing (-1)
    set_cause = _KIND_CAUSE[kc]
    set_state[d] = deaths.state
    set_cause[d] = deaths.cause
    _keep_engine_restart_down(
        set_state, set_cause, d, deaths.cause, kc, deaths.is_die | deaths.is_start, rows.gstart
    )
    # Before a container's first event: absent if that event is its creation, else no data.
    group_first = rows.group_first
    first_real = bfill_idx(rows.real, rows.gend, at=group_first)
    init_kind = np.where(first_real >= 0, kc[np.maximum(first_real, 0)], -1)
    del first_real
    init_state = np.where(init_kind == K["create"], PLANNED, UNKNOWN).astype(np.int8)
    init_cause = np.where(init_kind == K["create"], _C["absent"], _C["no_data"]).astype(np.int16)
    fill = set_state[group_first] < 0
    set_state[group_first[fill]] = init_state[fill]
    set_cause[group_first[fill]] = init_cause[fill]
    # A container with a health check recovers when healthy: a start after a failure keeps it
    # down until then.
    hc_start = deaths.is_start & has_hc[ck]
    hc_start &= ~rows.first
    if hc_start.any():
        s1 = set_state.copy()
        s1[hc_start] = -1
        idx1 = ffill_idx(s1 >= 0, rows.gstart)
        r = np.flatnonzero(hc_start)
        keep_down = s1[idx1[r - 1]] == DOWN  # r is never a group's first row
        del s1, idx1
        set_state[r[keep_down]] = -1
    del hc_start
    idx = ffill_idx(set_state >= 0, rows.gstart)
    state = set_state[idx]
    cause = set_cause[idx]
    del idx
    before = np.empty(len(state), dtype=np.int8)
    before[1:] = state[:-1]
    before[group_first] = init_state
    return _States(
        state=state, cause=cause, set_state=set_state, set_cause=set_cause, before=before
    )


def _segments(
    rows: _Rows,
    st: _States,
    deaths: _Deaths,
    e: _Encoded,
    coverage: dict[str, tuple[np.ndarray, np.ndarray]],
    maint_targets: list[tuple[np.ndarray, int, int, int]],
    cs0: int,
    we: int,
) -> pd.DataFrame:
    """One segment per row inside [cs0, we), up to the next row: its state, unknown where no
    coverage (or inferred event) makes the time known, planned inside maintenance."""
    ck, t, src, real = rows.ck, rows.t, rows.src, rows.real
    n = len(t)
    seg_end = np.empty(n, dtype=np.int64)
    seg_end[:-1] = t[1:]
    seg_end[rows.last] = we
    s_idx = np.flatnonzero((t >= cs0) & (t < we) & (seg_end > t)).astype(rows.idx_t)
    seg_ck = ck[s_idx]
    seg_s = t[s_idx]
    seg_e = seg_end[s_idx]
    del seg_end
    seg_state = st.state[s_idx]
    seg_cause = st.cause[s_idx]

    # Known time: covered, or proven by an inferred event until the collector next resumed.
    # (Without inferred events, only coverage: the rest is skipped, ~1 s of 10M events.)
    inf_ev = e.inferred
    lr_inf: np.ndarray | None = None
    lr_t = np.zeros(0, dtype=np.int64)
    if rows.n_ev and inf_ev.any():
        lr = ffill_idx(real, rows.gstart, at=s_idx)
        lr_ok = lr >= 0
        lr_x = np.maximum(lr, 0)
        del lr
        unwatched = np.zeros(n, dtype=bool)
        unwatched[deaths.d[deaths.unwatched]] = True
        lr_inf = np.where(lr_ok, inf_ev[np.maximum(src[lr_x], 0)] & ~unwatched[lr_x], False)
        del unwatched
        lr_t = np.where(lr_ok, t[lr_x], I64_MIN)
        del lr_ok, lr_x
    known = np.zeros(len(s_idx), dtype=bool)
    # Hosts as codes: comparing strings per segment costs more than all the rest here.
    host_code_of_ck = e.host_code_of_ck
    host_code = {h: i for i, h in enumerate(e.h_uni) if isinstance(h, str)}
    cov_codes = [host_code[h] for h in coverage if h in host_code]
    one_host = len(host_code_of_ck) > 0 and bool((host_code_of_ck == host_code_of_ck[0]).all())
    seg_hcode = None if one_host else host_code_of_ck.astype(np.int32)[seg_ck]
    for host, (cs, ce) in coverage.items():
        if host not in host_code:
            continue
        if seg_hcode is None:
            if host_code[host] != host_code_of_ck[0]:
                continue
            sel: Any = slice(None)
        else:
            sel = np.flatnonzero(seg_hcode == host_code[host])
            if not len(sel):
                continue
        s = seg_s[sel]
        i = np.searchsorted(cs, s, side="right") - 1
        cov = (i >= 0) & (s < ce[np.maximum(i, 0)])
        del i
        if lr_inf is None:
            known[sel] = cov
            del s, cov
            continue
        tl = lr_t[sel]
        j = np.searchsorted(cs, tl, side="right") - 1
        tl_cov = (j >= 0) & (tl < ce[np.maximum(j, 0)])
        nxt = j + 1
        del j
        next_start = np.where(nxt < len(cs), cs[np.minimum(nxt, len(cs) - 1)], I64_MAX)
        del nxt
        by_inf = lr_inf[sel] & ~tl_cov & (s < next_start)
        known[sel] = cov | by_inf
        del s, cov, tl, tl_cov, next_start, by_inf
    if lr_inf is not None:  # hosts nobody covered: known only through inferred events
        if seg_hcode is None:
            no_cov_hosts = np.full(len(s_idx), int(host_code_of_ck[0]) not in cov_codes)
        else:
            no_cov_hosts = ~np.isin(seg_hcode, cov_codes)
        if no_cov_hosts.any():
            known[no_cov_hosts] = lr_inf[no_cov_hosts]
        del no_cov_hosts
    del seg_hcode, lr_inf, lr_t
    absent = np.isin(seg_cause, ABSENT_CAUSES) & (seg_state == PLANNED)
    unknown = ~known & ~absent & (seg_state != UNKNOWN)
    del known, absent
    seg_state[unknown] = UNKNOWN
    seg_cause[unknown] = _C["no_coverage"]
    del unknown

    # Maintenance: down time inside a declared window is planned.
    for cks, ms, me, code in maint_targets:
        mck = np.zeros(e.n_c, dtype=bool)
        mck[cks] = True
        hit = mck[seg_ck] & (seg_s >= ms) & (seg_s < me) & np.isin(seg_state, (DOWN, UNHEALTHY))
        seg_state[hit] = PLANNED
        seg_cause[hit] = code

    return pd.DataFrame(
        {
            "ck": seg_ck.astype(np.int64),
            "start_ns": seg_s,
            "end_ns": seg_e,
            "state": seg_state,
            "cause": seg_cause,
            "pcode": deaths.pcode[s_idx].astype(np.int64),
        },
        copy=False,  # the arrays are ours: no second copy of millions of rows
    )


def _failures_and_restarts(
    rows: _Rows,
    st: _States,
    deaths: _Deaths,
    e: _Encoded,
    info: _ContainerInfo,
    maint_targets: list[tuple[np.ndarray, int, int, int]],
    ws: int,
    we: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The failures in [ws, we) (a die that left a running container down, or unhealthy while
    up; not inside maintenance) with their recovery, and the restarts (starts out of down)."""
    ck, t, kc, src, gend = rows.ck, rows.t, rows.kc, rows.src, rows.gend
    d, is_die, is_start, pcode = deaths.d, deaths.is_die, deaths.is_start, deaths.pcode
    in_win = rows.real & (t >= ws) & (t < we)
    # Whether the container was running just before each die: the last start/unpause/die.
    rm = ffill_idx(is_start | (kc == K["unpause"]) | is_die, rows.gstart, at=np.maximum(d - 1, 0))
    d_prev = np.where(rows.first[d], -1, rm)
    del rm
    running_before_d = np.where(d_prev >= 0, ~is_die[np.maximum(d_prev, 0)], True)
    del d_prev
    die_fail = np.zeros(len(t), dtype=bool)
    die_fail[d] = (
        (st.set_state[d] == DOWN)
        & running_before_d
        & (st.before[d] != UNHEALTHY)
        & ~deaths.unwatched
    )
    health_fail = (kc == K_UNHEALTHY) & (st.before == UP)
    fi = np.flatnonzero((die_fail | health_fail) & in_win)
    del die_fail, health_fail
    if maint_targets and len(fi):
        ev_in_maint = np.zeros(len(fi), dtype=bool)
        f_ck_rows, f_t_rows = ck[fi], t[fi]
        for cks, ms, me, _code in maint_targets:
            mck = np.zeros(e.n_c, dtype=bool)
            mck[cks] = True
            ev_in_maint |= mck[f_ck_rows] & (f_t_rows >= ms) & (f_t_rows < me)
        fi = fi[~ev_in_maint]
    rec_start = bfill_idx(is_start, gend, at=fi)
    rec_healthy = bfill_idx(kc == K_HEALTHY, gend, at=fi)
    rec_i = np.where(info.has_hc[ck[fi]], rec_healthy, rec_start)
    rec_ns = np.where(rec_i >= 0, t[np.maximum(rec_i, 0)], -1)
    fsrc = np.maximum(src[fi], 0)
    ri = np.flatnonzero(is_start & (kc == K["start"]) & in_win & (st.before == DOWN))
    f_restarts = _restarts_per_failure(fi, rec_i, ck, gend, ri)
    failures = pd.DataFrame(
        {
            "ck": ck[fi].astype(np.int64),
            "time_ns": t[fi],
            "cause": np.where(kc[fi] == K_UNHEALTHY, _C["unhealthy"], st.set_cause[fi]),
            "exit_code": _float_at(e.exit_col, fsrc),
            "inferred": e.inferred[fsrc] if rows.n_ev else np.zeros(len(fi), dtype=bool),
            "recovered_ns": rec_ns,
            "restarts": f_restarts,
            "pcode": pcode[fi].astype(np.int64),
        }
    )
    restarts = pd.DataFrame(
        {
            "ck": ck[ri].astype(np.int64),
            "time_ns": t[ri],
            "pcode": pcode[ri].astype(np.int64),
        }
    )
    return failures, restarts


def _restarts_per_failure(
    fi: np.ndarray, rec_i: np.ndarray, ck: np.ndarray, gend: np.ndarray, ri: np.ndarray
) -> np.ndarray:
    """Per failure row, the restarts (rows `ri`) after it, up to its recovery and before the
    container's next failure: 0 for an unhealthy spell that ended by itself."""
    bound = np.where(rec_i >= 0, rec_i, gend[fi]).astype(np.int64)
    if len(fi) > 1:
        next_same = np.append(ck[fi[1:]] == ck[fi[:-1]], False)
        next_fi = np.append(fi[1:], 0).astype(np.int64) - 1
        bound = np.where(next_same, np.minimum(bound, next_fi), bound)
    return (
        np.searchsorted(ri, bound, side="right") - np.searchsorted(ri, fi, side="right")
    ).astype(np.int64)


def _infer_policies(
    d: np.ndarray,
    die_cause: np.ndarray,
    *,
    kc: np.ndarray,
    ck: np.ndarray,
    t: np.ndarray,
    real: np.ndarray,
    inferred: np.ndarray,
    is_start: np.ndarray,
    gstart: np.ndarray,
    gend: np.ndarray,
    exit_code: np.ndarray,
    n_c: int,
) -> np.ndarray:
    """Per container code: 2 when the engine restarted it after an exit 0 (always or
    unless-stopped), 1 after other exits only (at least on-failure), 0 when the events show no
    restart by the engine. The engine's restart: a die nobody asked for (no kill/stop; not a
    redeploy or an engine restart) whose next event is a start within the engine's back-off
    (100 ms doubling per consecutive restart after runs under 10 s) plus start slack."""
    n = len(t)
    nxt = bfill_idx(real, gend, at=np.minimum(d + 1, n - 1))
    ok = (nxt >= 0) & (d + 1 < n)
    nx = np.maximum(nxt, 0)
    ok &= (ck[nx] == ck[d]) & (kc[nx] == K["start"]) & ~inferred[nx] & ~inferred[d]
    ok &= ~np.isin(die_cause, [_C["user_stop"], _C["redeploy"], _C["engine_restart"]])
    # The delay the engine used: consecutive restarts after runs under 10 s double it.
    ls = ffill_idx(is_start, gstart, at=d)
    run = np.where(ls >= 0, t[d] - t[np.maximum(ls, 0)], I64_MAX)
    first_die = np.ones(len(d), dtype=bool)
    first_die[1:] = ck[d[1:]] != ck[d[:-1]]
    reset = first_die | (run >= backoff.RESET_AFTER_RUN_NS)
    idx = np.arange(len(d))
    k = idx - np.maximum.accumulate(np.where(reset, idx, 0))
    delay = np.minimum(backoff.INITIAL_DELAY_NS * np.exp2(np.minimum(k, 16)), backoff.MAX_DELAY_NS)
    ok &= (t[nx] - t[d]) <= delay + backoff.START_SLACK_NS
    out = np.zeros(n_c, dtype=np.int8)
    out[ck[d[ok]]] = 1
    out[ck[d[ok & (exit_code == 0)]]] = 2
    return out


def _policy_codes(
    ck: np.ndarray,
    t: np.ndarray,
    f_ck: np.ndarray,
    f_t: np.ndarray,
    f_pcode: np.ndarray,
    default_pcode: int,
    n_c: int,
) -> np.ndarray:
    """The policy code in effect at each row: of the container's last fact observed at or
    before the row's time, else of its first fact, else the default. Facts are sorted by
    (f_ck, f_t), rows by (ck, t): each side's time becomes its rank among the distinct fact
    times, and one binary search per row finds the fact without sorting the rows again."""
    if not len(f_t):
        return np.full(len(t), default_pcode, dtype=np.int32)
    u = np.unique(f_t)
    w = len(u) + 1
    fkey = f_ck.astype(np.int64) * w + np.searchsorted(u, f_t)
    # A fact of rank j is at or before a time with c distinct fact times <= it iff j < c.
    rkey = ck.astype(np.int64) * w + np.searchsorted(u, t, side="right")
    pos = np.searchsorted(fkey, rkey, side="left") - 1
    del rkey
    codes = np.arange(n_c)
    f_start = np.searchsorted(f_ck, codes, side="left")[ck]
    has = np.searchsorted(f_ck, codes, side="right")[ck] > f_start
    pick = np.where(pos >= f_start, pos, f_start)
    del pos, f_start
    return np.where(has, f_pcode[np.minimum(pick, len(f_pcode) - 1)], default_pcode).astype(
        np.int32
    )


_DIE_STATE_TAB = np.full(len(CAUSE_NAMES), DOWN, dtype=np.int8)
for _c_code, _s_code in _DIE_STATE.items():
    _DIE_STATE_TAB[_c_code] = _s_code


def _die_causes(
    d: np.ndarray,
    *,
    kc: np.ndarray,
    ck: np.ndarray,
    t: np.ndarray,
    real: np.ndarray,
    is_start: np.ndarray,
    gstart: np.ndarray,
    exit_code: np.ndarray,
    hint_cause: np.ndarray,
    clean_fail: np.ndarray,
    stop_timeout_s: np.ndarray,
    redeploy: np.ndarray,
    engine_stop_ns: np.ndarray,
    unwatched: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Cause (code) and state after each `die` row d, by definitions.md's rules in priority order;
    exit_code ... unwatched are given for those rows."""

    def last_before(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        li = ffill_idx(mask, gstart, at=d)
        return li >= 0, np.where(li >= 0, t[np.maximum(li, 0)], I64_MIN)

    _, last_start_t = last_before(is_start)
    has_kill, last_kill_t = last_before(real & ((kc == K["kill"]) | (kc == K["stop"])))
    has_oom, last_oom_t = last_before(kc == K["oom"])
    grace_ns = (stop_timeout_s[ck[d]] + rules.STOP_SLACK_S) * NS
    since_kill = t[d].astype(np.float64) - last_kill_t
    user = has_kill & (last_kill_t >= last_start_t) & (since_kill <= grace_ns)
    # The engine's own SIGTERM on its way down reads like a user's `docker stop`: a die within
    # the grace period before a watched engine stop is the engine restart's.
    engine = user & (engine_stop_ns - t[d].astype(np.float64) <= grace_ns)
    # Exited on SIGTERM/SIGKILL before anyone watched: what `docker stop` leaves behind; the
    # kill that asked for it was never seen.
    user |= unwatched & np.isin(exit_code, list(rules.STOP_EXIT_CODES))
    oom = (has_oom & (last_oom_t >= last_start_t)) | (hint_cause == _C["oom"])
    start_fail = np.isin(exit_code, list(rules.START_FAILURE_CODES)) | (
        hint_cause == _C["start_failure"]
    )
    die_cause = np.select(
        [hint_cause > 0, oom, redeploy, engine, user, start_fail, exit_code == 0],
        [
            hint_cause,
            _C["oom"],
            _C["redeploy"],
            _C["engine_restart"],
            _C["user_stop"],
            _C["start_failure"],
            _C["clean_exit"],
        ],
        default=_C["crash"],
    ).astype(np.int16)
    die_state = _DIE_STATE_TAB[die_cause]
    die_state = np.where((die_cause == _C["clean_exit"]) & clean_fail, DOWN, die_state)
    return die_cause, die_state.astype(np.int8)


def _first_watch(
    coverage: pd.DataFrame | None, spans: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, int]:
    """host -> when a collector first watched it: its first known span's start; for a host
    whose only coverage has no heartbeat yet (no span), that coverage's start."""
    first = {host: int(cs[0]) for host, (cs, _ce) in spans.items()}
    if coverage is not None and len(coverage):
        for host, start in coverage.groupby("host", sort=False)["start_ns"].min().items():
            first.setdefault(str(host), int(start))
    return first


def known_spans(
    coverage: pd.DataFrame | None, restarts: pd.DataFrame | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """host -> the merged [start, end) spans whose time the timeline takes as known: coverage,
    and the engine-down spans a collector watched."""
    return merge_coverage(_with_engine_down(coverage, restarts))


def _with_engine_down(coverage: pd.DataFrame | None, restarts: pd.DataFrame | None) -> pd.DataFrame:
    """Coverage plus the watched engine-down spans: while the engine is down every container's
    state is known (what it was when the engine stopped: down, or up until its inferred die)."""
    cov = coverage if coverage is not None else pd.DataFrame(columns=["host", "start_ns", "end_ns"])
    if restarts is None or not len(restarts):
        return cov
    down = restarts[restarts["watched"].astype(bool)]
    if not len(down):
        return cov
    spans = down[["host", "start_ns", "end_ns"]].assign(source="engine_down")
    return pd.concat([cov, spans], ignore_index=True) if len(cov) else spans


def _watched_engine_stops(restarts: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """host -> sorted times at which the collector saw the engine stop."""
    if restarts is None or not len(restarts):
        return {}
    down = restarts[restarts["watched"].astype(bool)]
    return {
        str(h): np.sort(g["start_ns"].to_numpy(dtype=np.int64))
        for h, g in down.groupby("host", sort=False)
    }


def _next_engine_stop(
    t_d: np.ndarray, host_d: np.ndarray, stops: dict[str, np.ndarray]
) -> np.ndarray:
    """For each die, the first watched engine stop on its host at or after it (inf if none)."""
    out = np.full(len(t_d), np.inf)
    for host, s in stops.items():
        sel = np.flatnonzero(host_d == host)
        if not len(sel):
            continue
        i = np.searchsorted(s, t_d[sel], side="left")
        ok = i < len(s)
        out[sel[ok]] = s[i[ok]].astype(np.float64)
    return out


def _keep_engine_restart_down(
    set_state: np.ndarray,
    set_cause: np.ndarray,
    d: np.ndarray,
    die_cause: np.ndarray,
    kc: np.ndarray,
    die_or_start: np.ndarray,
    gstart: np.ndarray,
) -> None:
    """The `stop` the engine reports after an engine-restart die (kill, die, stop, as for a
    `docker stop`) leaves the container down, not planned."""
    er = d[die_cause == _C["engine_restart"]]
    if not len(er):
        return
    stops = np.flatnonzero(kc == K["stop"])
    if not len(stops):
        return
    prev = ffill_idx(die_or_start, gstart, at=stops)
    er_row = np.zeros(len(kc), dtype=bool)
    er_row[er] = True
    hit = stops[(prev >= 0) & er_row[np.maximum(prev, 0)]]
    set_state[hit] = -1
    set_cause[hit] = 0


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
                "restarts": np.zeros(0, np.int64),
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
