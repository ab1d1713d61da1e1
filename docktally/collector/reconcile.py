"""What inspect proves that the event stream did not deliver. Pure: no docker, no SQL, no clock.

After a gap (the engine could not replay what the collector missed) the only record of a
container's last transitions is inspect `State`: `StartedAt` of the current (or last) run and
`FinishedAt` of the last run that ended. `infer_transitions` turns that, and what the database
already knows about the container, into inferred `events` rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from docktally.collector.normalize import COMPOSE_PROJECT, COMPOSE_SERVICE
from docktally.timespec import parse_rfc3339_ns

# The real `start` event's timeNano is a little later than State.StartedAt (and `die` than
# FinishedAt): a known event this close to an inspect time is the same transition.
SLACK_NS = 1_000_000_000

# State fields copied into each inferred row's evidence.
EVIDENCE_FIELDS = (
    "Status",
    "Running",
    "Paused",
    "Restarting",
    "OOMKilled",
    "Dead",
    "ExitCode",
    "Error",
    "StartedAt",
    "FinishedAt",
)


@dataclass(frozen=True)
class Known:
    """What the database knows of one container, as far as reconciliation needs it.

    `last_before_gap_ns`: its last stored event at or before the start of the gap (None: the
    database never saw it before the gap). `starts_ns`/`dies_ns`: stored `start`/`die` times
    from shortly before the gap on (the replay may have delivered some). `restart_count`: the
    RestartCount last seen by inspect, if any.
    """

    last_before_gap_ns: int | None = None
    starts_ns: Sequence[int] = field(default_factory=tuple)
    dies_ns: Sequence[int] = field(default_factory=tuple)
    restart_count: int | None = None

    @property
    def seen(self) -> bool:
        return self.last_before_gap_ns is not None or bool(self.starts_ns) or bool(self.dies_ns)


def _near(times: Sequence[int], t: int) -> bool:
    return any(abs(k - t) <= SLACK_NS for k in times)


def _is_new(t: int | None, known: Known, known_times: Sequence[int], horizon_ns: int) -> bool:
    """A transition at `t` is new if it happened after what the database knew before the gap,
    no later than the horizon (later ones arrive as real events), and nothing stored matches it."""
    if t is None or t > horizon_ns:
        return False
    if known.last_before_gap_ns is not None and t <= known.last_before_gap_ns - SLACK_NS:
        return False
    return not _near(known_times, t)


def infer_transitions(
    inspect: Mapping[str, Any],
    known: Known,
    *,
    host: str,
    horizon_ns: int,
    gap_reason: str | None,
) -> list[dict[str, Any]]:
    """Inferred `events` rows (oldest first) for transitions inspect proves and the DB lacks.

    - A container the database never saw: only its current state's beginning (running: `start`
      at StartedAt; exited: `die` at FinishedAt), which inspect proves.
    - A known one: the `die` at FinishedAt and the `start` at StartedAt, when they are new.
    `gap_reason` ("engine_restart", "replay_overflow" or None) becomes the cause hint, except
    that an OOM kill is hinted "oom".
    """
    state = inspect.get("State") or {}
    started = parse_rfc3339_ns(str(state.get("StartedAt") or ""))
    finished = parse_rfc3339_ns(str(state.get("FinishedAt") or ""))
    running = bool(state.get("Running"))
    # A stopped container's ExitCode is that of the run that ended at FinishedAt; a running
    # one's is reset to 0 by the engine and says nothing about the previous run.
    exit_code = None if running else _int(state.get("ExitCode"))
    oom = bool(state.get("OOMKilled"))
    restart_count = _int(inspect.get("RestartCount"))

    if known.seen:
        want_die = _is_new(finished, known, known.dies_ns, horizon_ns)
        want_start = _is_new(started, known, known.starts_ns, horizon_ns)
        # A FinishedAt before StartedAt belongs to a run before the current one; still a die.
        if want_start and not running and finished is not None and started is not None:
            want_start = started <= finished
    else:
        want_start = running and started is not None and started <= horizon_ns
        want_die = (not running) and finished is not None and finished <= horizon_ns
        want_die = want_die and not _near(known.dies_ns, finished or 0)

    evidence = {f: state.get(f) for f in EVIDENCE_FIELDS if f in state}
    evidence["RestartCount"] = restart_count
    evidence["RestartCountDelta"] = (
        restart_count - known.restart_count
        if restart_count is not None and known.restart_count is not None
        else None
    )
    evidence["seen_before"] = known.seen
    evidence_json = json.dumps(evidence, sort_keys=True, separators=(",", ":"))

    rows: list[dict[str, Any]] = []
    if want_die and finished is not None:
        cause = "oom" if oom else gap_reason
        rows.append(_row(inspect, host, finished, "die", exit_code, cause, evidence_json))
    if want_start and started is not None:
        rows.append(_row(inspect, host, started, "start", None, gap_reason, evidence_json))
    rows.sort(key=lambda r: int(r["time_ns"]))
    return rows


def _row(
    inspect: Mapping[str, Any],
    host: str,
    time_ns: int,
    action: str,
    exit_code: int | None,
    cause_hint: str | None,
    evidence: str,
) -> dict[str, Any]:
    config = inspect.get("Config") or {}
    labels = config.get("Labels") or {}
    return {
        "host": host,
        "container_id": inspect["Id"],
        "time_ns": time_ns,
        "action": action,
        "kind": action,
        "name": str(inspect.get("Name") or "").lstrip("/") or None,
        "image": config.get("Image"),
        "exit_code": exit_code,
        "signal": None,
        "health": None,
        "compose_project": labels.get(COMPOSE_PROJECT),
        "compose_service": labels.get(COMPOSE_SERVICE),
        "inferred": True,
        "cause_hint": cause_hint,
        "evidence": evidence,
        "raw": None,
        "source": "inspect",
    }


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
