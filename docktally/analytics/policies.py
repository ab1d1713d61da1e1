"""Restart policies: what was observed under each, and a what-if replay of the observed failures
under every policy with the engine's real rules (analytics.backoff).

Pure: takes the failures frame (FAILURE_COLUMNS), the intervals frame (INTERVAL_COLUMNS), the
container facts and the window; no clock, no database, no docker.

The replay keeps what the workload did (how long each run lasted before it failed, with which
exit code and cause) and lets the policy decide only what the engine decides: whether and when
the container comes back.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from docktally.analytics.backoff import (
    NS_PER_S,
    START_SLACK_NS,
    RestartManager,
    RestartPolicy,
    restarts_at_engine_start,
)
from docktally.analytics.incidents import (
    CRASH_LOOP_MIN_FAILURES,
    DEFAULT_STABLE_S,
    group_incidents,
)
from docktally.analytics.model import Window
from docktally.analytics.states import UNKNOWN_POLICY

DEFAULT_MANUAL_MTTR_S = 600.0  # when history has no restart by hand and no --manual-mttr
DEFAULT_START_LATENCY_S = 0.2  # die -> start minus the engine's delay, when nothing measured it
DEFAULT_RETRIES = 3
ENGINE_RESTART_NEIGHBOURHOOD_S = 120.0
# Causes the restart policy has no say in: recovery happens (or not) as observed.
POLICY_INDEPENDENT = frozenset({"unhealthy", "redeploy"})
DOWN_STATES = ("down", "unhealthy")


def what_if_policies(retries: int = DEFAULT_RETRIES) -> list[RestartPolicy]:
    return [
        RestartPolicy("no"),
        RestartPolicy("on-failure", retries),
        RestartPolicy("always"),
        RestartPolicy("unless-stopped"),
    ]


def _exit_code_for(cause: str, code: Any) -> int:
    if code is not None and not pd.isna(code):
        return int(code)
    return {"clean_exit": 0, "oom": 137}.get(cause, 1)


@dataclass(frozen=True)
class Segment:
    """One failure of a container's trace, with the run that led to it."""

    up_s: float  # time up before the failure: since the trace start or the previous recovery
    exit_code: int
    cause: str
    observed_ttr_s: float | None
    observed_auto: bool  # did the engine (not a person) bring it back?
    engine_back_s: float | None  # engine restarts: how long the engine itself was away


@dataclass
class Trace:
    host: str
    container_id: str
    name: str
    policy: str  # in effect at the first failure
    span_s: float  # from the trace start (first up time) to its end, inside the window
    segments: list[Segment] = field(default_factory=list)


@dataclass
class Outcome:
    """What a policy did (observed) or would have done (replayed) with some traces."""

    containers: int = 0
    failures: int = 0
    recovered: int = 0
    recovered_auto: int = 0
    ttrs_s: list[float] = field(default_factory=list)
    up_s: float = 0.0
    down_s: float = 0.0
    crash_loops: int = 0
    backoff_wait_s: float = 0.0

    def add(self, other: Outcome) -> None:
        self.containers += other.containers
        self.failures += other.failures
        self.recovered += other.recovered
        self.recovered_auto += other.recovered_auto
        self.ttrs_s.extend(other.ttrs_s)
        self.up_s += other.up_s
        self.down_s += other.down_s
        self.crash_loops += other.crash_loops
        self.backoff_wait_s += other.backoff_wait_s

    def as_dict(self) -> dict[str, Any]:
        total = self.up_s + self.down_s
        return {
            "containers": self.containers,
            "failures": self.failures,
            "recovered": self.recovered,
            "recovered_without_person": self.recovered_auto,
            "recovered_without_person_ratio": (
                self.recovered_auto / self.failures if self.failures else None
            ),
            "mttr_s": statistics.fmean(self.ttrs_s) if self.ttrs_s else None,
            "availability": self.up_s / total if total > 0 else None,
            "uptime_s": self.up_s,
            "downtime_s": self.down_s,
            "crash_loops": self.crash_loops,
            "backoff_wait_s": self.backoff_wait_s,
        }


