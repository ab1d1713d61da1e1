"""A service's combined state and its failures: the one definition `report --by service`
(across hosts), `--by host,service` and `incidents --scope service` (per host) count (one
replica of two crashing is not a service failure).

A service is up while any of its containers is up; else unhealthy if any is; else down if any
is; else unknown if any is; else planned. A service failure is a transition from up to down or
unhealthy of that combined state; its recovery is the next up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from docktally.analytics.failures import outcome_columns
from docktally.analytics.model import FAILURE_COLUMNS, INTERVAL_COLUMNS
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
    _group_bounds,
    bfill_idx,
)

# Service state, highest first. _ABSENT (planned because a container did not exist) is swept as
# its own lowest level: a service whose old container is gone and whose new one is created
# exists, with the new one's cause.
_ABSENT = 5
SERVICE_PRIORITY = (UP, UNHEALTHY, DOWN, UNKNOWN, PLANNED, _ABSENT)


@dataclass
class ServiceTimeline:
    """Services as integer codes `g`, with their combined-state pieces and failures."""

    keys: pd.DataFrame  # one row per g: host, service (service alone across hosts)
    sk_of_ck: np.ndarray  # container code -> g
    # g, start_ns, end_ns, state (int8), cause (int16), ck (the container that set the state)
    pieces: pd.DataFrame
    # g, time_ns, cause (int16), exit_code (float), recovered_ns (-1: not), ck, pcode (-1: none)
    failures: pd.DataFrame


def service_timeline(tl: Timeline, *, per_host: bool = True) -> ServiceTimeline:
    """The services of `tl`: one per host and service key, or with `per_host=False` one per
    service key across hosts (its replicas on every host make its state)."""
    c = tl.containers
    if per_host:
        skey = (c["host"].astype(str) + "\x00" + c["service"].astype(str)).to_numpy(dtype=object)
    else:
        skey = c["service"].astype(str).to_numpy(dtype=object)
    codes, uni = pd.factorize(skey, use_na_sentinel=False)
    sk_of_ck = codes.astype(np.int32 if len(uni) < 2**31 - 1 else np.int64)
    if per_host:
        keys = pd.DataFrame(
            {
                "host": [u.split("\x00", 1)[0] for u in uni],
                "service": [u.split("\x00", 1)[1] for u in uni],
            }
        )
    else:
        keys = pd.DataFrame({"service": np.asarray(uni, dtype=object)})
    seg = tl.segments
    ck_seg = seg["ck"].to_numpy(dtype=np.int64)
    sk = sk_of_ck[ck_seg]
    s = seg["start_ns"].to_numpy(dtype=np.int64)
    e = seg["end_ns"].to_numpy(dtype=np.int64)
    st = seg["state"].to_numpy(dtype=np.int8)
    ca = seg["cause"].to_numpy(dtype=np.int16)
    st = np.where((st == PLANNED) & np.isin(ca, ABSENT_CAUSES), _ABSENT, st).astype(np.int8)
    # Sweep: +1 at each segment start, -1 at its end, per state level; counts per service
    # return to zero at its end, so one global cumulative sum serves all services.
    m = len(s)
    ev_sk = np.concatenate([sk, sk])
    ev_t = np.concatenate([s, e])
    order = np.lexsort((ev_t, ev_sk))
    ev_sk = ev_sk[order]
    ev_t = ev_t[order]
    ev_st = np.concatenate([st, st])[order]
    ev_d = np.where(order < m, 1, -1).astype(np.int8)  # starts are the first half
    del order
    # The state after all changes at one (service, time).
    lastrow = np.ones(len(ev_t), dtype=bool)
    if len(ev_t):
        lastrow[:-1] = (ev_sk[1:] != ev_sk[:-1]) | (ev_t[1:] != ev_t[:-1])
    p_sk = ev_sk[lastrow]
    p_t = ev_t[lastrow]
    del ev_sk, ev_t
    # One state level at a time: its running count of open segments, read where it matters.
    p_state = np.full(len(p_t), -1, dtype=np.int8)
    for level in reversed(SERVICE_PRIORITY):
        open_n = np.cumsum(np.where(ev_st == level, ev_d, 0), dtype=np.int64)[lastrow]
        p_state = np.where(open_n > 0, level, p_state).astype(np.int8)
        del open_n
    del ev_st, ev_d, lastrow
    p_end = np.empty(len(p_t), dtype=np.int64)
    if len(p_t):
        p_end[:-1] = p_t[1:]
        p_end[-1] = p_t[-1]
        same = np.zeros(len(p_t), dtype=bool)
        same[:-1] = p_sk[1:] == p_sk[:-1]
        p_end = np.where(same, p_end, p_t)
    ok = (p_state >= 0) & (p_end > p_t)
    pieces = pd.DataFrame(
        {"g": p_sk[ok], "start_ns": p_t[ok], "end_ns": p_end[ok], "state": p_state[ok]}
    )
    # Cause of a service piece: the latest-starting container segment in that state (and that
    # container). One int key for (service, state): merge_asof by two columns builds a Python
    # tuple per row.
    cs = pd.DataFrame(
        {"gs": sk.astype(np.int64) * 8 + st, "start_ns": s, "cause": ca, "ck": ck_seg}, copy=False
    ).sort_values("start_ns")
    pieces["gs"] = pieces["g"].to_numpy(dtype=np.int64) * 8 + pieces["state"].to_numpy()
    pieces = pd.merge_asof(
        pieces.sort_values("start_ns"),
        cs,
        on="start_ns",
        by="gs",
        direction="backward",
    ).drop(columns="gs")
    del cs
    pieces["cause"] = pieces["cause"].fillna(0).astype(np.int16)
    pieces["ck"] = pieces["ck"].fillna(-1).astype(np.int64)
    pieces["state"] = np.where(pieces["state"] == _ABSENT, PLANNED, pieces["state"]).astype(np.int8)
    pieces = pieces.sort_values(["g", "start_ns"], kind="stable").reset_index(drop=True)

    # Service failures: up -> down/unhealthy; recovery: the next up piece.
    pg = pieces["g"].to_numpy(dtype=np.int64)
    pst = pieces["state"].to_numpy(dtype=np.int8)
    pstart = pieces["start_ns"].to_numpy(dtype=np.int64)
    pend = pieces["end_ns"].to_numpy(dtype=np.int64)
    prev_same = np.zeros(len(pg), dtype=bool)
    prev_same[1:] = (pg[1:] == pg[:-1]) & (pend[:-1] == pstart[1:])
    prev_state = np.full(len(pg), -1, dtype=np.int8)
    prev_state[1:] = pst[:-1]
    is_fail = (
        prev_same
        & (prev_state == UP)
        & np.isin(pst, (DOWN, UNHEALTHY))
        & (pstart >= tl.window.start_ns)
    )
    _, _, _, gend = _group_bounds(pg)
    nxt_up = bfill_idx(pst == UP, gend)
    fi = np.flatnonzero(is_fail)
    rec = nxt_up[fi]
    fail = pd.DataFrame(
        {
            "g": pg[fi],
            "time_ns": pstart[fi],
            "cause": pieces["cause"].to_numpy(dtype=np.int16)[fi],
            "recovered_ns": np.where(rec >= 0, pstart[np.maximum(rec, 0)], -1),
            "ck": pieces["ck"].to_numpy(dtype=np.int64)[fi],
        }
    )
    # Exit code, cause and policy from the container failure that took the service down, if any.
    cf = tl.failures
    cfx = pd.DataFrame(
        {
            "g": sk_of_ck[cf["ck"].to_numpy(dtype=np.int64)],
            "time_ns": cf["time_ns"].to_numpy(dtype=np.int64),
            "cause_c": cf["cause"].to_numpy(dtype=np.int16),
            "exit_code": cf["exit_code"].to_numpy(dtype=np.float64),
            "pcode": cf["pcode"].to_numpy(dtype=np.int64),
        }
    ).drop_duplicates(["g", "time_ns"])
    fail = fail.merge(cfx, on=["g", "time_ns"], how="left")
    fail["cause"] = np.where(fail["cause_c"].notna(), fail["cause_c"], fail["cause"]).astype(
        np.int16
    )
    fail["pcode"] = fail["pcode"].fillna(-1).astype(np.int64)
    fail = fail[["g", "time_ns", "cause", "exit_code", "recovered_ns", "ck", "pcode"]]
    return ServiceTimeline(keys=keys, sk_of_ck=sk_of_ck, pieces=pieces, failures=fail)


def service_failures(tl: Timeline, sv: ServiceTimeline) -> pd.DataFrame:
    """The service failures as a FAILURE_COLUMNS frame (the container columns name the
    container that took the service down), plus `service`; `restarts` counts the service's
    restarts from the failure to its recovery."""
    f = sv.failures
    c = tl.containers
    ck = f["ck"].to_numpy(dtype=np.int64)
    has = ck >= 0
    cks = np.maximum(ck, 0)

    def col(name: str) -> np.ndarray:
        out = np.full(len(f), None, dtype=object)
        out[has] = c[name].to_numpy(dtype=object)[cks[has]]
        return out

    g = f["g"].to_numpy(dtype=np.int64)
    t = f["time_ns"].to_numpy(dtype=np.int64)
    rec = f["recovered_ns"].to_numpy(dtype=np.int64)
    pcode = f["pcode"].to_numpy(dtype=np.int64)
    latest = c["policy"].to_numpy(dtype=object)[cks] if len(c) else np.full(len(f), None)
    policy = np.where(pcode >= 0, tl.policies[np.maximum(pcode, 0)], latest)
    # Restarts of the service's containers inside (failure, recovery].
    r_g = sv.sk_of_ck[tl.restarts["ck"].to_numpy(dtype=np.int64)].astype(np.int64)
    r_t = tl.restarts["time_ns"].to_numpy(dtype=np.int64)
    order = np.lexsort((r_t, r_g))
    r_g, r_t = r_g[order], r_t[order]
    restarts = np.zeros(len(f), dtype=np.int64)
    for i in range(len(f)):
        lo, hi = np.searchsorted(r_g, g[i], side="left"), np.searchsorted(r_g, g[i], side="right")
        upto = rec[i] if rec[i] >= 0 else np.iinfo(np.int64).max
        ts = r_t[lo:hi]
        restarts[i] = np.searchsorted(ts, upto, side="right") - np.searchsorted(ts, t[i], "right")
    out = pd.DataFrame(
        {
            "host": sv.keys["host"].to_numpy(dtype=object)[g],
            "container_id": col("container_id"),
            "name": col("name"),
            "image": col("image"),
            "compose_project": col("compose_project"),
            "compose_service": col("compose_service"),
            "policy": policy,
            "time_ns": t,
            "cause": CAUSE_NAMES[f["cause"].to_numpy(dtype=np.int64)],
            "inferred": False,
            "restarts": restarts,
            **outcome_columns(f),
            "service": sv.keys["service"].to_numpy(dtype=object)[g],
        }
    )
    return out.sort_values(["time_ns", "host", "service"], kind="stable").reset_index(drop=True)[
        [*FAILURE_COLUMNS, "service"]
    ]


def service_intervals(sv: ServiceTimeline, start_ns: int) -> pd.DataFrame:
    """The combined-state pieces from `start_ns` on, as INTERVAL_COLUMNS with `service` (the
    container_id column is empty)."""
    p = sv.pieces[sv.pieces["start_ns"] >= start_ns]
    g = p["g"].to_numpy(dtype=np.int64)
    return pd.DataFrame(
        {
            "host": sv.keys["host"].to_numpy(dtype=object)[g],
            "container_id": None,
            "start_ns": p["start_ns"].to_numpy(dtype=np.int64),
            "end_ns": p["end_ns"].to_numpy(dtype=np.int64),
            "state": STATE_NAMES[p["state"].to_numpy(dtype=np.int64)],
            "cause": CAUSE_NAMES[p["cause"].to_numpy(dtype=np.int64)],
            "service": sv.keys["service"].to_numpy(dtype=object)[g],
        }
    )[[*INTERVAL_COLUMNS, "service"]]
