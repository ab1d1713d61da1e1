"""Incidents: failures of one container (or service) that follow each other without a stable up
period between them. A crash loop is one incident with many restarts.

Pure: takes the failures frame (FAILURE_COLUMNS, from analytics.failures.find_failures) and the
window; no clock, no database.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics.backoff import RestartPolicy, restarts_at_engine_start
from docktally.analytics.model import FAILURE_COLUMNS, Window
from docktally.analytics.services import service_key

NS_PER_S = 1_000_000_000
DEFAULT_STABLE_S = 60.0
# An incident's share of the error budget is over this period (the SLO's), whatever window
# the incidents were read in: the same incident has the same share in every command.
DEFAULT_BUDGET_PERIOD_S = 30 * 86400.0
# An incident with at least this many failures is a crash loop.
CRASH_LOOP_MIN_FAILURES = 3
SCOPES = ("container", "service")

INCIDENT_COLUMNS = [
    "id",  # "inc-" + 10 hex: the same on every run for the same data
    "host",
    "scope",  # "container" | "service"
    "key",  # container name (scope container) or "project/service" / name (scope service)
    "container_ids",  # list[str]
    "names",  # list[str]
    "compose_project",
    "compose_service",
    "policy",  # the restart policy in effect at the first failure
    "start_ns",  # first failure
    "end_ns",  # Int64 nullable: recovery from the last failure (or the container's removal);
    # null while open
    "open",  # bool: neither recovered nor removed
    "downtime_s",  # down time of the incident's failures inside the window
    "failures",  # int
    "restarts",  # int: starts that left the down state (an unhealthy spell ended by itself: 0)
    "crash_loop",  # bool: CRASH_LOOP_MIN_FAILURES or more failures
    "causes",  # dict cause -> count
    "exit_codes",  # dict "code" -> count
    "exit_meanings",  # dict "code" -> meaning
    "time_to_recover_s",  # float nullable: end - start
    "slo_budget_spent_ratio",  # float nullable: downtime / ((1 - slo) * budget period)
    "overlapping",  # list[str]: ids of other incidents on the same host that overlap this one
    "failure_times_ns",  # list[int]: the failures, oldest first
    # dict | None: for an engine restart (scope "engine"), what the engine did; see
    # _engine_details.
    "engine_restart",
]
ENGINE_SCOPE = "engine"
ENGINE_KEY = "engine restart"
# Dies of an engine restart come at most this long before the engine's stop (its longest stop
# grace): they belong to that restart.
ENGINE_LEAD_NS = 120 * NS_PER_S


def incident_id(host: str, scope: str, key: str, first_failure_ns: int) -> str:
    """Stable across runs: the same host, container/service and first failure give the same id."""
    digest = hashlib.sha1(f"{host}\0{scope}\0{key}\0{int(first_failure_ns)}".encode()).hexdigest()
    return f"inc-{digest[:10]}"


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts (missing values as None, NaN or pd.NA), a column at a time:
    DataFrame.to_dict("records") boxes every value on its own, several times slower."""
    cols = [str(c) for c in frame.columns]
    values = [frame[c].tolist() for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _opt_str(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def _opt_int(value: Any) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


def _default_meaning(code: int) -> str:
    # Used only when no meaning function is passed; analytics.states has the full table.
    return f"exit code {code}"


@dataclass
class _Group:
    host: str
    key: str
    rows: list[Any]
    last_recovery_ns: int | None


def failure_keys(failures: pd.DataFrame, scope: str) -> list[str]:
    """Each failure's container (scope "container") or service: what an incident groups by
    on its host."""
    if scope == "container":
        return [str(c) for c in failures["container_id"]]
    if "service" in failures.columns:  # service failures (analytics.service_state): keyed
        return [str(s) for s in failures["service"]]
    return [
        service_key(p, s, n, c)
        for p, s, n, c in zip(
            failures["compose_project"],
            failures["compose_service"],
            failures["name"],
            failures["container_id"],
            strict=True,
        )
    ]


def group_incidents(
    failures: pd.DataFrame,
    window: Window,
    *,
    scope: str = "container",
    stable_s: float = DEFAULT_STABLE_S,
    slo: float | None = None,
    exit_meaning: Callable[[int], str] | None = None,
    intervals: pd.DataFrame | None = None,
    engine_restarts: pd.DataFrame | None = None,
    budget_period_s: float = DEFAULT_BUDGET_PERIOD_S,
    overlapping: bool = True,
) -> pd.DataFrame:
    """Failures -> incidents (INCIDENT_COLUMNS), oldest first. An incident's SLO budget share is
    its downtime over the budget `slo` allows in `budget_period_s`. `overlapping=False` leaves
    that column's lists empty (the alerts do not read it).

    Failures caused by an engine restart make one incident per restart and host (scope
    "engine"), whatever the scope asked: `engine_restarts` (ENGINE_RESTART_COLUMNS) says when
    the engine was down.

    With `intervals` (INTERVAL_COLUMNS), an incident's downtime is the time its containers
    were really down or unhealthy: a failure never recovered stops counting where the
    container was removed, maintenance began, or the collector stopped watching (unknown).

    A failure joins the incident of the one before it (same host and container, or service)
    when that one did not recover, or recovered less than `stable_s` before this failure.
    """
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}")
    meaning = exit_meaning or _default_meaning
    missing = [c for c in FAILURE_COLUMNS if c not in failures.columns]
    if missing:
        raise ValueError(f"failures frame lacks {missing}")
    if failures.empty:
        return pd.DataFrame(columns=INCIDENT_COLUMNS)
    stable_ns = int(stable_s * NS_PER_S)
    df = failures.copy()
    by_engine = df["cause"].astype(str) == "engine_restart"
    engine_groups = _engine_groups(df[by_engine], engine_restarts)
    df = df[~by_engine]
    df["_key"] = failure_keys(df, scope)
    df = df.sort_values(["host", "_key", "time_ns"], kind="stable")

    groups: list[_Group] = []
    current: _Group | None = None
    # Plain dicts, not iterrows' Series: a Series per row was most of the time on big windows.
    for row in frame_records(df):
        host, key, t = str(row["host"]), str(row["_key"]), int(row["time_ns"])
        rec = _opt_int(row["recovered_ns"])
        joins = (
            current is not None
            and current.host == host
            and current.key == key
            and (current.last_recovery_ns is None or t - current.last_recovery_ns < stable_ns)
        )
        if not joins or current is None:
            current = _Group(host, key, [], None)
            groups.append(current)
        current.rows.append(row)
        current.last_recovery_ns = rec

    budget_s = (1.0 - slo) * budget_period_s if slo is not None and slo < 1.0 else None
    # Service intervals (analytics.service_state) bound a service incident by the service's own
    # combined state; container intervals by its containers'.
    by_service = scope == "service" and intervals is not None and "service" in intervals.columns
    col = "service" if by_service else "container_id"
    down = _down_spans(intervals, col)
    removed = _removals(intervals, col)
    records = [
        _incident_record(g, scope, window, budget_s, meaning, down, removed, by_service)
        for g in groups
    ]
    records += [
        _engine_record(rows, span, window, budget_s, meaning, down, removed)
        for rows, span in engine_groups
    ]
    out = pd.DataFrame.from_records(records, columns=INCIDENT_COLUMNS)
    # Straight from the ints: through a float column (None among ints) ns would be rounded.
    out["end_ns"] = pd.array([r["end_ns"] for r in records], dtype="Int64")
    out["overlapping"] = _overlaps(out, window) if overlapping else [[] for _ in records]
    return out.sort_values(["start_ns", "id"], kind="stable").reset_index(drop=True)


def _incident_record(
    g: _Group,
    scope: str,
    window: Window,
    budget_s: float | None,
    meaning: Callable[[int], str],
    down: dict[tuple[str, str], list[tuple[int, int]]] | None = None,
    removed: dict[tuple[str, str], list[int]] | None = None,
    by_service: bool = False,
) -> dict[str, Any]:
    rows = g.rows

    def span_key(r: Any) -> tuple[str, str]:
        return (str(r["host"]), g.key if by_service else str(r["container_id"]))

    first = rows[0]
    start_ns = int(first["time_ns"])
    last_rec = _opt_int(rows[-1]["recovered_ns"])
    end_ns = last_rec
    if end_ns is None and removed:
        # Never recovered, but removed or stopped by a person: that ends it (nothing is down).
        last = rows[-1]
        t_last = int(last["time_ns"])
        gone = removed.get(span_key(last), [])
        end_ns = next((t for t in gone if t >= t_last), None)
    is_open = end_ns is None
    # Down intervals of the failures, clipped to the window, merged (a health check can report
    # unhealthy while the container is also down).
    spans: list[tuple[int, int]] = []
    for r in rows:
        rec = _opt_int(r["recovered_ns"])
        lo = max(int(r["time_ns"]), window.start_ns)
        hi = min(rec if rec is not None else window.end_ns, window.end_ns)
        if hi <= lo:
            continue
        if down is None:
            spans.append((lo, hi))
        else:
            for d_lo, d_hi in down.get(span_key(r), []):
                if d_lo < hi and d_hi > lo:
                    spans.append((max(lo, d_lo), min(hi, d_hi)))
    downtime_ns = _union_length(spans)
    causes: dict[str, int] = {}
    codes: dict[str, int] = {}
    meanings: dict[str, str] = {}
    for r in rows:
        cause = _opt_str(r["cause"]) or "unknown"
        causes[cause] = causes.get(cause, 0) + 1
        code = _opt_int(r["exit_code"])
        if code is not None:
            codes[str(code)] = codes.get(str(code), 0) + 1
            meanings[str(code)] = meaning(code)
    names = sorted({n for n in (_opt_str(r["name"]) for r in rows) if n})
    ids = list(dict.fromkeys(str(r["container_id"]) for r in rows))
    key = g.key if scope == "service" else (names[-1] if names else g.key[:12])
    downtime_s = downtime_ns / NS_PER_S
    return {
        "id": incident_id(g.host, scope, g.key, start_ns),
        "host": g.host,
        "scope": scope,
        "key": key,
        "container_ids": ids,
        "names": names,
        "compose_project": _opt_str(first["compose_project"]),
        "compose_service": _opt_str(first["compose_service"]),
        "policy": _opt_str(first["policy"]),
        "start_ns": start_ns,
        "end_ns": None if end_ns is None else max(end_ns, start_ns),
        "open": is_open,
        "downtime_s": downtime_s,
        "failures": len(rows),
        "restarts": sum(_opt_int(r["restarts"]) or 0 for r in rows),
        "crash_loop": len(rows) >= CRASH_LOOP_MIN_FAILURES,
        "causes": causes,
        "exit_codes": codes,
        "exit_meanings": meanings,
        "time_to_recover_s": None if last_rec is None else (last_rec - start_ns) / NS_PER_S,
        "slo_budget_spent_ratio": None if budget_s is None else downtime_s / budget_s,
        "overlapping": [],
        "failure_times_ns": [int(r["time_ns"]) for r in rows],
        "engine_restart": None,
    }


# (host, start_ns, end_ns, watched) of an engine restart, or None when no gap row tells.
_Span = tuple[str, int, int, bool] | None


def _engine_groups(
    failures: pd.DataFrame, restarts: pd.DataFrame | None
) -> list[tuple[list[Any], _Span]]:
    """Engine-restart failures grouped by the restart they belong to: the first span on their
    host that ends at or after the failure and starts at most ENGINE_LEAD_NS after it. Failures
    no span claims (an import's hints) group per host when within ENGINE_LEAD_NS of each other."""
    spans: dict[str, list[tuple[int, int, bool]]] = {}
    if restarts is not None and len(restarts):
        for h, s, e, w in zip(
            restarts["host"],
            restarts["start_ns"],
            restarts["end_ns"],
            restarts["watched"],
            strict=True,
        ):
            spans.setdefault(str(h), []).append((int(s), int(e), bool(w)))
    out: dict[tuple[str, int, int, bool], list[Any]] = {}
    loose: list[tuple[list[Any], _Span]] = []
    for row in frame_records(failures.sort_values(["host", "time_ns"], kind="stable")):
        host, t = str(row["host"]), int(row["time_ns"])
        hit = next(
            (sp for sp in sorted(spans.get(host, [])) if sp[0] - ENGINE_LEAD_NS <= t <= sp[1]),
            None,
        )
        if hit is not None:
            out.setdefault((host, *hit), []).append(row)
            continue
        prev = loose[-1][0] if loose else None
        if (
            prev
            and str(prev[-1]["host"]) == host
            and t - int(prev[-1]["time_ns"]) <= ENGINE_LEAD_NS
        ):
            prev.append(row)
        else:
            loose.append(([row], None))
    return [(rows, key) for key, rows in out.items()] + loose


def _engine_record(
    rows: list[Any],
    span: _Span,
    window: Window,
    budget_s: float | None,
    meaning: Callable[[int], str],
    down: dict[tuple[str, str], list[tuple[int, int]]] | None,
    removed: dict[tuple[str, str], list[int]] | None = None,
) -> dict[str, Any]:
    """One engine restart on one host: every container it took down, with what became of each.
    It ends when the last of them came back or was removed."""
    host = str(rows[0]["host"])
    rec = _incident_record(
        _Group(host, ENGINE_KEY, rows, None), ENGINE_SCOPE, window, budget_s, meaning, down
    )
    start_ns = int(rows[0]["time_ns"])
    recoveries = [_opt_int(r["recovered_ns"]) for r in rows]
    ends = [
        r if r is not None else _removed_after(removed, row)
        for r, row in zip(recoveries, rows, strict=True)
    ]
    is_open = any(e is None for e in ends)
    end_ns = None if is_open else max([start_ns, *[e for e in ends if e is not None]])
    policies = sorted({_opt_str(r["policy"]) or "no" for r in rows})
    rec.update(
        id=incident_id(host, ENGINE_SCOPE, ENGINE_KEY, start_ns),
        key=ENGINE_KEY,
        policy=", ".join(policies),
        end_ns=end_ns,
        open=is_open,
        restarts=sum(1 for r in recoveries if r is not None),
        crash_loop=False,
        time_to_recover_s=None if end_ns is None else (end_ns - start_ns) / NS_PER_S,
        engine_restart=_engine_details(rows, span, window),
    )
    return rec


def _removed_after(removed: dict[tuple[str, str], list[int]] | None, row: Any) -> int | None:
    """When the failed container was removed after its failure, if it was."""
    gone = (removed or {}).get((str(row["host"]), str(row["container_id"])), [])
    return next((t for t in gone if t >= int(row["time_ns"])), None)


def _engine_details(rows: list[Any], span: _Span, window: Window) -> dict[str, Any]:
    """When the engine went down (its first victim's death) and came back (the restarted
    engine's first event), when its event stream ended if a collector watched, and for each
    container it took down: whether its restart policy brought it back, a person started it, or
    it stayed down."""
    first_ns = int(rows[0]["time_ns"])
    watched = span is not None and span[3]
    back_ns = span[2] if span is not None else None
    outcomes: dict[str, list[str]] = {"came_back": [], "started_by_hand": [], "stayed_down": []}
    members: list[dict[str, Any]] = []
    for r in rows:
        name = _opt_str(r["name"]) or str(r["container_id"])[:12]
        died, rec = int(r["time_ns"]), _opt_int(r["recovered_ns"])
        policy = _opt_str(r["policy"]) or "no"
        code = _opt_int(r["exit_code"])
        if rec is None:
            outcome = "stayed_down"
        elif restarts_at_engine_start(RestartPolicy.of_label(policy), code, 0):
            outcome = "came_back"
        else:
            outcome = "started_by_hand"
        outcomes[outcome].append(name)
        members.append(
            {
                "name": name,
                "container_id": str(r["container_id"]),
                "policy": policy,
                "exit_code": code,
                "died_ns": died,
                "back_ns": rec,
                "down_s": ((rec if rec is not None else window.end_ns) - died) / NS_PER_S,
                "outcome": outcome,
            }
        )
    return {
        "stopped_ns": first_ns,
        "back_ns": back_ns,
        "down_s": None if back_ns is None else max(0, back_ns - first_ns) / NS_PER_S,
        "watched": watched,
        "stream_end_ns": span[1] if span is not None and watched else None,
        **{k: sorted(v) for k, v in outcomes.items()},
        "containers": sorted(members, key=lambda m: (m["died_ns"], m["name"])),
    }


def _down_spans(
    intervals: pd.DataFrame | None, col: str = "container_id"
) -> dict[tuple[str, str], list[tuple[int, int]]] | None:
    """(host, container id, or service with col "service") -> its down and unhealthy
    intervals."""
    if intervals is None:
        return None
    bad = intervals[intervals["state"].isin(["down", "unhealthy"])]
    out: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for host, cid, lo, hi in zip(
        bad["host"], bad[col], bad["start_ns"], bad["end_ns"], strict=True
    ):
        out.setdefault((str(host), str(cid)), []).append((int(lo), int(hi)))
    return out


def _removals(
    intervals: pd.DataFrame | None, col: str = "container_id"
) -> dict[tuple[str, str], list[int]] | None:
    """(host, container id, or service) -> when it was removed or stopped by a person (starts of
    its `removed` and `user_stop` time), in order."""
    if intervals is None:
        return None
    # A person's stop after the failure ends it too: the container is out of service on purpose.
    ended = intervals["cause"].isin(("removed", "user_stop"))
    gone = intervals[(intervals["state"] == "planned") & ended]
    out: dict[tuple[str, str], list[int]] = {}
    for host, cid, lo in zip(gone["host"], gone[col], gone["start_ns"], strict=True):
        out.setdefault((str(host), str(cid)), []).append(int(lo))
    return {k: sorted(v) for k, v in out.items()}


def _union_length(spans: list[tuple[int, int]]) -> int:
    total = 0
    cur_lo: int | None = None
    cur_hi = 0
    for lo, hi in sorted(spans):
        if cur_lo is None or lo > cur_hi:
            if cur_lo is not None:
                total += cur_hi - cur_lo
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    if cur_lo is not None:
        total += cur_hi - cur_lo
    return total


def _overlaps(incidents: pd.DataFrame, window: Window) -> list[list[str]]:
    """For each incident, the ids of the other incidents on its host whose spans intersect it.

    An open incident lasts to the window's end. Touching spans count: an engine restart takes
    many containers down within the same instant.

    The lists hold every pair, so they are as long as the overlaps are many (an incident open
    for weeks on a busy host overlaps every later one there): each is built with array slices
    and one sort of ranks, not a Python step per pair.
    """
    n = len(incidents)
    if n == 0:
        return []
    ids = [str(i) for i in incidents["id"].tolist()]
    starts = np.array([int(s) for s in incidents["start_ns"].tolist()], dtype=np.int64)
    ends = np.array(
        [window.end_ns if pd.isna(e) else int(e) for e in incidents["end_ns"].tolist()],
        dtype=np.int64,
    )
    # Sorting ranks gives the ids' order: one sort of the ids, not one per list.
    by_id = sorted(range(n), key=ids.__getitem__)
    rank = np.empty(n, dtype=np.int64)
    rank[by_id] = np.arange(n)
    id_of_rank = np.array(ids, dtype=object)[by_id]
    hosts = [str(h) for h in incidents["host"].tolist()]
    by_host: dict[str, list[int]] = {}
    for pos, host in enumerate(hosts):
        by_host.setdefault(host, []).append(pos)
    result: list[list[str]] = [[] for _ in range(n)]
    for members in by_host.values():
        order = np.array(sorted(members, key=lambda p: (starts[p], ends[p], p)), dtype=np.int64)
        lo, hi, ranks = starts[order], ends[order], rank[order]
        # The later ones that overlap the k-th (in start order) are a run right after it: those
        # starting by its end. The earlier ones are those still active when it starts.
        upper = np.searchsorted(lo, hi, side="right")
        active: dict[int, None] = {}
        expiry: list[tuple[int, int]] = []
        for k in range(len(order)):
            t = int(lo[k])
            while expiry and expiry[0][0] < t:
                active.pop(heapq.heappop(expiry)[1])
            earlier = np.fromiter(active, dtype=np.int64, count=len(active))
            later = np.arange(k + 1, max(k + 1, int(upper[k])), dtype=np.int64)
            if len(earlier) or len(later):
                mine = np.sort(ranks[np.concatenate((earlier, later))])
                result[int(order[k])] = id_of_rank[mine].tolist()
            active[k] = None
            heapq.heappush(expiry, (int(hi[k]), k))
    return result


def filter_incidents(
    incidents: pd.DataFrame,
    *,
    container: str | None = None,
    service: str | None = None,
    cause: str | None = None,
) -> pd.DataFrame:
    """Keep incidents touching a container (name or id prefix), a service, or with a cause."""
    keep = pd.Series(True, index=incidents.index)
    if container:
        keep &= incidents.apply(
            lambda r: (
                container in r["names"]
                or any(cid.startswith(container) for cid in r["container_ids"])
            ),
            axis=1,
        ).astype(bool)
    if service:
        keep &= incidents.apply(
            lambda r: (
                service
                in {
                    r["key"] if r["scope"] == "service" else None,
                    r["compose_service"],
                    f"{r['compose_project']}/{r['compose_service']}",
                }
            ),
            axis=1,
        ).astype(bool)
    if cause:
        keep &= incidents["causes"].apply(lambda c: cause in c).astype(bool)
    return incidents[keep].reset_index(drop=True)


def find_incident(incidents: pd.DataFrame, incident: str) -> pd.Series | None:
    """The incident with this id (a unique prefix of it works too)."""
    if incidents.empty:
        return None
    exact = incidents[incidents["id"] == incident]
    if len(exact) == 1:
        return exact.iloc[0]
    pref = incidents[incidents["id"].str.startswith(incident)]
    return pref.iloc[0] if len(pref) == 1 else None


def incident_failures(failures: pd.DataFrame, incident: pd.Series) -> pd.DataFrame:
    """The failure rows that make up an incident, oldest first."""
    times = set(incident["failure_times_ns"])
    sel = failures[
        (failures["host"] == incident["host"])
        & failures["container_id"].isin(incident["container_ids"])
        & failures["time_ns"].isin(times)
    ]
    return sel.sort_values("time_ns", kind="stable").reset_index(drop=True)


# --- one incident in detail (for postmortems) ---------------------------------------------------

TIMELINE_COLUMNS = ["time_ns", "rel_s", "container_id", "name", "kind", "what", "detail"]
# Events this long before the first failure belong to the timeline (the run-up: a kill, an oom).
TIMELINE_LEAD_NS = 30 * NS_PER_S
TIMELINE_TAIL_NS = 5 * NS_PER_S


def incident_timeline(
    events: pd.DataFrame,
    incident: pd.Series,
    members: pd.DataFrame,
    window: Window,
    *,
    exit_meaning: Callable[[int], str] | None = None,
    signal_name: Callable[[int], str] | None = None,
) -> pd.DataFrame:
    """The incident's events, oldest first, each with a sentence.

    `members` are the incident's failures, with `auto` and `engine_delay_s` added by
    analytics.policies.classify_recoveries (the delay the engine's rules say it waited).
    """
    meaning = exit_meaning or _default_meaning
    sig_name = signal_name or (lambda n: f"signal {n}")
    start = int(incident["start_ns"]) - TIMELINE_LEAD_NS
    end_ns = incident["end_ns"]
    stop = (window.end_ns if pd.isna(end_ns) else int(end_ns)) + TIMELINE_TAIL_NS
    ev = events[
        (events["host"] == incident["host"])
        & events["container_id"].isin(incident["container_ids"])
        & (events["time_ns"] >= start)
        & (events["time_ns"] <= stop)
    ].sort_values("time_ns", kind="stable")
    fail_by_time = {(str(r["container_id"]), int(r["time_ns"])): r for _, r in members.iterrows()}
    last_fail: dict[str, Any] = {}
    restarts = 0
    rows: list[dict[str, Any]] = []
    t0 = int(incident["start_ns"])
    engine = incident.get("engine_restart")
    engine = engine if isinstance(engine, dict) else None
    if engine is not None:
        rows += _engine_rows(engine, t0)
    for _, e in ev.iterrows():
        cid = str(e["container_id"])
        t = int(e["time_ns"])
        kind = str(e["kind"])
        what = kind
        detail = ""
        if kind == "kill":
            sig = _opt_int(e["signal"])
            detail = f"signal {sig} ({sig_name(sig)})" if sig is not None else "signal unknown"
            if engine is not None:
                detail += ", sent by the engine on its way down"
        elif kind == "oom":
            detail = "out of memory: the kernel's OOM killer ended a process"
        elif kind == "die":
            code = _opt_int(e["exit_code"])
            f = fail_by_time.get((cid, t))
            cause = str(f["cause"]) if f is not None else "not a failure (asked for)"
            code_txt = f"exit {code} ({meaning(code)})" if code is not None else "exit unknown"
            inferred = " [inferred from inspect]" if bool(e["inferred"]) else ""
            detail = f"{code_txt}; cause: {cause}{inferred}"
            if f is not None:
                last_fail[cid] = f
        elif kind in ("start", "restart") and cid in last_fail:
            f = last_fail.pop(cid)
            restarts += 1
            gap_s = (t - int(f["time_ns"])) / NS_PER_S
            delay = f.get("engine_delay_s")
            if str(f["cause"]) == "engine_restart":
                who = (
                    "started by the restarted engine, as its restart policy says"
                    if bool(f.get("auto"))
                    else "started by hand after the engine came back"
                )
            elif delay is not None and not pd.isna(delay):
                who = f"the engine's back-off {float(delay):.1f} s + start"
            else:
                who = "restarted by hand (or the engine came back)"
            what = "restart"
            detail = f"restart #{restarts}: {gap_s:.2f} s after the die ({who})"
            rec = _opt_int(f["recovered_ns"])
            if rec is not None and rec == t and not pd.isna(end_ns) and t == int(end_ns):
                what = "recovered"
        elif kind == "health_status":
            detail = f"health: {e['health']}"
            if e["health"] == "unhealthy":
                f = fail_by_time.get((cid, t))
                if f is not None:
                    last_fail[cid] = f
            elif e["health"] == "healthy" and not pd.isna(end_ns) and t == int(end_ns):
                what = "recovered"
        elif kind == "stop" and engine is not None:
            detail = "reported by the engine's shutdown, as for `docker stop`: nobody asked"
        elif kind in ("stop", "destroy", "create", "pause", "unpause", "rename", "update"):
            detail = ""
        rows.append(
            {
                "time_ns": t,
                "rel_s": (t - t0) / NS_PER_S,
                "container_id": cid,
                "name": _opt_str(e["name"]) or cid[:12],
                "kind": kind,
                "what": what,
                "detail": detail,
            }
        )
    rows.sort(key=lambda r: int(r["time_ns"]))
    return pd.DataFrame.from_records(rows, columns=TIMELINE_COLUMNS)


def _engine_rows(engine: dict[str, Any], t0: int) -> list[dict[str, Any]]:
    """The engine's own stop and return, as timeline rows."""
    out = [
        (
            int(engine["stopped_ns"]),
            "engine going down",
            "the first container the engine's shutdown took down"
            + ("" if engine["watched"] else " (no collector watched: from inspect)"),
        )
    ]
    if engine["stream_end_ns"] is not None:
        out.append(
            (
                int(engine["stream_end_ns"]),
                "engine stopped",
                "the engine's event stream ended and it stopped answering",
            )
        )
    if engine["back_ns"] is not None:
        out.append(
            (
                int(engine["back_ns"]),
                "engine back",
                f"the restarted engine's first event, {engine['down_s']:.2f} s after it went down",
            )
        )
    return [
        {
            "time_ns": t,
            "rel_s": (t - t0) / NS_PER_S,
            "container_id": "",
            "name": "(engine)",
            "kind": "engine",
            "what": what,
            "detail": detail,
        }
        for t, what, detail in out
    ]


def recovery_breakdown(events: pd.DataFrame, members: pd.DataFrame) -> dict[str, Any]:
    """Time to recover, split: waiting (the engine's back-off, or a person), starting (die ->
    start minus the wait), becoming healthy (start -> healthy, with a health check)."""
    out: dict[str, Any] = {
        "backoff_wait_s": 0.0,
        "manual_wait_s": 0.0,
        "start_s": 0.0,
        "to_healthy_s": 0.0,
        "recovered": 0,
    }
    starts = events[events["kind"].isin(["start", "restart"])]
    for _, f in members.iterrows():
        rec = _opt_int(f["recovered_ns"])
        if rec is None or str(f["cause"]) == "unhealthy":
            if rec is not None:
                out["to_healthy_s"] += (rec - int(f["time_ns"])) / NS_PER_S
                out["recovered"] += 1
            continue
        t = int(f["time_ns"])
        nxt = starts[
            (starts["host"] == f["host"])
            & (starts["container_id"] == f["container_id"])
            & (starts["time_ns"] > t)
            & (starts["time_ns"] <= rec)
        ]
        started = int(nxt["time_ns"].min()) if len(nxt) else rec
        gap = (started - t) / NS_PER_S
        delay = f.get("engine_delay_s")
        if delay is not None and not pd.isna(delay):
            wait = min(float(delay), gap)
            out["backoff_wait_s"] += wait
        else:
            wait = gap
            out["manual_wait_s"] += wait
        out["start_s"] += gap - wait
        out["to_healthy_s"] += (rec - started) / NS_PER_S
        out["recovered"] += 1
    n = out["recovered"]
    out["mttr_s"] = (
        (out["backoff_wait_s"] + out["manual_wait_s"] + out["start_s"] + out["to_healthy_s"]) / n
        if n
        else None
    )
    return out
