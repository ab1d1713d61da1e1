"""Alert rules: one TOML file, validated into frozen dataclasses.

Every error is one line naming the file and the key (`alerts.toml: rules[2].within: ...`).
Pure: no clock, no database; the file's text is parsed by the standard library's tomllib.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from docktally.errors import UsageError
from docktally.timespec import DURATION_FORMS, parse_duration_ns

KINDS = ("crash_loop", "oom", "unhealthy", "job_failed", "engine_restart", "slo_burn")
SEVERITIES = ("info", "warning", "critical")
SCOPES = ("container", "service")
NS_PER_S = 1_000_000_000

_TOP_KEYS = {
    "notify",
    "dashboard",
    "stable",
    "reminder",
    "evaluate_every",
    "lookback",
    "scope",
    "delivery",
    "rules",
}
_DELIVERY_KEYS = {"retry_min", "retry_max", "give_up_after"}
_RULE_KEYS = {
    "name",
    "kind",
    "severity",
    "container",
    "service",
    "host",
    "reminder",
    "failures",
    "within",
    "longer_than",
    "slo",
    "window",
    "burn_rate",
}
# Keys that mean something only for one kind: a typo'd or misplaced key is an error, not ignored.
_KIND_KEYS = {
    "crash_loop": {"failures", "within"},
    "unhealthy": {"longer_than"},
    "slo_burn": {"slo", "window", "burn_rate"},
}


@dataclass(frozen=True)
class Rule:
    name: str
    kind: str
    severity: str
    # fnmatch patterns; None matches everything.
    container: str | None = None
    service: str | None = None
    host: str | None = None
    # None: the config's reminder; 0: never remind.
    reminder_ns: int | None = None
    failures: int = 3
    within_ns: int = 5 * 60 * NS_PER_S
    longer_than_ns: int = 2 * 60 * NS_PER_S
    slo_ratio: float = 0.999
    window_ns: int = 3600 * NS_PER_S
    # Google SRE's fast burn: 2% of a 30-day budget in one hour.
    burn_rate: float = 14.4


@dataclass(frozen=True)
class Delivery:
    retry_min_ns: int = 5 * NS_PER_S
    retry_max_ns: int = 600 * NS_PER_S
    give_up_after_ns: int = 24 * 3600 * NS_PER_S


@dataclass(frozen=True)
class Config:
    targets: tuple[str, ...]
    rules: tuple[Rule, ...]
    dashboard: str | None = None
    # Up this long after the last failure ends an incident (the same meaning as --stable).
    stable_ns: int = 60 * NS_PER_S
    # A reminder for incidents still open this long after the last message; 0: none.
    reminder_ns: int = 4 * 3600 * NS_PER_S
    evaluate_every_ns: int = 2 * NS_PER_S
    lookback_ns: int = 24 * 3600 * NS_PER_S
    scope: str = "container"
    delivery: Delivery = field(default_factory=Delivery)


def default_rules() -> tuple[Rule, ...]:
    """The rules `--notify URL` turns on without a file."""
    return (
        Rule("crash loop", "crash_loop", "critical"),
        Rule("OOM kill", "oom", "critical"),
        Rule("unhealthy", "unhealthy", "warning"),
        Rule("job failed", "job_failed", "warning", reminder_ns=0),
        Rule("engine restart", "engine_restart", "critical", reminder_ns=0),
        Rule("SLO fast burn", "slo_burn", "warning"),
    )


def default_config(targets: list[str]) -> Config:
    return Config(targets=tuple(targets), rules=default_rules())


def with_targets(config: Config, extra: list[str]) -> Config:
    """The file's targets plus those given with --notify (each once, in order)."""
    return replace(config, targets=tuple(dict.fromkeys([*config.targets, *extra])))


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--alerts: cannot read {p}: {exc.strerror}") from None
    return parse_config(text, where=p.name)


