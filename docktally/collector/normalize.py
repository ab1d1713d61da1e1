"""Engine payloads -> rows. Pure: no docker SDK, no database, no clock.

Shared by the live collector and `docktally import`, so both store the same thing.
"""

from __future__ import annotations

import json
import math
import signal as _signal
from collections.abc import Mapping
from typing import Any

from docktally.analytics.states import LIFECYCLE_KIND_ORDER
from docktally.timespec import parse_rfc3339_ns

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"

# Kinds that describe the container's lifecycle; exec_* and the rest are stored but not analysed.
LIFECYCLE_KINDS = frozenset(LIFECYCLE_KIND_ORDER)

# Kinds after which the collector refreshes what it knows of the container from inspect.
REFRESH_FACTS_KINDS = frozenset({"create", "start", "update", "rename"})


class InvalidEvent(ValueError):
    """A payload that is not a container event we can store; the message says why."""


# events.exit_code and .signal are 32-bit integers (PostgreSQL's INTEGER): a corrupt line's
# larger number is no code at all.
_CODE_MIN, _CODE_MAX = -(2**31), 2**31 - 1


def parse_signal(value: Any) -> int | None:
    """`15`, `"15"`, `"SIGTERM"` or `"TERM"` -> 15."""
    if value is None or value == "":
        return None
    text = str(value).strip().upper()
    if text.isdigit():
        return code_or_none(text)
    name = text if text.startswith("SIG") else f"SIG{text}"
    try:
        return int(_signal.Signals[name])
    except KeyError:
        return None


def code_or_none(value: Any) -> int | None:
    """An exit code: as int() takes it, None when it is none or out of the column's range."""
    code = _int_or_none(value)
    return code if code is not None and _CODE_MIN <= code <= _CODE_MAX else None


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def split_action(action: str) -> tuple[str, str | None]:
    """An engine action -> (kind, health): "health_status: healthy" -> ("health_status",
    "healthy"); the kind is the action without its argument."""
    kind, _, arg = action.partition(":")
    kind = kind.strip()
    return kind, (arg.strip() or None if kind == "health_status" else None)


def normalize_event(
    payload: Mapping[str, Any], *, host: str, source: str, raw: str | None = None
) -> dict[str, Any] | None:
    """One engine event -> an `events` row; None for events that are not about a container.

    Raises InvalidEvent when a container event lacks what the natural key needs.
    """
    if not isinstance(payload, Mapping):
        raise InvalidEvent("not a JSON object")
    etype = payload.get("Type")
    if etype is not None and etype != "container":
        return None
    action = payload.get("Action") or payload.get("status")
    if not isinstance(action, str) or not action:
        raise InvalidEvent("no Action")
    actor = payload.get("Actor") or {}
    if not isinstance(actor, Mapping):
        raise InvalidEvent("Actor is not an object")
    cid = actor.get("ID") or payload.get("id")
    if not isinstance(cid, str) or not cid:
        raise InvalidEvent("no container id (Actor.ID or id)")
    if len(cid) > 64:
        raise InvalidEvent(f"container id {cid[:16]!r}... is longer than 64 characters")
    time_nano = payload.get("timeNano")
    secs = payload.get("time")
    if isinstance(time_nano, int) and not isinstance(time_nano, bool):
        time_ns = time_nano
    elif isinstance(secs, int | float) and not isinstance(secs, bool) and math.isfinite(secs):
        time_ns = int(secs) * 1_000_000_000
    else:
        raise InvalidEvent("no timeNano or time")
    # The column is a signed 64-bit integer: the engine never sends more, a corrupt line might.
    if not 0 <= time_ns < 2**63:
        raise InvalidEvent(f"timeNano/time {time_ns} is out of range")
    if len(action) > 128:
        raise InvalidEvent(f"Action {action[:16]!r}... is longer than 128 characters")
    attrs = actor.get("Attributes") or {}
    if not isinstance(attrs, Mapping):
        raise InvalidEvent("Actor.Attributes is not an object")
    kind, health = split_action(action)
    return {
        "host": host,
        "container_id": cid,
        "time_ns": time_ns,
        "action": action,
        "kind": kind,
        "name": attrs.get("name"),
        "image": attrs.get("image") or payload.get("from"),
        "exit_code": code_or_none(attrs.get("exitCode")),
        "signal": parse_signal(attrs.get("signal")),
        "health": health,
        "compose_project": attrs.get(COMPOSE_PROJECT),
        "compose_service": attrs.get(COMPOSE_SERVICE),
        "inferred": False,
        "cause_hint": None,
        "evidence": None,
        "raw": raw if raw is not None else json.dumps(payload, separators=(",", ":")),
        "source": source,
    }


def facts_from_inspect(
    inspect: Mapping[str, Any], *, host: str, observed_ns: int
) -> dict[str, Any]:
    """`GET /containers/{id}/json` -> a `container_facts` row."""
    config = inspect.get("Config") or {}
    hostcfg = inspect.get("HostConfig") or {}
    policy = hostcfg.get("RestartPolicy") or {}
    labels = config.get("Labels") or {}
    health = config.get("Healthcheck") or {}
    test = health.get("Test") or []
    return {
        "host": host,
        "container_id": inspect["Id"],
        "observed_ns": observed_ns,
        "name": str(inspect.get("Name") or "").lstrip("/") or None,
        "image": config.get("Image"),
        "created_ns": parse_rfc3339_ns(inspect.get("Created") or ""),
        # The engine spells "no" as an empty name.
        "restart_policy": policy.get("Name") or "no",
        "restart_max_retries": int(policy.get("MaximumRetryCount") or 0),
        "has_healthcheck": bool(test) and test[0] != "NONE",
        "stop_timeout_s": _int_or_none(config.get("StopTimeout")),
        "memory_limit_bytes": _int_or_none(hostcfg.get("Memory")) or None,
        "compose_project": labels.get(COMPOSE_PROJECT),
        "compose_service": labels.get(COMPOSE_SERVICE),
        "labels": json.dumps(labels, sort_keys=True, separators=(",", ":")),
    }
