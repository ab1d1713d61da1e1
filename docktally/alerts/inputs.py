"""The alert engine's inputs from a window's history. Pure: frames in, dataclasses out.

Incidents are computed without the maintenance windows (which analytics would turn into
planned time, hiding a failure that began inside one): the alert engine applies the windows
itself, as mutes.

In steps, so that an evaluation can redo the first for only the containers whose history
changed (alerts/incremental.py): `analyse` gives each container's failures, the intervals the
alerts read and what is known of it; `group_failures` makes the incidents of whole groups of
failures (see `failure_groups`); `incidents_of` and `spells_of` make the engine's dataclasses
of the rows that are needed.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from docktally.alerts.engine import DownSpell, Failure, Incident, Mute
from docktally.alerts.rules import Config
from docktally.analytics.failures import failures_from_timeline
from docktally.analytics.incidents import (
    ENGINE_SCOPE,
    failure_keys,
    frame_records,
    group_incidents,
)
from docktally.analytics.intervals import intervals_from_timeline
from docktally.analytics.model import History, Window
from docktally.analytics.services import service_key
from docktally.analytics.states import exit_code_meaning
from docktally.analytics.timeline import build_timeline

BAD_STATES = ("down", "unhealthy")
# Planned time that ends an incident never recovered (analytics.incidents._removals).
ENDING_CAUSES = ("removed", "user_stop")
INFO_COLUMNS = ["host", "container_id", "name", "service", "subject", "unit"]
SPELL_FIELDS = ("spell_key", "spell_name", "spell_service")
# The group of every engine-restart failure of a host: one incident per restart and host.
ENGINE_GROUP = "\0engine"


def _opt(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _service(project: Any, service: Any) -> str | None:
    project, service = _opt(project), _opt(service)
    if not service:
        return None
    return f"{project}/{service}" if project else str(service)


def container_keys(frame: pd.DataFrame) -> pd.Series:
    """Each row's container as one string, "host\\0container_id"."""
    keys = [f"{h}\0{c}" for h, c in zip(frame["host"], frame["container_id"], strict=True)]
    return pd.Series(keys, index=frame.index, dtype=object)


@dataclass(frozen=True)
class Analysis:
    """What the alerts read of a window's history, per container (rows keyed by `ckey`)."""

    failures: pd.DataFrame  # FAILURE_COLUMNS + ckey
    # INTERVAL_COLUMNS + ckey: down and unhealthy time, and planned time after a removal or a
    # person's stop; sorted by host, container_id, start_ns.
    intervals: pd.DataFrame
    containers: pd.DataFrame  # INFO_COLUMNS + ckey: the DownSpell fields of each container


def analyse(history: History, window: Window, config: Config) -> Analysis:
    plain = dataclasses.replace(history, maintenance=history.maintenance.iloc[0:0])
    timeline = build_timeline(plain, window)
    failures = failures_from_timeline(timeline)
    failures["ckey"] = container_keys(failures)
    iv = intervals_from_timeline(timeline)
    keep = iv["state"].isin(BAD_STATES) | (
        (iv["state"] == "planned") & iv["cause"].isin(ENDING_CAUSES)
    )
    iv = iv[keep].sort_values(["host", "container_id", "start_ns"], kind="stable")
    iv = iv.reset_index(drop=True)
    iv["ckey"] = container_keys(iv)
    return Analysis(failures, iv, _info(timeline.containers, config))


def unit_of(host: Any, container_id: Any, name: Any, project: Any, service: Any) -> str:
    """The containers analytics reads together (`host\\0service key`): a container's deaths
    are told from its siblings' creates (a redeploy replaces one container by another of the
    same service, or name)."""
    named = _opt(name) or str(container_id)[:12]
    return f"{host}\0{service_key(project, service, named)}"