def parse_config(text: str, where: str = "alerts") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not valid TOML: {exc}") from None
    _unknown(data, _TOP_KEYS, where, "")
    targets = _str_list(data.get("notify", []), f"{where}: notify")
    raw_rules = data.get("rules")
    if raw_rules is None:
        rules = default_rules()
    elif not isinstance(raw_rules, list) or not all(isinstance(r, dict) for r in raw_rules):
        raise UsageError(f"{where}: rules: expected [[rules]] tables")
    else:
        rules = tuple(_rule(r, f"{where}: rules[{i}]") for i, r in enumerate(raw_rules))
    names = [r.name for r in rules]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise UsageError(f"{where}: rules: the name {dup!r} is used twice")
    delivery_raw = data.get("delivery", {})
    if not isinstance(delivery_raw, dict):
        raise UsageError(f"{where}: delivery: expected a [delivery] table")
    _unknown(delivery_raw, _DELIVERY_KEYS, where, "delivery.")
    base = Delivery()
    delivery = Delivery(
        retry_min_ns=_dur(delivery_raw, "retry_min", f"{where}: delivery", base.retry_min_ns),
        retry_max_ns=_dur(delivery_raw, "retry_max", f"{where}: delivery", base.retry_max_ns),
        give_up_after_ns=_dur(
            delivery_raw, "give_up_after", f"{where}: delivery", base.give_up_after_ns
        ),
    )
    defaults = Config(targets=(), rules=())
    scope = data.get("scope", defaults.scope)
    if scope not in SCOPES:
        raise UsageError(f"{where}: scope: {scope!r} is not one of {', '.join(SCOPES)}")
    dashboard = data.get("dashboard")
    if dashboard is not None and not isinstance(dashboard, str):
        raise UsageError(f"{where}: dashboard: expected a URL string")
    return Config(
        targets=tuple(targets),
        rules=rules,
        dashboard=dashboard.rstrip("/") if dashboard else None,
        stable_ns=_dur(data, "stable", where, defaults.stable_ns),
        reminder_ns=_dur(data, "reminder", where, defaults.reminder_ns, zero_ok=True),
        evaluate_every_ns=_dur(data, "evaluate_every", where, defaults.evaluate_every_ns),
        lookback_ns=_dur(data, "lookback", where, defaults.lookback_ns),
        scope=scope,
        delivery=delivery,
    )


def _rule(raw: dict[str, Any], where: str) -> Rule:
    _unknown(raw, _RULE_KEYS, where, "")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise UsageError(f"{where}.kind: {kind!r} is not one of {', '.join(KINDS)}")
    misplaced = sorted(
        k for k in raw if any(k in keys for other, keys in _KIND_KEYS.items() if other != kind)
    )
    if misplaced:
        raise UsageError(f"{where}.{misplaced[0]}: not a setting of kind {kind!r}")
    defaults = next(r for r in default_rules() if r.kind == kind)
    severity = raw.get("severity", defaults.severity)
    if severity not in SEVERITIES:
        raise UsageError(f"{where}.severity: {severity!r} is not one of {', '.join(SEVERITIES)}")
    name = raw.get("name", defaults.name)
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{where}.name: expected a non-empty string")
    failures = raw.get("failures", defaults.failures)
    if not isinstance(failures, int) or isinstance(failures, bool) or failures < 1:
        raise UsageError(f"{where}.failures: {failures!r} is not a whole number of at least 1")
    slo = raw.get("slo", defaults.slo_ratio * 100)
    if not isinstance(slo, int | float) or isinstance(slo, bool) or not 0 < slo < 100:
        raise UsageError(f"{where}.slo: {slo!r} is not a percentage between 0 and 100")
    burn = raw.get("burn_rate", defaults.burn_rate)
    if not isinstance(burn, int | float) or isinstance(burn, bool) or burn <= 0:
        raise UsageError(f"{where}.burn_rate: {burn!r} is not a positive number")
    reminder = (
        _dur(raw, "reminder", where, 0, zero_ok=True, sep=".")
        if "reminder" in raw
        else defaults.reminder_ns
    )
    return Rule(
        name=name.strip(),
        kind=kind,
        severity=severity,
        container=_pattern(raw, "container", where),
        service=_pattern(raw, "service", where),
        host=_pattern(raw, "host", where),
        reminder_ns=reminder,
        failures=failures,
        within_ns=_dur(raw, "within", where, defaults.within_ns, sep="."),
        longer_than_ns=_dur(raw, "longer_than", where, defaults.longer_than_ns, sep="."),
        slo_ratio=float(slo) / 100,
        window_ns=_dur(raw, "window", where, defaults.window_ns, sep="."),
        burn_rate=float(burn),
    )


def _unknown(data: dict[str, Any], allowed: set[str], where: str, prefix: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise UsageError(f"{where}: {prefix}{extra[0]}: unknown key")


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise UsageError(f"{where}: expected a list of URL strings")
    return [v.strip() for v in value]


def _pattern(raw: dict[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where}.{key}: expected a name or a glob pattern (web-*)")
    return value


def _dur(
    data: dict[str, Any],
    key: str,
    where: str,
    default: int,
    *,
    zero_ok: bool = False,
    sep: str = ": ",
) -> int:
    if key not in data:
        return default
    value = data[key]
    if zero_ok and value == "off":
        return 0
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # a bare number is seconds, as on the command line
    if not isinstance(value, str):
        raise UsageError(f"{where}{sep}{key}: {value!r} is not a duration ({DURATION_FORMS})")
    ns = parse_duration_ns(value, what=f"{where}{sep}{key}", allow_zero=zero_ok)
    return ns
