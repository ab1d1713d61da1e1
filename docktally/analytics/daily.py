"""The report from per-container parts of pieces of its window (whole UTC days kept by the
store, and the partial days at its edges), equal to build_report on the events.

Every number of a container-level report is a sum over time (state time, failures, restarts,
OOM kills, stops, exit codes, downtime by cause) or is derived from sums (availability, MTBF
and its interval, MTTR, stop mean), except two: the longest stop (a max) and the time to
recover of a failure that recovers in a later piece. A piece keeps, for those, its failures
still open at its end (count and summed offsets) and its first recovery event (a start, or
`healthy` for a container with a health check): the open failures of a piece recover at the
first recovery event of the container's next pieces, as the timeline's own search finds it.

A service's state is not a sum of its containers' (it is up while any replica is), so the
services have parts of their own, from the combined state of each piece (service_state): one
set across hosts (`--by service`) and one per host (`--by host,service`). A service failure is
a transition, so one exactly at a piece's start needs the state before it: the pieces' timeline
starts a nanosecond early, and such a failure is kept apart (`first_fail`, and its time to
recover in `first_ttr_ns`, -1 while open) because a report counts it only when its window
started before it. The unknown time before a container's first event (`lead`) would change its
service's state over days that do not hold the container: a window with such a lead is not
served for services.

Served: --by container, host, image, service and host,service, with --every day|week|month.
Not served (the caller reads events): --by policy, --slo (burn rates look at minutes), --every
hour, --include-lab and the name filters.

Pure: History/Window in (piece_parts), frames in and a Report out (report_from_parts).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from docktally.analytics.model import History, Window
from docktally.analytics.periods import calendar_periods
from docktally.analytics.report import (
    METRIC_COLUMNS,
    SORT_COLUMNS,
    Report,
    _cause_code,
    chi2_ppf,
    jsonable,
)
from docktally.analytics.service_state import service_timeline
from docktally.analytics.stops import find_stops
from docktally.analytics.timeline import (
    ABSENT_CAUSES,
    CAUSE_NAMES,
    DOWN,
    PLANNED,
    STATE_NAMES,
    UNHEALTHY,
    UP,
    Timeline,
    build_timeline,
)

NS = 1_000_000_000
DAY_NS = 86_400 * NS
# --by values and --every periods the parts serve (see the module's docstring).
SERVED_BY = ("container", "host", "image", "service", "host,service")
SERVICE_SCOPES = ("service", "host,service")
SERVED_EVERY = (None, "day", "week", "month")

DESCRIPTORS = ["container", "service", "image"]
STATE_SUMS = ["up_ns", "unhealthy_ns", "down_ns", "planned_ns", "unknown_ns"]
# Summed over pieces (real is "any"; stop_max_ns is a max).
COUNT_SUMS = [
    "failures",
    "restarts",
    "oom_kills",
    "stops",
    "forced_stops",
    "stop_ns",
    "ttr_ns",
    "ttr_n",
    "open_n",
    "open_ns",
]
ROW_COLUMNS = [
    "host",
    "container_id",
    *DESCRIPTORS,
    "start_ns",  # the piece's start
    *STATE_SUMS,
    "real",  # 1: time besides before-create/after-destroy in the piece
    # 1: the piece starts before the container's first event, which is not its create: the
    # time before that piece, back to the window's start, is unknown (no data) too.
    "lead",
    *COUNT_SUMS,
    "stop_max_ns",  # -1: no stop
    "rec_ns",  # the first recovery event in [start, end) of the piece, -1: none
]
# Sparse parts: (part, code) -> value, per container and piece.
DOWN_CAUSE, PLANNED_CAUSE, EXIT_CODE, FAIL_CAUSE = 1, 2, 3, 4
# The details a report shows (its failures by cause are only counted from the rows).
REPORT_DETAILS = (DOWN_CAUSE, PLANNED_CAUSE, EXIT_CODE)
DETAIL_COLUMNS = ["host", "container_id", "start_ns", "part", "code", "value"]
# Service rows: ROW_COLUMNS (host "" across hosts, container_id the service key, lead 0) and
# the failure at the piece's start (first_fail, first_ttr_ns: its time to recover, -1 while
# open). A piece is [start, end): a failure recovered exactly at its end is open in it, and
# recovered by the next piece's rec_ns, as the report counts it open when its window ends there.
EDGE_COLUMNS = ["first_fail", "first_ttr_ns"]
SERVICE_ROW_COLUMNS = [*ROW_COLUMNS, *EDGE_COLUMNS]
OPEN_COLUMNS = ["host", "container_id", "start_ns", "open_n", "open_ns", "rec_ns"]
KEY = ["host", "container_id"]


@dataclass
class Parts:
    """rows: ROW_COLUMNS, one per container and piece (or a period's pieces summed); details:
    DETAIL_COLUMNS; opens: OPEN_COLUMNS, per piece, of the containers with an open failure;
    hosts: the hosts whose containers the pieces' timelines held; services: per scope of
    SERVICE_SCOPES, the services' own parts (rows: SERVICE_ROW_COLUMNS)."""

    rows: pd.DataFrame
    details: pd.DataFrame
    opens: pd.DataFrame
    hosts: set[str] = field(default_factory=set)
    services: dict[str, Parts] = field(default_factory=dict)

    @staticmethod
    def empty() -> Parts:
        return Parts(
            rows=pd.DataFrame({c: pd.Series(dtype=_row_dtype(c)) for c in ROW_COLUMNS}),
            details=pd.DataFrame({c: pd.Series(dtype=_row_dtype(c)) for c in DETAIL_COLUMNS}),
            opens=pd.DataFrame({c: pd.Series(dtype=_row_dtype(c)) for c in OPEN_COLUMNS}),
        )


def _row_dtype(col: str) -> str:
    return "object" if col in ("host", "container_id", *DESCRIPTORS) else "int64"


def concat_parts(parts: list[Parts]) -> Parts:
    """The parts one after the other; the services' too when every one has them."""
    services = {}
    if parts and all(p.services for p in parts):
        services = {s: concat_parts([p.services[s] for p in parts]) for s in SERVICE_SCOPES}
    parts = [Parts.empty(), *parts]
    return Parts(
        rows=pd.concat([p.rows for p in parts], ignore_index=True),
        details=pd.concat([p.details for p in parts], ignore_index=True),
        opens=pd.concat([p.opens for p in parts], ignore_index=True),
        hosts=set().union(*(p.hosts for p in parts)),
        services=services,
    )


def day_starts(window: Window) -> np.ndarray:
    """The UTC midnights strictly inside the window."""
    first = -(-window.start_ns // DAY_NS) * DAY_NS
    if first == window.start_ns:
        first += DAY_NS
    return np.arange(first, window.end_ns, DAY_NS, dtype=np.int64)


# --- parts of pieces ---------------------------------------------------------------------------


def _sum_by(key: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Exact int64 sums per key (pandas sums int64 as int64; bincount would go through float)."""
    out = np.zeros(n, dtype=np.int64)
    if len(key):
        s = pd.Series(values.astype(np.int64, copy=False)).groupby(key).sum()
        out[s.index.to_numpy(dtype=np.int64)] = s.to_numpy(dtype=np.int64)
    return out


def piece_parts(
    history: History,
    window: Window,
    breaks_ns: np.ndarray | None = None,
    *,
    services: bool = True,
) -> Parts:
    """The parts of each piece of the window cut at `breaks_ns` (default: at UTC midnights):
    one timeline over the window, its segments, failures, restarts and stops summed per
    container and piece (and per service and piece with `services`)."""
    breaks = day_starts(window) if breaks_ns is None else np.asarray(breaks_ns, dtype=np.int64)
    inner = breaks[(breaks > window.start_ns) & (breaks < window.end_ns)]
    bounds = np.unique(np.concatenate([[window.start_ns, window.end_ns], inner]))
    # A nanosecond of context: the services' state just before the window (see above).
    tl = build_timeline(
        history,
        window,
        extra_breaks_ns=bounds[1:-1] if len(bounds) > 2 else None,
        context_start_ns=window.start_ns - 1 if services else None,
    )
    c = tl.containers
    n_c, n_p = len(c), len(bounds) - 1
    if n_c == 0:
        out = Parts.empty()
        if services:
            out.services = {s: _empty_service_parts() for s in SERVICE_SCOPES}
        return out
    n_k = n_c * n_p

    def piece(t: np.ndarray) -> np.ndarray:
        return np.searchsorted(bounds, t, side="right").astype(np.int64) - 1

    all_seg = tl.segments
    seg = all_seg[all_seg["start_ns"].to_numpy(dtype=np.int64) >= window.start_ns]
    s = seg["start_ns"].to_numpy(dtype=np.int64)
    dur = seg["end_ns"].to_numpy(dtype=np.int64) - s
    st = seg["state"].to_numpy().astype(np.int64)
    ca = seg["cause"].to_numpy().astype(np.int64)
    key = seg["ck"].to_numpy(dtype=np.int64) * n_p + piece(s)
    absent = (st == PLANNED) & np.isin(ca, ABSENT_CAUSES)
    state_ns = _sum_by(key * 5 + st, np.where(absent, 0, dur), n_k * 5).reshape(n_k, 5)
    real = np.zeros(n_k, dtype=np.int64)
    real[key[~absent]] = 1
    ck_of = pd.MultiIndex.from_arrays(
        [c["host"].astype(str).to_numpy(), c["container_id"].astype(str).to_numpy()]
    )
    lead = _leads(history, ck_of, bounds, n_k)
    n_ca = len(CAUSE_NAMES)
    details = []
    for part, mask in (
        (DOWN_CAUSE, (st == DOWN) | (st == UNHEALTHY)),
        (PLANNED_CAUSE, (st == PLANNED) & ~absent),
    ):
        sums = _sum_by(key[mask] * n_ca + ca[mask], dur[mask], n_k * n_ca)
        nz = np.flatnonzero(sums)
        details.append((nz // n_ca, np.full(len(nz), part), nz % n_ca, sums[nz]))

    f = tl.failures
    ft = f["time_ns"].to_numpy(dtype=np.int64)
    fp = piece(ft)
    fkey = f["ck"].to_numpy(dtype=np.int64) * n_p + fp
    rec = f["recovered_ns"].to_numpy(dtype=np.int64)
    closed = (rec >= 0) & (rec < bounds[fp + 1])  # [start, end): one at the end is open
    failures = np.bincount(fkey, minlength=n_k)
    ooms = np.bincount(fkey[f["cause"].to_numpy() == _cause_code("oom")], minlength=n_k)
    ttr_ns = _sum_by(fkey[closed], (rec - ft)[closed], n_k)
    ttr_n = np.bincount(fkey[closed], minlength=n_k)
    open_n = np.bincount(fkey[~closed], minlength=n_k)
    open_ns = _sum_by(fkey[~closed], (ft - bounds[fp])[~closed], n_k)
    xc = f["exit_code"].to_numpy(dtype=np.float64)
    has_x = ~np.isnan(xc)
    if has_x.any():
        codes = xc[has_x].astype(np.int64)
        uni, inv = np.unique(codes, return_inverse=True)
        cnt = np.bincount(fkey[has_x] * len(uni) + inv, minlength=n_k * len(uni))
        nz = np.flatnonzero(cnt)
        details.append((nz // len(uni), np.full(len(nz), EXIT_CODE), uni[nz % len(uni)], cnt[nz]))
    # Failures by cause (the fleet overview's failures an engine restart caused).
    fca = _sum_by(
        fkey * n_ca + f["cause"].to_numpy().astype(np.int64), np.ones(len(fkey)), n_k * n_ca
    )
    nz = np.flatnonzero(fca)
    details.append((nz // n_ca, np.full(len(nz), FAIL_CAUSE), nz % n_ca, fca[nz]))

    rt = tl.restarts["time_ns"].to_numpy(dtype=np.int64)
    restarts = np.bincount(
        tl.restarts["ck"].to_numpy(dtype=np.int64) * n_p + piece(rt), minlength=n_k
    )

    stops, forced, stop_ns, stop_max = (np.zeros(n_k, dtype=np.int64) for _ in range(4))
    stop_max -= 1
    sp = find_stops(history.events)
    skey = np.zeros(0, dtype=np.int64)
    sdur = np.zeros(0, dtype=np.int64)
    sforced = np.zeros(0, dtype=bool)
    if len(sp):
        sck = _ck_codes(sp, ck_of)
        die = sp["die_ns"].to_numpy(dtype=np.int64)
        ok = (sck >= 0) & (die >= window.start_ns) & (die < window.end_ns)
        skey = sck[ok].astype(np.int64) * n_p + piece(die[ok])
        sdur = (die - sp["term_ns"].to_numpy(dtype=np.int64))[ok]
        sforced = sp["forced"].to_numpy(dtype=bool)[ok]
        stops = np.bincount(skey, minlength=n_k)
        forced = np.bincount(skey[sforced], minlength=n_k)
        stop_ns = _sum_by(skey, sdur, n_k)
        np.maximum.at(stop_max, skey, sdur)

    rec_ns = _first_recoveries(history, tl.containers, ck_of, bounds, n_k)

    rows = pd.DataFrame(
        {
            "ck": np.repeat(np.arange(n_c), n_p),
            "start_ns": np.tile(bounds[:-1], n_c),
            **{col: state_ns[:, i] for i, col in enumerate(STATE_SUMS)},
            "real": real,
            "lead": lead,
            "failures": failures,
            "restarts": restarts,
            "oom_kills": ooms,
            "stops": stops,
            "forced_stops": forced,
            "stop_ns": stop_ns,
            "ttr_ns": ttr_ns,
            "ttr_n": ttr_n,
            "open_n": open_n,
            "open_ns": open_ns,
            "stop_max_ns": stop_max,
            "rec_ns": rec_ns,
        }
    )
    anything = (
        (state_ns.sum(axis=1) > 0)
        | (failures > 0)
        | (restarts > 0)
        | (stops > 0)
        | (rec_ns >= 0)
        | (lead > 0)
    )
    rows = rows[anything]
    ck = rows["ck"].to_numpy(dtype=np.int64)
    desc = {
        "host": c["host"].astype(str).to_numpy(dtype=object),
        "container_id": c["container_id"].astype(str).to_numpy(dtype=object),
        "container": c["name"].to_numpy(dtype=object),
        "service": c["service"].to_numpy(dtype=object),
        "image": c["image"].to_numpy(dtype=object),
    }
    for i, (col, values) in enumerate(desc.items()):
        rows.insert(i, col, values[ck])
    rows = rows.drop(columns="ck").reset_index(drop=True)[ROW_COLUMNS]
    k_ = np.concatenate([d[0] for d in details]).astype(np.int64)
    det = pd.DataFrame(
        {
            "host": desc["host"][k_ // n_p],
            "container_id": desc["container_id"][k_ // n_p],
            "start_ns": bounds[:-1][k_ % n_p],
            "part": np.concatenate([d[1] for d in details]).astype(np.int64),
            "code": np.concatenate([d[2] for d in details]).astype(np.int64),
            "value": np.concatenate([d[3] for d in details]).astype(np.int64),
        }
    )
    out = Parts(
        rows=rows,
        details=det,
        opens=opens_of(rows),
        hosts={str(h) for h in c["host"].unique()},
    )
    if services:
        events = _ContainerEvents(
            fkey=fkey,
            exit_codes=xc,
            oom=f["cause"].to_numpy() == _cause_code("oom"),
            rkey=tl.restarts["ck"].to_numpy(dtype=np.int64) * n_p + piece(rt),
            skey=skey,
            sdur=sdur,
            sforced=sforced,
        )
        out.services = {
            scope: _service_parts(tl, bounds, events, per_host=scope == "host,service")
            for scope in SERVICE_SCOPES
        }
    return out


@dataclass
class _ContainerEvents:
    """The container-level counts a service sums (key: container code * pieces + piece)."""

    fkey: np.ndarray  # failures
    exit_codes: np.ndarray  # their exit codes (NaN: none)
    oom: np.ndarray  # bool: an OOM kill
    rkey: np.ndarray  # restarts
    skey: np.ndarray  # stops
    sdur: np.ndarray  # their SIGTERM-to-die ns
    sforced: np.ndarray  # bool: needed a SIGKILL


def _empty_service_parts() -> Parts:
    p = Parts.empty()
    p.rows = pd.DataFrame({c: pd.Series(dtype=_row_dtype(c)) for c in SERVICE_ROW_COLUMNS})
    return p


def _service_parts(
    tl: Timeline, bounds: np.ndarray, ce: _ContainerEvents, *, per_host: bool
) -> Parts:
    """The parts of each service (service_state's combined state) per piece."""
    sv = service_timeline(tl, per_host=per_host)
    n_g, n_p = len(sv.keys), len(bounds) - 1
    n_k = n_g * n_p
    if n_g == 0:
        return _empty_service_parts()
    ws = int(bounds[0])

    def piece(t: np.ndarray) -> np.ndarray:
        return np.searchsorted(bounds, t, side="right").astype(np.int64) - 1

    p = sv.pieces
    ps = p["start_ns"].to_numpy(dtype=np.int64)
    inside = ps >= ws
    pg = p["g"].to_numpy(dtype=np.int64)
    st = p["state"].to_numpy().astype(np.int64)
    ca = p["cause"].to_numpy().astype(np.int64)
    key = pg[inside] * n_p + piece(ps[inside])
    dur = p["end_ns"].to_numpy(dtype=np.int64)[inside] - ps[inside]
    st_i, ca_i = st[inside], ca[inside]
    absent = (st_i == PLANNED) & np.isin(ca_i, ABSENT_CAUSES)
    state_ns = _sum_by(key * 5 + st_i, np.where(absent, 0, dur), n_k * 5).reshape(n_k, 5)
    real = np.zeros(n_k, dtype=np.int64)
    real[key[~absent]] = 1
    n_ca = len(CAUSE_NAMES)
    down = (st_i == DOWN) | (st_i == UNHEALTHY)
    sums = _sum_by(key[down] * n_ca + ca_i[down], dur[down], n_k * n_ca)
    nz = np.flatnonzero(sums)
    details = [(nz // n_ca, np.full(len(nz), DOWN_CAUSE), nz % n_ca, sums[nz])]

    # Service failures (a failure needs the piece before it: the context's counts at ws).
    f = sv.failures
    ft = f["time_ns"].to_numpy(dtype=np.int64)
    fin = ft >= ws
    ft = ft[fin]
    fp = piece(ft)
    fkey = f["g"].to_numpy(dtype=np.int64)[fin] * n_p + fp
    rec = f["recovered_ns"].to_numpy(dtype=np.int64)[fin]
    closed = (rec >= 0) & (rec < bounds[fp + 1])  # [start, end): one at the end is open
    failures = np.bincount(fkey, minlength=n_k)
    ttr_ns = _sum_by(fkey[closed], (rec - ft)[closed], n_k)
    ttr_n = np.bincount(fkey[closed], minlength=n_k)
    open_n = np.bincount(fkey[~closed], minlength=n_k)
    open_ns = _sum_by(fkey[~closed], (ft - bounds[fp])[~closed], n_k)
    at_start = ft == bounds[fp]
    first_fail = np.bincount(fkey[at_start], minlength=n_k)
    first_ttr = np.full(n_k, -1, dtype=np.int64)
    first_ttr[fkey[at_start & closed]] = (rec - ft)[at_start & closed]
    # The first recovery (an up piece's start) of each piece; an up piece at a piece's end is
    # the next piece's (a report window never holds a piece starting at its end).
    up = inside & (st == UP)
    rec_ns = np.full(n_k, -1, dtype=np.int64)
    if up.any():
        first = pd.Series(ps[up]).groupby(pg[up] * n_p + piece(ps[up])).min()
        rec_ns[first.index.to_numpy(dtype=np.int64)] = first.to_numpy(dtype=np.int64)

    # Container-level counts, summed per service.
    g_of_ck = sv.sk_of_ck.astype(np.int64)

    def to_g(k: np.ndarray) -> np.ndarray:
        return g_of_ck[k // n_p] * n_p + k % n_p

    restarts = np.bincount(to_g(ce.rkey), minlength=n_k)
    ckey = to_g(ce.fkey)
    ooms = np.bincount(ckey[ce.oom], minlength=n_k)
    has_x = ~np.isnan(ce.exit_codes)
    if has_x.any():
        codes = ce.exit_codes[has_x].astype(np.int64)
        uni, inv = np.unique(codes, return_inverse=True)
        cnt = np.bincount(ckey[has_x] * len(uni) + inv, minlength=n_k * len(uni))
        nz = np.flatnonzero(cnt)
        details.append((nz // len(uni), np.full(len(nz), EXIT_CODE), uni[nz % len(uni)], cnt[nz]))
    skey = to_g(ce.skey)
    stops = np.bincount(skey, minlength=n_k)
    forced = np.bincount(skey[ce.sforced], minlength=n_k)
    stop_ns = _sum_by(skey, ce.sdur, n_k)
    stop_max = np.full(n_k, -1, dtype=np.int64)
    np.maximum.at(stop_max, skey, ce.sdur)

    rows = pd.DataFrame(
        {
            "g": np.repeat(np.arange(n_g), n_p),
            "start_ns": np.tile(bounds[:-1], n_g),
            **{col: state_ns[:, i] for i, col in enumerate(STATE_SUMS)},
            "real": real,
            "lead": np.zeros(n_k, dtype=np.int64),
            "failures": failures,
            "restarts": restarts,
            "oom_kills": ooms,
            "stops": stops,
            "forced_stops": forced,
            "stop_ns": stop_ns,
            "ttr_ns": ttr_ns,
            "ttr_n": ttr_n,
            "open_n": open_n,
            "open_ns": open_ns,
            "stop_max_ns": stop_max,
            "rec_ns": rec_ns,
            "first_fail": first_fail,
            "first_ttr_ns": first_ttr,
        }
    )
    anything = (state_ns.sum(axis=1) > 0) | (failures > 0) | (restarts > 0) | (stops > 0)
    anything |= (rec_ns >= 0) | (ooms > 0)
    rows = rows[anything]
    g = rows["g"].to_numpy(dtype=np.int64)
    hosts = (
        sv.keys["host"].astype(str).to_numpy(dtype=object)
        if per_host
        else np.full(n_g, "", dtype=object)
    )
    names = sv.keys["service"].astype(str).to_numpy(dtype=object)
    rows.insert(0, "host", hosts[g])
    rows.insert(1, "container_id", names[g])
    rows.insert(2, "container", None)
    rows.insert(3, "service", names[g])
    rows.insert(4, "image", None)
    rows = rows.drop(columns="g").reset_index(drop=True)[SERVICE_ROW_COLUMNS]
    k_ = np.concatenate([d[0] for d in details]).astype(np.int64)
    det = pd.DataFrame(
        {
            "host": hosts[k_ // n_p],
            "container_id": names[k_ // n_p],
            "start_ns": bounds[:-1][k_ % n_p],
            "part": np.concatenate([d[1] for d in details]).astype(np.int64),
            "code": np.concatenate([d[2] for d in details]).astype(np.int64),
            "value": np.concatenate([d[3] for d in details]).astype(np.int64),
        }
    )
    return Parts(rows=rows, details=det, opens=opens_of(rows))


def opens_of(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows the recovery of open failures needs: where one is open or a recovery event
    happens."""
    sel = (rows["open_n"].to_numpy() > 0) | (rows["rec_ns"].to_numpy() >= 0)
    return rows.loc[sel, OPEN_COLUMNS].reset_index(drop=True)


def _ck_codes(ev: pd.DataFrame, ck_of: pd.MultiIndex) -> np.ndarray:
    return ck_of.get_indexer(
        pd.MultiIndex.from_arrays(
            [ev["host"].astype(str).to_numpy(), ev["container_id"].astype(str).to_numpy()]
        )
    ).astype(np.int64)


def _leads(history: History, ck_of: pd.MultiIndex, bounds: np.ndarray, n_k: int) -> np.ndarray:
    """Per container and piece: 1 where the container's first event is in the piece and is
    not its create (the timeline counts the time before it as unknown, from the window's
    start)."""
    out = np.zeros(n_k, dtype=np.int64)
    ev = history.events
    if not len(ev):
        return out
    t = ev["time_ns"].to_numpy(dtype=np.int64)
    ck = _ck_codes(ev, ck_of)
    frame = pd.DataFrame(
        {"ck": ck, "t": t, "create": ev["kind"].astype(object).to_numpy() == "create"}
    )
    t0 = frame.groupby("ck")["t"].transform("min").to_numpy()
    first = frame[t == t0].groupby("ck").agg(t=("t", "min"), create=("create", "max"))
    first = first[(first.index >= 0) & ~first["create"].to_numpy(dtype=bool)]
    ft = first["t"].to_numpy(dtype=np.int64)
    inside = (ft >= bounds[0]) & (ft < bounds[-1])
    n_p = len(bounds) - 1
    p = np.searchsorted(bounds, ft[inside], side="right") - 1
    out[first.index.to_numpy(dtype=np.int64)[inside] * n_p + p] = 1
    return out


def _first_recoveries(
    history: History, c: pd.DataFrame, ck_of: pd.MultiIndex, bounds: np.ndarray, n_k: int
) -> np.ndarray:
    """Per container and piece, the first event in [start, end) that recovers a failure (the
    timeline's: a start or restart, or `healthy` for a container with a health check). One at
    a piece's end is the next piece's only: the window is [start, end), and a report ending
    there has the failure open (report._metrics)."""
    out = np.full(n_k, -1, dtype=np.int64)
    ev = history.events
    kind = ev["kind"].astype(object).to_numpy()
    starts = (kind == "start") | (kind == "restart")
    healthy = (kind == "health_status") & (ev["health"].astype(object).to_numpy() == "healthy")
    cand = np.flatnonzero(starts | healthy)
    if not len(cand):
        return out
    e = ev.iloc[cand]
    ck = _ck_codes(e, ck_of)
    t = e["time_ns"].to_numpy(dtype=np.int64)
    hc = c["has_healthcheck"].to_numpy(dtype=bool)
    ok = (ck >= 0) & (t >= bounds[0]) & (t < bounds[-1])
    ok &= np.where(hc[np.maximum(ck, 0)], healthy[cand], starts[cand])
    ck, t = ck[ok], t[ok]
    n_p = len(bounds) - 1
    keys = ck * n_p + (np.searchsorted(bounds, t, side="right") - 1)
    if len(keys):
        first = pd.Series(t).groupby(keys).min()
        out[first.index.to_numpy(dtype=np.int64)] = first.to_numpy(dtype=np.int64)
    return out


# --- the report from parts ---------------------------------------------------------------------


def _recovered_later(opens: pd.DataFrame) -> pd.DataFrame:
    """Each piece with open failures, and the first recovery event of the container's later
    pieces (-1: none): open_n, open_ns, start_ns, next_rec_ns."""
    o = opens.sort_values([*KEY, "start_ns"], kind="stable").reset_index(drop=True)
    # Nullable integers: as float64 the times were rounded to 256 ns.
    rec = o["rec_ns"].astype("Int64")
    rec = rec.mask(rec < 0)
    # The next row's first recovery, carried back over rows without one, within a container.
    nxt = rec.groupby([o["host"], o["container_id"]]).shift(-1)
    nxt = nxt.groupby([o["host"], o["container_id"]]).bfill()
    o["next_rec_ns"] = nxt.fillna(-1).to_numpy(dtype=np.int64)
    return o[o["open_n"] > 0].reset_index(drop=True)


def serves(parts: Parts, by: str) -> bool:
    """Whether report_from_parts gives build_report's answer for `by` from these parts: the
    services need their own parts, and no lead (see the module's docstring)."""
    if by not in SERVED_BY:
        return False
    if by in SERVICE_SCOPES:
        return by in parts.services and not (parts.rows["lead"].to_numpy() > 0).any()
    return True


def _without_first_failure(parts: Parts, ws: int) -> Parts:
    """A service failure at the window's start is not the report's (no state before it)."""
    rows = parts.rows.copy()
    at = (rows["start_ns"].to_numpy() == ws) & (rows["first_fail"].to_numpy() > 0)
    if not at.any():
        return parts
    ff = rows["first_fail"].to_numpy(dtype=np.int64)
    ttr = rows["first_ttr_ns"].to_numpy(dtype=np.int64)
    closed = at & (ttr >= 0)
    opened = at & (ttr < 0)
    rows.loc[at, "failures"] -= ff[at]
    rows.loc[closed, "ttr_n"] -= ff[closed]
    rows.loc[closed, "ttr_ns"] -= ttr[closed]
    rows.loc[opened, "open_n"] -= ff[opened]
    # The open ones in the opens too (a store's rows are summed per period, its opens not).
    gone = rows.loc[opened, KEY].assign(start_ns=ws, gone=ff[opened])
    opens = parts.opens.merge(gone, on=[*KEY, "start_ns"], how="left")
    opens["open_n"] -= opens.pop("gone").fillna(0).astype(np.int64)
    return Parts(rows=rows, details=parts.details, opens=opens, hosts=parts.hosts)


def _group_codes(desc: pd.DataFrame, by: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Per container (rows of `desc`): its group code, and the key table of the groups."""
    if by == "container":
        keys = desc[["host", "container_id", "container"]].reset_index(drop=True)
        return np.arange(len(desc), dtype=np.int64), keys
    if by == "service":  # a service's parts are its own: one row, one group
        return np.arange(len(desc), dtype=np.int64), desc[["service"]].reset_index(drop=True)
    if by == "host,service":
        keys = desc[["host", "service"]].reset_index(drop=True)
        return np.arange(len(desc), dtype=np.int64), keys
    vals = desc[by].fillna("?").astype(str).to_numpy(dtype=object)
    codes, uni = pd.factorize(vals, use_na_sentinel=False)
    return codes.astype(np.int64), pd.DataFrame({by: np.asarray(uni, dtype=object)})


def _metric_frame(
    sums: pd.DataFrame, exits: list[dict[str, int]], causes: list[dict[str, float]]
) -> pd.DataFrame:
    """METRIC_COLUMNS from per-group sums, by _metrics' formulas."""
    up = sums["up_ns"].to_numpy(dtype=np.float64) / NS
    downtime = (sums["down_ns"].to_numpy(dtype=np.float64) + sums["unhealthy_ns"].to_numpy()) / NS
    known = up + downtime
    with np.errstate(invalid="ignore", divide="ignore"):
        avail = np.where(known > 0, up / np.where(known > 0, known, 1), np.nan)
    failures = sums["failures"].to_numpy(dtype=np.int64)
    ttr_n = sums["ttr_n"].to_numpy(dtype=np.int64)
    ttr_s = sums["ttr_ns"].to_numpy(dtype=np.float64) / NS
    stops = sums["stops"].to_numpy(dtype=np.int64)
    stop_s = sums["stop_ns"].to_numpy(dtype=np.float64) / NS
    stop_max = sums["stop_max_ns"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mttr = np.where(ttr_n > 0, ttr_s / np.maximum(ttr_n, 1), np.nan)
        mtbf = np.where(failures > 0, up / np.maximum(failures, 1), np.nan)
        stop_mean = np.where(stops > 0, stop_s / np.maximum(stops, 1), np.nan)
    r_uni, r_inv = np.unique(failures, return_inverse=True)
    q_low = chi2_ppf(0.95, 2 * r_uni + 2)
    q_high = np.full(len(r_uni), np.nan)
    q_high[r_uni > 0] = chi2_ppf(0.05, 2 * r_uni[r_uni > 0])
    return pd.DataFrame(
        {
            "uptime_s": up,
            "downtime_s": downtime,
            "planned_s": sums["planned_ns"].to_numpy(dtype=np.float64) / NS,
            "unknown_s": sums["unknown_ns"].to_numpy(dtype=np.float64) / NS,
            "availability": avail,
            "failures": failures,
            "restarts": sums["restarts"].to_numpy(dtype=np.int64),
            "mtbf_s": mtbf,
            "mtbf_ci90_low_s": 2 * up / q_low[r_inv],
            "mtbf_ci90_high_s": 2 * up / q_high[r_inv],
            "mttr_s": mttr,
            "exit_codes": exits,
            "oom_kills": sums["oom_kills"].to_numpy(dtype=np.int64),
            "downtime_by_cause_s": causes,
            "stops": stops,
            "forced_stops": sums["forced_stops"].to_numpy(dtype=np.int64),
            "stop_mean_s": stop_mean,
            "stop_max_s": np.where(stop_max >= 0, stop_max / NS, np.nan),
        }
    )[METRIC_COLUMNS]


class _Sums:
    """The parts summed per group over a time range [lo, hi) of piece starts."""

    def __init__(
        self, parts: Parts, cidx: pd.MultiIndex, g_of_c: np.ndarray, window_start_ns: int
    ) -> None:
        self.parts, self.cidx, self.g_of_c = parts, cidx, g_of_c
        self.opens = _recovered_later(parts.opens)
        self.n_g = int(g_of_c.max()) + 1 if len(g_of_c) else 0
        # A lead counts where no piece before it holds the container (the store's days do not
        # hold a container before its first event; one timeline over the window does).
        rows = parts.rows
        first = rows.groupby(KEY, sort=False)["start_ns"].min()
        leads = rows[rows["lead"] > 0].groupby(KEY, sort=False)["start_ns"].min()
        leads = leads[leads.to_numpy() <= first.reindex(leads.index).to_numpy()]
        self.leads = leads.reset_index()
        self.ws = window_start_ns
        # Only the parts a report shows (not the failures by cause), and each row's group once
        # (a breakdown sums them per period: a year --every month is 13 calls).
        d = parts.details
        self.details = d[d["part"].isin([EXIT_CODE, DOWN_CAUSE, PLANNED_CAUSE]).to_numpy()]
        self.g = {
            "rows": self._g(parts.rows),
            "leads": self._g(self.leads),
            "opens": self._g(self.opens),
            "details": self._g(self.details),
        }
        # Their keys done with (each period takes its rows: the strings would be copied too).
        self.details = self.details[["start_ns", "part", "code", "value"]]

    def _g(self, frame: pd.DataFrame) -> np.ndarray:
        ci = self.cidx.get_indexer(pd.MultiIndex.from_frame(frame[KEY]))
        return self.g_of_c[ci]

    def _in(
        self, name: str, frame: pd.DataFrame, lo: int, hi: int, one: bool
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of `frame` (self's `name`) starting in [lo, hi), and their groups."""
        t = frame["start_ns"].to_numpy(dtype=np.int64)
        inside = (t >= lo) & (t < hi)
        g = self.g[name][inside]
        return frame[inside], (np.zeros(len(g), dtype=np.int64) if one else g)

    def __call__(
        self, lo: int, hi: int, n_g: int | None = None, one: bool = False
    ) -> tuple[
        pd.DataFrame, np.ndarray, list[dict[str, int]], list[dict[str, float]], dict[int, int]
    ]:
        n_g = (1 if one else self.n_g) if n_g is None else n_g
        r, g = self._in("rows", self.parts.rows, lo, hi, one)
        sums = pd.DataFrame(
            {c: _sum_by(g, r[c].to_numpy(dtype=np.int64), n_g) for c in [*STATE_SUMS, *COUNT_SUMS]}
        )
        # Unknown time before a container's first event, up to its first piece.
        ld = self.leads
        lead_ns = np.clip(
            np.minimum(ld["start_ns"].to_numpy(dtype=np.int64), hi) - max(lo, self.ws), 0, None
        )
        lg = np.zeros(len(ld), dtype=np.int64) if one else self.g["leads"]
        sums["unknown_ns"] += _sum_by(lg, lead_ns, n_g)
        lead_real = np.zeros(n_g, dtype=bool)
        lead_real[lg[lead_ns > 0]] = True
        self.lead_ns = int(lead_ns.astype(object).sum())
        mx = np.full(n_g, -1, dtype=np.int64)
        np.maximum.at(mx, g, r["stop_max_ns"].to_numpy(dtype=np.int64))
        sums["stop_max_ns"] = mx
        real = np.zeros(n_g, dtype=bool)
        real[g[r["real"].to_numpy() > 0]] = True
        real |= lead_real
        o, og = self._in("opens", self.opens, lo, hi, one)
        nxt = o["next_rec_ns"].to_numpy(dtype=np.int64)
        ok = (nxt >= 0) & (nxt < hi)  # recovered inside the range [lo, hi)
        o, og = o[ok], og[ok]
        n_open = o["open_n"].to_numpy(dtype=np.int64)
        ttr = n_open * (nxt[ok] - o["start_ns"].to_numpy(dtype=np.int64)) - o["open_ns"].to_numpy(
            dtype=np.int64
        )
        sums["ttr_ns"] += _sum_by(og, ttr, n_g)
        sums["ttr_n"] += _sum_by(og, n_open, n_g)
        d, dg = self._in("details", self.details, lo, hi, one)
        exits: list[dict[str, int]] = [{} for _ in range(n_g)]
        causes: list[dict[str, float]] = [{} for _ in range(n_g)]
        planned: dict[int, int] = {}
        if len(d):
            agg = (
                pd.DataFrame({"g": dg, "part": d["part"].to_numpy(), "code": d["code"].to_numpy(),
                              "value": d["value"].to_numpy(dtype=np.int64)})
                .groupby(["g", "part", "code"], sort=True)["value"].sum()
            )  # fmt: skip
            idx = agg.index
            gis = idx.get_level_values(0).to_numpy(dtype=np.int64)
            parts = idx.get_level_values(1).to_numpy(dtype=np.int64)
            codes = idx.get_level_values(2).to_numpy(dtype=np.int64)
            vs = agg.to_numpy(dtype=np.int64)
            # A part at a time, each code's name made once: per row, only the dict's store (a
            # year per month of 10,000 containers is ~1M of them). Each dict still gets its
            # codes in ascending order.
            for part, into in ((EXIT_CODE, exits), (DOWN_CAUSE, causes)):
                m = parts == part
                c = codes[m]
                name = {
                    int(k): str(k) if part == EXIT_CODE else str(CAUSE_NAMES[k] or "unknown")
                    for k in np.unique(c).tolist()
                }
                v = vs[m].tolist()  # Python ints: int / int is exact where float64 is not
                for gi, code, x in zip(gis[m].tolist(), c.tolist(), v, strict=True):
                    into[gi][name[code]] = x if part == EXIT_CODE else x / NS
            m = parts == PLANNED_CAUSE
            if m.any():
                by_code = pd.Series(vs[m]).groupby(codes[m]).sum()
                keys, sums_ = by_code.index.tolist(), by_code.to_numpy(dtype=np.int64).tolist()
                planned = dict(zip(keys, sums_, strict=True))
        return sums, real, exits, causes, planned


def report_from_parts(
    parts: Parts, window: Window, *, by: str = "container", every: str | None = None
) -> Report:
    """build_report(history, window, by=by, every=every) from the parts of pieces that tile the
    window (piece_parts of whole days and edges, or the store's summaries). Raises ValueError
    for what they do not serve (serves)."""
    if not serves(parts, by):
        raise ValueError(f"the parts do not serve --by {by}")
    ws, we = window.start_ns, window.end_ns
    rows = parts.rows
    units = _without_first_failure(parts.services[by], ws) if by in SERVICE_SCOPES else parts
    latest = units.rows.sort_values("start_ns", kind="stable").groupby(KEY, sort=False).tail(1)
    desc = latest[[*KEY, *DESCRIPTORS]].reset_index(drop=True)
    cidx = pd.MultiIndex.from_frame(desc[KEY])
    g_of_c, keys = _group_codes(desc, by)
    total = _Sums(units, cidx, g_of_c, ws)
    sums, real, exits, causes, planned = total(ws, we)
    m = _metric_frame(sums, exits, causes)
    keep = real | (m["failures"].to_numpy() > 0)
    groups = pd.concat([keys, m], axis=1)[keep]
    groups = groups.sort_values(SORT_COLUMNS[by], kind="stable").reset_index(drop=True)
    breakdown = None
    if every:
        out = []
        for ps, pe in calendar_periods(window, every):
            psums, preal, pexits, pcauses, _ = total(ps, pe)
            pm = _metric_frame(psums, pexits, pcauses)
            # As build_report: a period the group did not exist in (and failed in) has no row.
            here = preal | (pm["failures"].to_numpy() > 0)
            part = pd.concat([keys, pm], axis=1)[keep & here]
            part.insert(0, "period_end_ns", pe)
            part.insert(0, "period_start_ns", ps)
            out.append(part)
        if out:
            breakdown = (
                pd.concat(out, ignore_index=True)
                .sort_values([*SORT_COLUMNS[by], "period_start_ns"], kind="stable")
                .reset_index(drop=True)
            )
    if units is not parts:  # the fleet and time by class are the containers'
        cdesc = rows.groupby(KEY, sort=False).size().reset_index()[KEY]
        cidx = pd.MultiIndex.from_frame(cdesc)
        total = _Sums(parts, cidx, np.zeros(len(cdesc), dtype=np.int64), ws)
        desc = cdesc
    fsums, _freal, fexits, _, planned = total(ws, we, one=True)
    lead_ns = total.lead_ns
    fm = _metric_frame(fsums, fexits, [{}]).iloc[0].to_dict()
    fm.pop("downtime_by_cause_s", None)
    per_c = np.zeros(len(desc), dtype=bool)
    ci = cidx.get_indexer(pd.MultiIndex.from_frame(rows.loc[rows["real"] > 0, KEY]))
    per_c[ci] = True
    fm["containers"] = int(per_c.sum())
    fm["hosts"] = len(parts.hosts)
    fm["exit_codes"] = {str(k): int(v) for k, v in fm["exit_codes"].items()}
    return Report(
        window=window,
        by=by,
        groups=groups,
        breakdown=breakdown,
        time_by_class_s=_time_by_class(rows, planned, lead_ns),
        fleet={str(k): jsonable(v) for k, v in fm.items()},
        slo=None,
        every=every,
    )


def failures_by_cause(parts: Parts, window: Window, by: str, cause: str) -> pd.Series:
    """Container failures of one cause in the window, per value of the rows' column `by`."""
    d = parts.details
    code = _cause_code(cause)
    d = d[(d["part"] == FAIL_CAUSE) & (d["code"] == code)]
    d = d[(d["start_ns"] >= window.start_ns) & (d["start_ns"] < window.end_ns)]
    if not len(d):
        return pd.Series(dtype=np.int64)
    of = parts.rows.drop_duplicates(KEY).set_index(KEY)[by]
    keys = of.reindex(pd.MultiIndex.from_frame(d[KEY])).astype(str).to_numpy(dtype=object)
    return pd.Series(d["value"].to_numpy(dtype=np.int64)).groupby(keys).sum()


def _time_by_class(rows: pd.DataFrame, planned: dict[int, int], lead_ns: int) -> dict[str, float]:
    """report._time_by_class: whole nanoseconds summed exactly (Python ints), then seconds."""
    out = {}
    for name, col in (("up", "up_ns"), ("unhealthy", "unhealthy_ns"), ("down", "down_ns"),
                      ("unknown", "unknown_ns")):  # fmt: skip
        total = int(rows[col].to_numpy(dtype=np.int64).astype(object).sum())
        out[name] = (total + (lead_ns if name == "unknown" else 0)) / NS
    for code in sorted(planned):
        out[f"planned:{CAUSE_NAMES[code]}"] = planned[code] / NS
    assert str(STATE_NAMES[PLANNED]) == "planned"
    return out
