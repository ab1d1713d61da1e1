"""Engine payloads -> rows. Pure: no docker SDK, no database, no clock.

Shared by the live collector and `docktally import`, so both store the same thing.
"""

from __future__ import annotations

import json
import math
import signal as _signal
from collections.abc import Mapping
from typing import Any

import msgspec

from docktally.store.rows import ROW_FIELDS, EventRow
from docktally.timespec import parse_rfc3339_ns

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"

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


# An attribute that is absent reads as None; one sent as null is of a wrong type (the engine's
# attributes are a Go map[string]string), so the fields are typed `str`.
_ABSENT: Any = None


class EventAttributes(msgspec.Struct, gc=False):
    """The engine's labels and attributes that docktally reads; the others are skipped, not
    built into a dict (a third of the import's decoding time)."""

    name: str = _ABSENT
    image: str = _ABSENT
    exitCode: str = _ABSENT
    signal: str = _ABSENT
    compose_project: str = msgspec.field(default=_ABSENT, name=COMPOSE_PROJECT)
    compose_service: str = msgspec.field(default=_ABSENT, name=COMPOSE_SERVICE)


class EventActor(msgspec.Struct, gc=False):
    ID: str | None = None
    Attributes: EventAttributes | None = None


class EngineEvent(msgspec.Struct, gc=False):
    """The fields of an engine event that docktally reads, typed as the engine sends them;
    other fields are ignored. A field of another JSON type makes the event invalid."""

    Type: str | None = None
    Action: str | None = None
    status: str | None = None  # the pre-1.22 spelling of Action, still sent beside it
    id: str | None = None
    from_: str | None = msgspec.field(default=None, name="from")
    Actor: EventActor | None = None
    time: int | float | None = None
    timeNano: int | float | None = None


_DECODER = msgspec.json.Decoder(EngineEvent)


def decode_event(line: bytes | str) -> EngineEvent:
    """One JSON text (a `docker events --format '{{json .}}'` line) -> EngineEvent.

    Raises InvalidEvent: not JSON, not an object, or a field of the wrong type.
    """
    try:
        return _DECODER.decode(line)
    except msgspec.ValidationError as exc:
        raise InvalidEvent(_validation_reason(exc)) from None
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not JSON ({exc})") from None


