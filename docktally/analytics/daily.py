"""The report from per-container parts of pieces of its window (whole UTC days kept by the
store, and the partial days at its edges), equal to build_report on the events.

Every number of a container-level report is a sum over time (state time, failures, restarts,
OOM kills, stops, exit codes, downtime by cause) or is derived from sums (availability, MTBF
and its interval, MTTR, stop mean), except two: the longest stop (a max) and the time to
recover of a failure that recovers in a later piece. A piece keeps, for those, its failures
still open at its end (count and summed offsets) and its first recovery event (a start, or
`healthy` for a container with a health check): the open failures of a piece recover at the
first recovery event of the container's next pieces, as the timeline's own search finds it.

Served: --by container, host and image, with --every day|week|month. Not served (the caller
reads events): --by service and policy (a service's state is not a sum of its containers'),
--slo (burn rates look at minutes), --every hour, --include-lab and the name filters.

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
from docktally.analytics.stops import find_stops
from docktally.analytics.timeline import (
    ABSENT_CAUSES,
    CAUSE_NAMES,
    DOWN,
    PLANNED,
    STATE_NAMES,
    UNHEALTHY,
    build_timeline,
)

NS = 1_000_000_000
DAY_NS = 86_400 * NS
# --by values and --every periods the parts serve (see the module's docstring).
SERVED_BY = ("container", "host", "image")
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
    "rec_ns",  # the first recovery event in [start, end] of the piece, -1: none
]
# Sparse parts: (part, code) -> value, per container and piece.
DOWN_CAUSE, PLANNED_CAUSE, EXIT_CODE = 1, 2, 3
DETAIL_COLUMNS = ["host", "container_id", "start_ns", "part", "code", "value"]
OPEN_COLUMNS = ["host", "container_id", "start_ns", "open_n", "open_ns", "rec_ns"]
KEY = ["host", "container_id"]


@dataclass
class Parts:
    """rows: ROW_COLUMNS, one per container and piece (or a period's pieces summed); details:
    DETAIL_COLUMNS; opens: OPEN_COLUMNS, per piece, of the containers with an open failure;
    hosts: the hosts whose containers the pieces' timelines held."""

    rows: pd.DataFrame
    details: pd.DataFrame
    opens: pd.DataFrame
    hosts: set[str] = field(default_factory=set)

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
    parts = [Parts.empty(), *parts]
    return Parts(
        rows=pd.concat([p.rows for p in parts], ignore_index=True),
        details=pd.concat([p.details for p in parts], ignore_index=True),
        opens=pd.concat([p.opens for p in parts], ignore_index=True),
        hosts=set().union(*(p.hosts for p in parts)),
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


def piece_parts(history: History, window: Window, breaks_ns: np.ndarray | None = None) -> Parts:
    """The parts of each piece of the window cut at `breaks_ns` (default: at UTC midnights):
    one timeline over the window, its segments, failures, restarts and stops summed per
    container and piece."""
    breaks = day_starts(window) if breaks_ns is None else np.asarray(breaks_ns, dtype=np.int64)
    inner = breaks[(breaks > window.start_ns) & (breaks < window.end_ns)]
    bounds = np.unique(np.concatenate([[window.start_ns, window.end_ns], inner]))
    tl = build_timeline(history, window, extra_breaks_ns=bounds[1:-1] if len(bounds) > 2 else None)
    c = tl.containers
    n_c, n_p = len(c), len(bounds) - 1
    if n_c == 0:
        return Parts.empty()
    n_k = n_c * n_p

    def piece(t: np.ndarray) -> np.ndarray:
        return np.searchsorted(bounds, t, side="right").astype(np.int64) - 1

    seg = tl.segments
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
    closed = (rec >= 0) & (rec <= bounds[fp + 1])
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

    rt = tl.restarts["time_ns"].to_numpy(dtype=np.int64)
    restarts = np.bincount(
        tl.restarts["ck"].to_numpy(dtype=np.int64) * n_p + piece(rt), minlength=n_k
    )

    stops, forced, stop_ns, stop_max = (np.zeros(n_k, dtype=np.int64) for _ in range(4))
    stop_max -= 1
    sp = find_stops(history.events)
    if len(sp):
        sck = _ck_codes(sp, ck_of)
        die = sp["die_ns"].to_numpy(dtype=np.int64)
        ok = (sck >= 0) & (die >= window.start_ns) & (die < window.end_ns)
        skey = sck[ok].astype(np.int64) * n_p + piece(die[ok])
        sdur = (die - sp["term_ns"].to_numpy(dtype=np.int64))[ok]
        stops = np.bincount(skey, minlength=n_k)
        forced = np.bincount(skey[sp["forced"].to_numpy(dtype=bool)[ok]], minlength=n_k)
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
    return Parts(
        rows=rows,
        details=det,
        opens=opens_of(rows),
        hosts={str(h) for h in c["host"].unique()},
    )


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
    """Per container and piece, the first event in [start, end] that recovers a failure (the
    timeline's: a start or restart, or `healthy` for a container with a health check)."""
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
    ok = (ck >= 0) & (t >= bounds[0]) & (t <= bounds[-1])
    ok &= np.where(hc[np.maximum(ck, 0)], healthy[cand], starts[cand])
    ck, t = ck[ok], t[ok]
    n_p = len(bounds) - 1
    p = np.searchsorted(bounds, t, side="right") - 1
    # An event at a piece's end is also that piece's (a recovery at the window's end counts).
    at_end = np.isin(t, bounds[1:])
    keys = np.concatenate([ck[p < n_p] * n_p + p[p < n_p], ck[at_end] * n_p + p[at_end] - 1])
    times = np.concatenate([t[p < n_p], t[at_end]])
    if len(keys):
        first = pd.Series(times).groupby(keys).min()
        out[first.index.to_numpy(dtype=np.int64)] = first.to_numpy(dtype=np.int64)
    return out


# --- the report from parts ---------------------------------------------------------------------


def _recovered_later(opens: pd.DataFrame) -> pd.DataFrame:
    """Each piece with open failures, and the first recovery event of the container's later
    pieces (-1: none): open_n, open_ns, start_ns, next_rec_ns."""
    o = opens.sort_values([*KEY, "start_ns"], kind="stable").reset_index(drop=True)
    rec = o["rec_ns"].to_numpy(dtype=np.float64)
    rec[rec < 0] = np.nan
    # The next row's first recovery, carried back over rows without one, within a container.
    nxt = pd.Series(rec).groupby([o["host"], o["container_id"]]).shift(-1)
    nxt = nxt.groupby([o["host"], o["container_id"]]).bfill()
    o["next_rec_ns"] = nxt.fillna(-1).to_numpy(dtype=np.int64)
    return o[o["open_n"] > 0].reset_index(drop=True)


def _group_codes(desc: pd.DataFrame, by: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Per container (rows of `desc`): its group code, and the key table of the groups."""
    if by == "container":
        keys = desc[["host", "container_id", "container"]].reset_index(drop=True)
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

    def _g(self, frame: pd.DataFrame) -> np.ndarray:
        ci = self.cidx.get_indexer(pd.MultiIndex.from_frame(frame[KEY]))
        return self.g_of_c[ci]

    def __call__(
        self, lo: int, hi: int, n_g: int | None = None, one: bool = False
    ) -> tuple[
        pd.DataFrame, np.ndarray, list[dict[str, int]], list[dict[str, float]], dict[int, int]
    ]:
        n_g = (1 if one else self.n_g) if n_g is None else n_g
        r = self.parts.rows
        r = r[(r["start_ns"] >= lo) & (r["start_ns"] < hi)]
        g = np.zeros(len(r), dtype=np.int64) if one else self._g(r)
        sums = pd.DataFrame(
            {c: _sum_by(g, r[c].to_numpy(dtype=np.int64), n_g) for c in [*STATE_SUMS, *COUNT_SUMS]}
        )
        # Unknown time before a container's first event, up to its first piece.
        ld = self.leads
        lead_ns = np.clip(
            np.minimum(ld["start_ns"].to_numpy(dtype=np.int64), hi) - max(lo, self.ws), 0, None
        )
        lg = np.zeros(len(ld), dtype=np.int64) if one else self._g(ld)
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
        o = self.opens
        o = o[(o["start_ns"] >= lo) & (o["start_ns"] < hi)]
        nxt = o["next_rec_ns"].to_numpy(dtype=np.int64)
        ok = (nxt >= 0) & (nxt <= hi)  # recovered by the range's end
        o = o[ok]
        og = np.zeros(len(o), dtype=np.int64) if one else self._g(o)
        n_open = o["open_n"].to_numpy(dtype=np.int64)
        ttr = n_open * (nxt[ok] - o["start_ns"].to_numpy(dtype=np.int64)) - o["open_ns"].to_numpy(
            dtype=np.int64
        )
        sums["ttr_ns"] += _sum_by(og, ttr, n_g)
        sums["ttr_n"] += _sum_by(og, n_open, n_g)
        d = self.parts.details
        d = d[(d["start_ns"] >= lo) & (d["start_ns"] < hi)]
        dg = np.zeros(len(d), dtype=np.int64) if one else self._g(d)
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
            for gi, part, code, v in zip(
                idx.get_level_values(0).tolist(),
                idx.get_level_values(1).tolist(),
                idx.get_level_values(2).tolist(),
                agg.tolist(),
                strict=True,
            ):
                if part == EXIT_CODE:
                    exits[int(gi)][str(int(code))] = int(v)
                elif part == DOWN_CAUSE:
                    causes[int(gi)][str(CAUSE_NAMES[int(code)] or "unknown")] = int(v) / NS
                else:
                    planned[int(code)] = planned.get(int(code), 0) + int(v)
        return sums, real, exits, causes, planned


def report_from_parts(
    parts: Parts, window: Window, *, by: str = "container", every: str | None = None
) -> Report:
    """build_report(history, window, by=by, every=every) from the parts of pieces that tile the
    window (piece_parts of whole days and edges, or the store's summaries)."""
    rows = parts.rows
    latest = rows.sort_values("start_ns", kind="stable").groupby(KEY, sort=False).tail(1)
    desc = latest[[*KEY, *DESCRIPTORS]].reset_index(drop=True)
    cidx = pd.MultiIndex.from_frame(desc[KEY])
    g_of_c, keys = _group_codes(desc, by)
    ws, we = window.start_ns, window.end_ns
    total = _Sums(parts, cidx, g_of_c, ws)
    sums, real, exits, causes, planned = total(ws, we)
    lead_ns = total.lead_ns
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
    fsums, _freal, fexits, _, _ = total(ws, we, one=True)
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