@dataclass(frozen=True)
class ReplayParams:
    manual_mttr_s: float
    manual_mttr_source: str  # "measured" | "--manual-mttr" | "default"
    start_latency_s: float
    stable_s: float = DEFAULT_STABLE_S


def _records(df: pd.DataFrame) -> list[Any]:
    """Rows as attribute-access records (typed Any, unlike itertuples')."""
    return list(df.itertuples(index=False))


def _opt_int(v: Any) -> int | None:
    return None if v is None or pd.isna(v) else int(v)


# --- observed -----------------------------------------------------------------------------------


def classify_recoveries(failures: pd.DataFrame) -> pd.DataFrame:
    """Add `auto` (the engine brought it back, by its rules) and `engine_delay_s` (the delay the
    engine waited, for restarts after an exit) to each failure, walking each container's failures
    with its restart manager."""
    df = failures.sort_values(["host", "container_id", "time_ns"], kind="stable").copy()
    autos: list[bool] = []
    delays: list[float | None] = []
    prev_key: tuple[str, str] | None = None
    rm = RestartManager(RestartPolicy("no"))
    prev_rec: int | None = None
    for row in _records(df):
        key = (str(row.host), str(row.container_id))
        policy = RestartPolicy.of_label(str(row.policy or "no"))
        if key != prev_key:
            rm = RestartManager(policy)
            prev_key, prev_rec = key, None
        rm.policy = policy
        t = int(row.time_ns)
        rec = _opt_int(row.recovered_ns)
        cause = str(row.cause)
        code = _exit_code_for(cause, row.exit_code)
        run_ns = t - prev_rec if prev_rec is not None else t  # unknown start: a long run
        auto = False
        delay: float | None = None
        if cause in POLICY_INDEPENDENT:
            auto = rec is not None and cause == "unhealthy"
        elif cause == "engine_restart":
            auto = rec is not None and restarts_at_engine_start(policy, code, rm.restart_count)
            rm.engine_start()
        else:
            d = rm.decide(code, run_ns=run_ns)
            # The engine never waits longer than its delay: a later start was somebody's.
            if d is not None and rec is not None and rec - t <= d + START_SLACK_NS:
                auto, delay = True, d / NS_PER_S
            elif rec is not None:
                rm.manual_start()
        autos.append(auto)
        delays.append(delay)
        if rec is not None:
            prev_rec = rec
    df["auto"] = autos
    df["engine_delay_s"] = delays
    return df


def measure_params(
    classified: pd.DataFrame, manual_mttr_s: float | None, stable_s: float = DEFAULT_STABLE_S
) -> ReplayParams:
    """Manual MTTR (die -> start by a person) and the start latency (die -> start minus the
    engine's delay), from history."""
    if manual_mttr_s is not None:
        manual, source = float(manual_mttr_s), "--manual-mttr"
    else:
        by_hand = classified[
            ~classified["auto"].astype(bool)
            & classified["ttr_s"].notna()
            & ~classified["cause"].isin(list(POLICY_INDEPENDENT))
        ]
        if len(by_hand):
            manual, source = float(by_hand["ttr_s"].astype(float).mean()), "measured"
        else:
            manual, source = DEFAULT_MANUAL_MTTR_S, "default"
    engine = classified[classified["engine_delay_s"].notna()]
    if len(engine):
        lat = (engine["ttr_s"].astype(float) - engine["engine_delay_s"].astype(float)).clip(lower=0)
        # The mean, not the median: MTTR is a mean, and start times have a long tail under load.
        latency = float(lat.mean())
    else:
        latency = DEFAULT_START_LATENCY_S
    return ReplayParams(manual, source, latency, stable_s)