def _info(containers: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Per container, its DownSpell fields: name, service ("project/service") and subject (the
    name, or the service key with scope "service"), and its unit (unit_of); from the
    timeline's last known values."""
    rows = []
    for c in frame_records(containers):
        name = str(c["name"])
        service = _service(c["compose_project"], c["compose_service"])
        subject = name
        if config.scope == "service":
            subject = service_key(
                c["compose_project"], c["compose_service"], name, c["container_id"]
            )
        unit = f"{c['host']}\0{c['service']}"
        rows.append((str(c["host"]), str(c["container_id"]), name, service, subject, unit))
    info = pd.DataFrame(
        {c: pd.Series([r[i] for r in rows], dtype=object) for i, c in enumerate(INFO_COLUMNS)}
    )
    info["ckey"] = container_keys(info)
    return info


def failure_groups(failures: pd.DataFrame, scope: str) -> pd.Series:
    """Each failure's group, "host\\0key": the failures group_incidents may join into one
    incident (a container's, a service's with scope "service", a host's engine restarts)."""
    if failures.empty:
        return pd.Series([], index=failures.index, dtype=object)
    key = failure_keys(failures, scope)
    engine = failures["cause"].astype(str).to_numpy() == "engine_restart"
    groups = [
        f"{h}\0{ENGINE_GROUP if e else k}"
        for h, k, e in zip(failures["host"], key, engine, strict=True)
    ]
    return pd.Series(groups, index=failures.index, dtype=object)


def incident_groups(incidents: pd.DataFrame) -> pd.Series:
    """Each incident's group (failure_groups' key of its failures)."""
    if incidents.empty:
        return pd.Series([], index=incidents.index, dtype=object)
    groups = [
        f"{h}\0{ENGINE_GROUP if scope == ENGINE_SCOPE else (k if scope == 'service' else ids[0])}"
        for h, scope, k, ids in zip(
            incidents["host"],
            incidents["scope"],
            incidents["key"],
            incidents["container_ids"],
            strict=True,
        )
    ]
    return pd.Series(groups, index=incidents.index, dtype=object)


def group_failures(
    failures: pd.DataFrame,
    intervals: pd.DataFrame,
    window: Window,
    config: Config,
    engine_restarts: pd.DataFrame | None,
) -> pd.DataFrame:
    """The incidents (INCIDENT_COLUMNS) of whole groups of failures, with the `ending`
    intervals of their containers (so their downtime_s is 0: the alerts do not read it); in the
    order analytics gives failures, so ties group as in a full read."""
    ordered = failures.sort_values(["time_ns", "host", "container_id"], kind="stable")
    return group_incidents(
        ordered,
        window,
        scope=config.scope,
        stable_s=config.stable_ns / 1e9,
        exit_meaning=exit_code_meaning,
        intervals=intervals,
        engine_restarts=engine_restarts,
        overlapping=False,
    )


def incidents_of(
    rows: Iterable[Mapping[str, Any]], failures: Iterable[Mapping[str, Any]]
) -> list[Incident]:
    """Incident dataclasses of incident rows (INCIDENT_COLUMNS records), their members from
    `failures` (FAILURE_COLUMNS records of at least their containers)."""
    # Each failure once, by container: a lookup per incident, not a scan of every failure.
    by_container: dict[tuple[str, str], dict[int, Failure]] = {}
    for f in failures:
        by_container.setdefault((str(f["host"]), str(f["container_id"])), {})[int(f["time_ns"])] = (
            Failure(
                container_id=str(f["container_id"]),
                time_ns=int(f["time_ns"]),
                cause=str(f["cause"]),
                exit_code=None if _opt(f["exit_code"]) is None else int(f["exit_code"]),
                recovered_ns=None if _opt(f["recovered_ns"]) is None else int(f["recovered_ns"]),
            )
        )
    out = []
    for row in rows:
        host = str(row["host"])
        times = {int(t) for t in row["failure_times_ns"]}
        members = sorted(
            (
                f
                for cid in row["container_ids"]
                for t, f in by_container.get((host, str(cid)), {}).items()
                if t in times
            ),
            key=lambda f: (f.time_ns, f.container_id),
        )
        out.append(
            Incident(
                id=str(row["id"]),
                host=host,
                key=str(row["key"]),
                names=tuple(row["names"]),
                service=_service(row["compose_project"], row["compose_service"]),
                policy=_opt(row["policy"]),
                failures=tuple(members),
                exit_meanings={int(k): str(v) for k, v in row["exit_meanings"].items()},
                ended_ns=None if _opt(row["end_ns"]) is None else int(row["end_ns"]),
                open=bool(row["open"]),
            )
        )
    return out


def last_event_ns(events: pd.DataFrame) -> pd.Series:
    """ckey -> the time of its latest event in `events`."""
    if events.empty:
        return pd.Series([], dtype=np.int64)
    t = events["time_ns"].to_numpy(dtype=np.int64)
    return pd.Series(t, index=container_keys(events)).groupby(level=0).max()


def with_spell_fields(iv: pd.DataFrame, info: pd.DataFrame, last: pd.Series) -> pd.DataFrame:
    """Analysis.intervals with what the down spells need: `bad` (down or unhealthy), `open`
    (it ran to the end of what was read: its container has no later event) and its
    container's DownSpell fields (SPELL_FIELDS, and `subject`: "host|key")."""
    out = iv.copy()
    out["bad"] = out["state"].isin(BAD_STATES).to_numpy()
    ends = out["end_ns"].to_numpy(dtype=np.int64)
    out["open"] = ends > out["ckey"].map(last).fillna(-1).to_numpy(dtype=np.int64)
    by = info.set_index("ckey")
    short = pd.Series([str(c)[:12] for c in out["container_id"]], index=out.index, dtype=object)
    # Not "service": group_incidents would take the intervals for a service's own.
    for col, src in zip(SPELL_FIELDS[:2], ("subject", "name"), strict=True):
        values = out["ckey"].map(by[src]).astype(object)
        out[col] = values.where(values.notna(), short)
    service = out["ckey"].map(by["service"]).astype(object)
    out["spell_service"] = pd.Series([_opt(v) for v in service], index=out.index, dtype=object)
    out["subject"] = pd.Series(
        [f"{h}|{k}" for h, k in zip(out["host"], out["spell_key"], strict=True)],
        index=out.index,
        dtype=object,
    )
    return out


def ending(intervals: pd.DataFrame) -> pd.DataFrame:
    """The intervals group_incidents reads for the alerts: the planned time after a removal or a
    person's stop, which ends an incident never recovered (its down time is not read)."""
    keep = (intervals["state"] == "planned") & intervals["cause"].isin(ENDING_CAUSES)
    return intervals[keep.to_numpy()]


def spells_of(rows: pd.DataFrame, start_ns: np.ndarray, end_ns: np.ndarray) -> list[DownSpell]:
    """DownSpells of with_spell_fields rows over [start_ns, end_ns) (arrays beside the rows)."""
    return [
        DownSpell(str(h), str(k), (str(n),), s, int(lo), int(hi))
        for h, k, n, s, lo, hi in zip(
            rows["host"],
            rows["spell_key"],
            rows["spell_name"],
            rows["spell_service"],
            start_ns,
            end_ns,
            strict=True,
        )
    ]


def mutes_of(maintenance: pd.DataFrame) -> list[Mute]:
    return [
        Mute(
            host=_opt(r["host"]),
            target_kind=str(r["target_kind"]),
            target=str(r["target"]),
            start_ns=int(r["start_ns"]),
            end_ns=int(r["end_ns"]),
        )
        for r in maintenance.to_dict("records")
    ]


def inputs_from_history(
    history: History, window: Window, config: Config
) -> tuple[list[Incident], list[DownSpell], list[Mute]]:
    """All the alert engine's inputs from a window's history, at once."""
    a = analyse(history, window, config)
    frame = group_failures(a.failures, ending(a.intervals), window, config, history.engine_restarts)
    iv = with_spell_fields(a.intervals, a.containers, last_event_ns(history.events))
    bad = iv[iv["bad"].to_numpy()]
    spells = spells_of(bad, bad["start_ns"].to_numpy(), bad["end_ns"].to_numpy())
    incidents = incidents_of(frame_records(frame), frame_records(a.failures))
    return incidents, spells, mutes_of(history.maintenance)