def _validation_reason(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    if text.startswith("Expected `object`, got `") and " - at " not in text:
        return f"not a JSON object (got {text.split('got ', 1)[1].strip('`')})"
    return f"wrong JSON type: {text[0].lower()}{text[1:]}"


# exec_create and exec_start carry the exec's command line in their action
# (`exec_start: mysql -phunter2`), and command lines carry passwords: kept only when asked.
EXEC_WITH_COMMAND = frozenset({"exec_create", "exec_start"})


def without_exec_command(action: str, raw: str | bytes) -> tuple[str, str | bytes]:
    """(action, raw JSON) of an exec event without its command line: the action becomes its
    kind (`exec_start`), in the raw event too, which stays bytes if given as bytes; any other
    event is returned as it is."""
    kind, sep, _ = action.partition(":")
    kind = kind.strip()
    if not sep or kind not in EXEC_WITH_COMMAND:
        return action, raw
    # Only the top level is decoded: every other value is kept as received (msgspec.Raw).
    doc = _TOP_LEVEL.decode(raw)
    encoded_kind = msgspec.Raw(msgspec.json.encode(kind))
    for field in ("Action", "status"):
        if field in doc:
            doc[field] = encoded_kind
    encoded = msgspec.json.encode(doc)
    return kind, encoded if isinstance(raw, bytes) else encoded.decode()


_TOP_LEVEL = msgspec.json.Decoder(dict[str, msgspec.Raw])


def normalize_event(
    payload: Mapping[str, Any] | EngineEvent,
    *,
    host: str,
    source: str,
    raw: str | bytes | None = None,
    keep_exec_commands: bool = False,
) -> dict[str, Any] | None:
    """One engine event -> an `events` row as a dict of store.rows.ROW_FIELDS; None for events
    that are not about a container.

    The collector passes the engine's decoded JSON (a mapping), tests an EngineEvent from
    decode_event; both are read as the same typed EngineEvent. `raw` is the event as received
    (default: the event as compact JSON). See event_row for the rest.
    """
    if isinstance(payload, EngineEvent):
        ev = payload
        if raw is None:
            raw = msgspec.json.encode(ev).decode()
    else:
        if not isinstance(payload, Mapping):
            raise InvalidEvent("not a JSON object")
        try:
            ev = msgspec.convert(payload, EngineEvent)
        except msgspec.ValidationError as exc:
            raise InvalidEvent(_validation_reason(exc)) from None
        if raw is None:
            raw = json.dumps(payload, separators=(",", ":"))
    row = event_row(ev, host=host, source=source, raw=raw, keep_exec_commands=keep_exec_commands)
    return None if row is None else dict(zip(ROW_FIELDS, row, strict=True))


def event_row(
    ev: EngineEvent,
    *,
    host: str,
    source: str,
    raw: str | bytes,
    keep_exec_commands: bool = False,
) -> EventRow | None:
    """One decoded engine event -> an `events` row (a tuple of store.rows.ROW_FIELDS, the
    import's form); None for events that are not about a container. `raw` is the event as
    received. Exec command lines are dropped from the action and the raw event unless
    `keep_exec_commands`. Raises InvalidEvent when the event has a field of the wrong type, or
    a container event lacks what the natural key needs.
    """
    if ev.Type is not None and ev.Type != "container":
        return None
    action = ev.Action or ev.status
    if not action:
        raise InvalidEvent("no Action")
    actor = ev.Actor
    cid = (actor.ID if actor is not None else None) or ev.id
    if not cid:
        raise InvalidEvent("no container id (Actor.ID or id)")
    if len(cid) > 64:
        raise InvalidEvent(f"container id {cid[:16]!r}... is longer than 64 characters")
    time_ns = ev.timeNano
    if type(time_ns) is not int:
        secs = ev.time
        if secs is None or not math.isfinite(secs):
            raise InvalidEvent("no timeNano or time")
        time_ns = int(secs) * 1_000_000_000
    # The column is a signed 64-bit integer: the engine never sends more, a corrupt line might.
    if not 0 <= time_ns < 2**63:
        raise InvalidEvent(f"timeNano/time {time_ns} is out of range")
    if not keep_exec_commands and action.startswith("exec_"):
        # Before the checks: a long or odd command line must not make the event invalid.
        action, raw = without_exec_command(action, raw)
    if len(action) > 128:
        raise InvalidEvent(f"Action {action[:16]!r}... is longer than 128 characters")
    # Part of the natural key: no text column of PostgreSQL can hold a NUL.
    if "\x00" in action or "\x00" in cid:
        raise InvalidEvent("Action or container id holds a NUL character")
    attrs = (actor.Attributes if actor is not None else None) or _NO_ATTRS
    # Most actions have no argument and most events no exit code or signal: skip the calls.
    kind, health = split_action(action) if ":" in action else (action, None)
    exit_code, sig = attrs.exitCode, attrs.signal
    return (  # store.rows.ROW_FIELDS
        time_ns,
        action,
        kind,
        None if exit_code is None else code_or_none(exit_code),
        None if sig is None else parse_signal(sig),
        health,
        False,  # inferred
        None,  # cause_hint
        None,  # evidence
        source,
        host,
        cid,
        raw,
        attrs.name,
        attrs.image or ev.from_,
        attrs.compose_project,
        attrs.compose_service,
    )


_NO_ATTRS = EventAttributes()


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


def health_probes_from_inspect(inspect: Mapping[str, Any]) -> list[dict[str, Any]]:
    """State.Health.Log of `GET /containers/{id}/json` (the engine keeps the last five probes)
    as rows: start_ns, end_ns (None if unset), exit_code, output. A probe without a readable
    start is left out: it is the key a probe is stored under."""
    health = (inspect.get("State") or {}).get("Health") or {}
    out: list[dict[str, Any]] = []
    for probe in health.get("Log") or []:
        if not isinstance(probe, Mapping):
            continue
        try:
            start = parse_rfc3339_ns(str(probe.get("Start") or ""))
            end = parse_rfc3339_ns(str(probe.get("End") or ""))
        except ValueError:
            continue
        if start is None:
            continue
        out.append(
            {
                "start_ns": start,
                "end_ns": end,
                "exit_code": _int_or_none(probe.get("ExitCode")),
                "output": str(probe.get("Output") or ""),
            }
        )
    return out