def start_latency_by_container(classified: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Each container's mean start time after the engine's delay (die -> start minus delay)."""
    engine = classified[classified["engine_delay_s"].notna()]
    out: dict[tuple[str, str], float] = {}
    for (host, cid), grp in engine.groupby(["host", "container_id"], sort=False):
        lat = (grp["ttr_s"].astype(float) - grp["engine_delay_s"].astype(float)).clip(lower=0)
        out[(str(host), str(cid))] = float(lat.mean())
    return out


def manual_mttr_by_container(classified: pd.DataFrame) -> dict[tuple[str, str], float]:
    """Each container's mean die -> start of the failures a person restarted."""
    by_hand = classified[
        ~classified["auto"].astype(bool)
        & classified["ttr_s"].notna()
        & ~classified["cause"].isin(list(POLICY_INDEPENDENT))
    ]
    return {
        (str(h), str(c)): float(g["ttr_s"].astype(float).mean())
        for (h, c), g in by_hand.groupby(["host", "container_id"], sort=False)
    }


def _container_spans(
    intervals: pd.DataFrame, window: Window
) -> dict[tuple[str, str], tuple[int, int]]:
    """(host, container) -> (first, last) ns of its up/down time in the window."""
    if intervals.empty:
        return {}
    live = intervals[intervals["state"].isin(["up", *DOWN_STATES])]
    out: dict[tuple[str, str], tuple[int, int]] = {}
    for (host, cid), grp in live.groupby(["host", "container_id"], sort=False):
        out[(str(host), str(cid))] = (
            max(int(grp["start_ns"].min()), window.start_ns),
            min(int(grp["end_ns"].max()), window.end_ns),
        )
    return out


def build_traces(classified: pd.DataFrame, intervals: pd.DataFrame, window: Window) -> list[Trace]:
    """Each container's failures as a trace the replay can run under another policy."""
    spans = _container_spans(intervals, window)
    engine_rows = classified[classified["cause"] == "engine_restart"]
    traces: list[Trace] = []
    for (host, cid), grp in classified.groupby(["host", "container_id"], sort=True):
        cid = str(cid)
        grp = grp.sort_values("time_ns", kind="stable")
        first_t = int(grp["time_ns"].iloc[0])
        lo, hi = spans.get((str(host), str(cid)), (window.start_ns, window.end_ns))
        lo = min(lo, first_t)
        trace = Trace(
            host=str(host),
            container_id=str(cid),
            name=str(grp["name"].iloc[0] or cid[:12]),
            policy=str(grp["policy"].iloc[0] or "no"),
            span_s=(hi - lo) / NS_PER_S,
        )
        prev = lo
        for row in _records(grp):
            t = int(row.time_ns)
            cause = str(row.cause)
            ttr = None if pd.isna(row.ttr_s) else float(row.ttr_s)
            back: float | None = None
            if cause == "engine_restart":
                near = engine_rows[
                    (engine_rows["host"] == host)
                    & ((engine_rows["time_ns"] - t).abs() <= ENGINE_RESTART_NEIGHBOURHOOD_S * 1e9)
                    & engine_rows["auto"].astype(bool)
                    & engine_rows["ttr_s"].notna()
                ]
                back = float(near["ttr_s"].min()) if len(near) else ttr
            trace.segments.append(
                Segment(
                    up_s=max(0.0, (t - prev) / NS_PER_S),
                    exit_code=_exit_code_for(cause, row.exit_code),
                    cause=cause,
                    observed_ttr_s=ttr,
                    observed_auto=bool(row.auto),
                    engine_back_s=back,
                )
            )
            rec = _opt_int(row.recovered_ns)
            prev = rec if rec is not None else t
        traces.append(trace)
    return traces


def observed_outcome(
    classified: pd.DataFrame,
    spans_up_down: tuple[float, float],
    window: Window,
    stable_s: float = DEFAULT_STABLE_S,
) -> Outcome:
    """The observed metrics of some failures (one policy's), with its up/down totals."""
    out = Outcome()
    out.containers = classified[["host", "container_id"]].drop_duplicates().shape[0]
    out.failures = len(classified)
    rec = classified[classified["ttr_s"].notna()]
    out.recovered = len(rec)
    out.recovered_auto = int(classified["auto"].astype(bool).sum())
    out.ttrs_s = [float(x) for x in rec["ttr_s"]]
    out.up_s, out.down_s = spans_up_down
    engine_waits = classified[classified["engine_delay_s"].notna()]
    out.backoff_wait_s = float(engine_waits["ttr_s"].astype(float).sum())
    if len(classified):
        inc = group_incidents(
            classified.drop(columns=["auto", "engine_delay_s"]), window, stable_s=stable_s
        )
        out.crash_loops = int(inc["crash_loop"].sum())
    return out


# --- replay -------------------------------------------------------------------------------------


def replay(trace: Trace, policy: RestartPolicy, params: ReplayParams) -> Outcome:
    """Run a container's observed failures under `policy` with the engine's rules.

    A failure the engine does not restart is restarted by a person after the manual MTTR
    (which resets the engine's restart count and delay, as `docker start` does).
    """
    out = Outcome(containers=1)
    rm = RestartManager(policy)
    t = 0.0
    span = trace.span_s
    stable = params.stable_s
    last_rec: float | None = None
    loop_size = 0
    for seg in trace.segments:
        if t + seg.up_s >= span:
            break
        out.up_s += seg.up_s
        t += seg.up_s
        out.failures += 1
        joins = last_rec is not None and t - last_rec < stable
        if not joins and loop_size >= CRASH_LOOP_MIN_FAILURES:
            out.crash_loops += 1
        loop_size = loop_size + 1 if joins else 1
        auto = False
        waited = 0.0
        if seg.cause in POLICY_INDEPENDENT:
            down = seg.observed_ttr_s
            auto = seg.cause == "unhealthy" and down is not None
        elif seg.cause == "engine_restart":
            back = seg.engine_back_s if seg.engine_back_s is not None else params.manual_mttr_s
            if restarts_at_engine_start(policy, seg.exit_code, rm.restart_count):
                down, auto = back, True
                rm.engine_start()
            else:
                down = max(back, params.manual_mttr_s)
                rm.manual_start()
        else:
            delay = rm.decide(seg.exit_code, run_ns=round(seg.up_s * NS_PER_S))
            if delay is not None:
                down, auto = delay / NS_PER_S + params.start_latency_s, True
                waited = down
            else:
                down = params.manual_mttr_s
                rm.manual_start()
        if down is None or t + down >= span:
            out.down_s += span - t
            t = span
            last_rec = None
            break
        out.down_s += down
        t += down
        last_rec = t
        out.recovered += 1
        out.recovered_auto += int(auto)
        out.backoff_wait_s += waited
        out.ttrs_s.append(down)
    if loop_size >= CRASH_LOOP_MIN_FAILURES:
        out.crash_loops += 1
    if t < span:
        out.up_s += span - t
    return out


# --- the comparison -------------------------------------------------------------------------


def _policy_of_containers(facts: pd.DataFrame, window: Window) -> dict[tuple[str, str], str]:
    """(host, container) -> the policy in its latest facts observed before the window ends."""
    if facts.empty:
        return {}
    f = facts.sort_values("observed_ns", kind="stable")
    before = f[f["observed_ns"] < window.end_ns]
    f = pd.concat([f.groupby(["host", "container_id"]).head(1), before])
    last = f.groupby(["host", "container_id"]).tail(1)
    return {
        (str(r.host), str(r.container_id)): str(
            RestartPolicy.from_facts(r.restart_policy, _opt_int(r.restart_max_retries))
        )
        for r in _records(last)
    }


def _up_down_by_container(intervals: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float]]:
    out: dict[tuple[str, str], tuple[float, float]] = {}
    if intervals.empty:
        return out
    df = intervals.assign(dur=(intervals["end_ns"] - intervals["start_ns"]) / NS_PER_S)
    for (host, cid), grp in df.groupby(["host", "container_id"], sort=False):
        up = float(grp.loc[grp["state"] == "up", "dur"].sum())
        down = float(grp.loc[grp["state"].isin(DOWN_STATES), "dur"].sum())
        out[(str(host), str(cid))] = (up, down)
    return out


def assumptions(params: ReplayParams, retries: int) -> list[str]:
    src = {
        "measured": "measured from history: mean die -> start of the failures the engine did "
        "not restart (policy `no`, exits on-failure ignores, retries used up)",
        "--manual-mttr": "given with --manual-mttr",
        "default": "a default: history has no restart by hand; set --manual-mttr",
    }[params.manual_mttr_source]
    return [
        "Each container's workload is kept as observed: how long each run lasted before it "
        "failed, with which exit code and cause; only the restarts change.",
        "The engine's rules (moby restartmanager): delay 100 ms doubling per consecutive "
        "restart, capped at 1 min, reset after a run of at least 10 s; on-failure restarts "
        f"only non-zero exits, at most {retries} times (what-if on-failure:{retries}); "
        "always/unless-stopped also restart exit 0; a user stop is never restarted "
        "(user stops are not failures and are not replayed).",
        "After an engine restart, always/unless-stopped and on-failure with a non-zero exit "
        "come back when the engine does (as long as observed); others wait for a person.",
        f"A failure the engine does not restart is restarted by a person after "
        f"{params.manual_mttr_s:.1f} s ({src}); that resets the restart count and delay.",
        f"Starting a container takes {params.start_latency_s * 1000:.0f} ms after the "
        "engine's delay (mean measured die -> start minus the delay"
        + (
            ", a default: nothing measured"
            if params.start_latency_s == DEFAULT_START_LATENCY_S
            else ""
        )
        + ").",
        "Containers without inspect facts (imported events): the policy is what the events "
        "prove, marked (inferred): the engine restarting a container within its back-off after "
        "an exit 0 proves always (or unless-stopped), after other exits at least on-failure; "
        "with no such restart it is unknown, and replayed under its own policy as no.",
        "Health-check failures and redeploys recover as observed under every policy: the "
        "restart policy does not act on them.",
        "always and unless-stopped differ only after a user stop followed by an engine "
        "restart, which the replay does not contain: their rows agree.",
        f"Incidents (and crash loops: {CRASH_LOOP_MIN_FAILURES}+ failures) are failures without "
        f"{params.stable_s:.0f} s of stable uptime between them.",
    ]


def compare_policies(
    failures: pd.DataFrame,
    intervals: pd.DataFrame,
    facts: pd.DataFrame,
    window: Window,
    *,
    retries: int = DEFAULT_RETRIES,
    manual_mttr_s: float | None = None,
    stable_s: float = DEFAULT_STABLE_S,
    containers: set[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """The observed comparison by policy in effect, and the what-if replay under each policy.

    `containers` limits everything to those (host, container_id) pairs (the lab's own).
    """
    if containers is not None:
        kept = containers

        def of_mine(df: pd.DataFrame) -> pd.DataFrame:
            # A boolean array, not a list: an empty list would select no columns instead.
            mine = np.array([p in kept for p in zip(df["host"], df["container_id"], strict=True)])
            return df.loc[mine.astype(bool)]

        failures, intervals = of_mine(failures), of_mine(intervals)
    # MTTR is over failures recovered in the window [start, end) (definitions.md): a recovery at
    # or after its end did not happen yet, for the observed numbers as for the replay.
    late = failures["recovered_ns"].notna() & (
        failures["recovered_ns"].fillna(0).astype("int64") >= window.end_ns
    )
    if late.any():
        failures = failures.copy()
        failures["recovered_ns"] = failures["recovered_ns"].astype("Int64").mask(late)
        failures["ttr_s"] = failures["ttr_s"].astype("Float64").mask(late)
    classified = classify_recoveries(failures)
    params = measure_params(classified, manual_mttr_s, stable_s)
    policy_of = _policy_of_containers(facts, window)
    up_down = _up_down_by_container(intervals)
    for h, c, p in zip(failures["host"], failures["container_id"], failures["policy"], strict=True):
        policy_of.setdefault((str(h), str(c)), str(p or "no"))
    all_keys = set(up_down) | {k for k in policy_of if containers is None or k in containers}
    if containers is not None:
        all_keys &= containers

    traces = build_traces(classified, intervals, window)
    own_latency = start_latency_by_container(classified)
    own_manual = manual_mttr_by_container(classified) if manual_mttr_s is None else {}
    observed: list[dict[str, Any]] = []
    # No facts and no failure (so no restart by the engine either): nothing says its policy.
    policies = sorted(
        {policy_of.get(k, UNKNOWN_POLICY) for k in all_keys} | set(classified["policy"])
    )
    for pol in policies:
        keys = {k for k in all_keys if policy_of.get(k, UNKNOWN_POLICY) == pol}
        sub = classified[classified["policy"] == pol]
        ud = [up_down.get(k, (0.0, 0.0)) for k in keys]
        out = observed_outcome(
            sub, (sum(u for u, _ in ud), sum(d for _, d in ud)), window, stable_s
        )
        out.containers = len(keys | set(zip(sub["host"], sub["container_id"], strict=True)))
        row = {"policy": pol, **out.as_dict()}
        # The model check: these containers' own failures replayed under their own policy,
        # with each container's own measured start time, and with the host's mean.
        mine = [tr for tr in traces if tr.policy == pol]
        self_out, host_out = Outcome(), Outcome()
        for tr in mine:
            key = (tr.host, tr.container_id)
            own = replace(
                params,
                start_latency_s=own_latency.get(key, params.start_latency_s),
                manual_mttr_s=own_manual.get(key, params.manual_mttr_s),
            )
            self_out.add(replay(tr, RestartPolicy.of_label(pol), own))
            host_out.add(replay(tr, RestartPolicy.of_label(pol), params))
        row["replayed_mttr_s"] = self_out.as_dict()["mttr_s"]
        row["replayed_mttr_host_latency_s"] = host_out.as_dict()["mttr_s"]
        observed.append(row)

    traced = {(tr.host, tr.container_id) for tr in traces}
    quiet_up = sum(up_down[k][0] for k in all_keys if k not in traced and k in up_down)
    quiet = len([k for k in all_keys if k not in traced])
    what_if: list[dict[str, Any]] = []
    for pol_obj in what_if_policies(retries):
        total = Outcome(containers=quiet, up_s=quiet_up)
        for tr in traces:
            total.add(replay(tr, pol_obj, params))
        what_if.append({"policy": str(pol_obj), **total.as_dict()})
    return {
        "window": {"start_ns": window.start_ns, "end_ns": window.end_ns},
        "parameters": {
            "manual_mttr_s": params.manual_mttr_s,
            "manual_mttr_source": params.manual_mttr_source,
            "start_latency_s": params.start_latency_s,
            "stable_s": params.stable_s,
            "retries": retries,
        },
        "assumptions": assumptions(params, retries),
        "observed": observed,
        "what_if": what_if,
    }


def mttr_agreement(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per observed policy: measured MTTR against the replay of the same failures under the same
    policy, with their relative difference (|replayed - measured| / measured)."""
    out = []
    for row in result["observed"]:
        measured, replayed = row.get("mttr_s"), row.get("replayed_mttr_s")
        rel = (
            abs(replayed - measured) / measured
            if measured is not None and replayed is not None and measured > 0
            else None
        )
        out.append(
            {
                "policy": row["policy"],
                "measured_mttr_s": measured,
                "replayed_mttr_s": replayed,
                "relative_difference": rel,
            }
        )
    return out
