"""The alert decisions: incidents, downtime, maintenance and what was already notified in;
the notifications to send now out.

Pure: plain dataclasses in and out, `now_ns` is an argument, nothing here reads a clock, a
database or the network. The edges (alerts/evaluate.py) build the inputs from the store.

One alert per incident (not per restart): the incident's first rule to trigger fires it, a
reminder follows every `reminder` while it stays open, and it resolves once the incident has
been up for `stable`. An incident that recovers before any rule triggers sends nothing (the
thresholds hold flapping back).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from docktally.alerts.rules import Config, Rule

NS_PER_S = 1_000_000_000
FIRING, RESOLVED, REMINDER = "firing", "resolved", "reminder"
# Failures a crash loop counts: an engine restart or a redeploy is not the container crashing.
LOOP_CAUSES = frozenset({"crash", "oom", "start_failure", "clean_exit", "unhealthy"})
JOB_CAUSES = frozenset({"crash", "oom", "start_failure"})
# A job under on-failure without a retry limit has failed for good once the engine has not
# restarted it for longer than its longest back-off (1 min) and then some.
JOB_GAVE_UP_NS = 65 * NS_PER_S


@dataclass(frozen=True)
class Failure:
    container_id: str
    time_ns: int
    cause: str
    exit_code: int | None = None
    recovered_ns: int | None = None


@dataclass(frozen=True)
class Incident:
    id: str
    host: str
    key: str  # container name (scope container) or "project/service"
    names: tuple[str, ...]
    service: str | None  # "project/service" from compose labels, or None
    policy: str | None  # "always", "on-failure:4", "no", ...
    failures: tuple[Failure, ...]  # oldest first
    exit_meanings: dict[int, str] = field(default_factory=dict)
    last_log_line: str | None = None
    # As analytics ended it (a recovery, a removal, the last container an engine restart took
    # down coming back); None: the last failure's recovery.
    ended_ns: int | None = None
    open: bool | None = None

    @property
    def start_ns(self) -> int:
        return self.failures[0].time_ns

    @property
    def end_ns(self) -> int | None:
        """When it ended; None while it is open."""
        if self.open is not None:
            return None if self.open else self.ended_ns
        return self.failures[-1].recovered_ns


@dataclass(frozen=True)
class DownSpell:
    """A container down or unhealthy over [start_ns, end_ns) (end None: still)."""

    host: str
    key: str
    names: tuple[str, ...]
    service: str | None
    start_ns: int
    end_ns: int | None


@dataclass(frozen=True)
class Mute:
    """A maintenance window: host None means every host; target_kind container or service."""

    host: str | None
    target_kind: str
    target: str
    start_ns: int
    end_ns: int


@dataclass(frozen=True)
class Notice:
    """A notification already decided (from the outbox): the alerts' memory across restarts."""

    alert_key: str
    rule: str
    kind: str  # firing | resolved | reminder
    time_ns: int
    subject: str  # "host|key": what an SLO alert is about


@dataclass(frozen=True)
class Decision:
    alert_key: str
    rule: Rule
    kind: str
    time_ns: int
    subject: str
    host: str
    key: str
    incident: Incident | None = None
    # The burn rate of an SLO alert.
    burn_rate: float | None = None
    fired_ns: int | None = None
    reminders: int = 0

    @property
    def dedupe_key(self) -> str:
        """Unique per message: a firing and a resolved once per alert, reminders numbered."""
        suffix = f"{REMINDER}-{self.reminders}" if self.kind == REMINDER else self.kind
        return f"{self.alert_key}/{suffix}"


@dataclass
class _State:
    rule: str
    subject: str
    fired_ns: int
    last_ns: int
    resolved: bool = False
    reminders: int = 0


def fold_notices(notices: Iterable[Notice]) -> dict[str, _State]:
    """alert key -> its state, from the notifications decided so far."""
    states: dict[str, _State] = {}
    for n in sorted(notices, key=lambda n: n.time_ns):
        st = states.get(n.alert_key)
        if n.kind == FIRING:
            if st is None:
                states[n.alert_key] = _State(n.rule, n.subject, n.time_ns, n.time_ns)
        elif st is not None:
            st.last_ns = max(st.last_ns, n.time_ns)
            if n.kind == RESOLVED:
                st.resolved = True
            elif n.kind == REMINDER:
                st.reminders += 1
    return states


def subject_of(host: str, key: str) -> str:
    return f"{host}|{key}"


# --- selectors and maintenance -----------------------------------------------------------------


def _match(pattern: str | None, values: Iterable[str | None]) -> bool:
    if pattern is None:
        return True
    return any(v is not None and fnmatch.fnmatchcase(v, pattern) for v in values)


def selects(rule: Rule, host: str, names: Sequence[str], service: str | None) -> bool:
    return (
        _match(rule.host, [host])
        and _match(rule.container, names)
        and _match(rule.service, [service, service.split("/", 1)[-1] if service else None])
    )


def _mute_covers(m: Mute, host: str, names: Sequence[str], service: str | None) -> bool:
    if m.host is not None and m.host != host:
        return False
    if m.target_kind == "container":
        return m.target in names
    short = service.split("/", 1)[-1] if service else None
    return m.target in (service, short) or (service is None and m.target in names)


def _mutes_for(
    mutes: Sequence[Mute], host: str, names: Sequence[str], service: str | None
) -> list[Mute]:
    return [m for m in mutes if _mute_covers(m, host, names, service)]


def _muted_now(mutes: Sequence[Mute], now_ns: int) -> bool:
    return any(m.start_ns <= now_ns < m.end_ns for m in mutes)


def _down_before_window(mutes: Sequence[Mute], start_ns: int, trigger_ns: int, now_ns: int) -> bool:
    """Uptime Kuma #2846: already down before a window that has ended since, and not notified
    before it: the window's end is no news, so nothing is sent."""
    return any(
        m.end_ns <= now_ns and start_ns < m.start_ns and trigger_ns < m.end_ns for m in mutes
    )


# --- when each rule triggers on an incident ----------------------------------------------------


def trigger_ns(rule: Rule, inc: Incident, now_ns: int) -> int | None:
    """When `rule` became true for the incident (None: not, as of now)."""
    fs = inc.failures
    if rule.kind == "crash_loop":
        times = [f.time_ns for f in fs if f.cause in LOOP_CAUSES]
        n = rule.failures
        for i in range(n - 1, len(times)):
            if times[i] - times[i - n + 1] <= rule.within_ns:
                return times[i]
        return None
    if rule.kind == "oom":
        return next((f.time_ns for f in fs if f.cause == "oom"), None)
    if rule.kind == "unhealthy":
        for f in fs:
            if f.cause != "unhealthy":
                continue
            until = f.recovered_ns if f.recovered_ns is not None else now_ns
            if until - f.time_ns >= rule.longer_than_ns:
                return f.time_ns + rule.longer_than_ns
        return None
    if rule.kind == "job_failed":
        return _job_failed_ns(inc, now_ns)
    if rule.kind == "engine_restart":
        # Analytics makes one incident of every container one engine restart took down.
        return next((f.time_ns for f in fs if f.cause == "engine_restart"), None)
    return None


def _job_failed_ns(inc: Incident, now_ns: int) -> int | None:
    policy = inc.policy or ""
    last = inc.failures[-1]
    if last.recovered_ns is not None or last.cause not in JOB_CAUSES or last.exit_code == 0:
        return None
    if policy in ("", "no"):
        return last.time_ns
    if not policy.startswith("on-failure"):
        return None
    _, _, retries = policy.partition(":")
    if retries.isdigit() and int(retries) > 0 and len(inc.failures) > int(retries):
        return last.time_ns
    gave_up = last.time_ns + JOB_GAVE_UP_NS
    return gave_up if now_ns >= gave_up else None


def _over(end_ns: int | None, now_ns: int, stable_ns: int) -> bool:
    return end_ns is not None and now_ns - end_ns >= stable_ns


# --- the decisions -----------------------------------------------------------------------------


def decide(
    config: Config,
    incidents: Sequence[Incident],
    spells: Sequence[DownSpell],
    mutes: Sequence[Mute],
    notices: Sequence[Notice],
    now_ns: int,
) -> list[Decision]:
    """The notifications to send now (each at most once: see Decision.dedupe_key)."""
    states = fold_notices(notices)
    out: list[Decision] = []
    out += _incident_alerts(config, incidents, mutes, states, now_ns)
    out += _slo_alerts(config, spells, mutes, states, now_ns)
    return out


def _reminder_ns(config: Config, rule: Rule) -> int:
    return config.reminder_ns if rule.reminder_ns is None else rule.reminder_ns


def _follow_up(
    config: Config,
    rule: Rule,
    st: _State,
    over: bool,
    muted: bool,
    now_ns: int,
    base: Decision,
) -> Decision | None:
    """Resolved or reminder for an alert that fired; held back while muted."""
    if st.resolved or muted:
        return None
    if over:
        return replace(base, kind=RESOLVED, fired_ns=st.fired_ns, reminders=st.reminders)
    every = _reminder_ns(config, rule)
    if every > 0 and now_ns - st.last_ns >= every:
        return replace(base, kind=REMINDER, fired_ns=st.fired_ns, reminders=st.reminders + 1)
    return None


def _incident_alerts(
    config: Config,
    incidents: Sequence[Incident],
    mutes: Sequence[Mute],
    states: dict[str, _State],
    now_ns: int,
) -> list[Decision]:
    rules = [r for r in config.rules if r.kind != "slo_burn"]
    by_name = {r.name: r for r in config.rules}
    out: list[Decision] = []
    for inc in incidents:
        if not inc.failures:
            continue
        my_mutes = _mutes_for(mutes, inc.host, inc.names, inc.service)
        muted = _muted_now(my_mutes, now_ns)
        over = _over(inc.end_ns, now_ns, config.stable_ns)
        st = states.get(inc.id)
        base_rule = by_name.get(st.rule) if st is not None else None
        if st is not None and base_rule is not None:
            base = Decision(
                inc.id,
                base_rule,
                FIRING,
                now_ns,
                subject_of(inc.host, inc.key),
                inc.host,
                inc.key,
                incident=inc,
            )
            d = _follow_up(config, base_rule, st, over, muted, now_ns, base)
            if d is not None:
                out.append(d)
            continue
        if st is not None or over:
            continue  # fired under a rule no longer configured, or over before any rule fired
        fired = _first_trigger(rules, inc, now_ns)
        if fired is None or muted:
            continue
        rule, t = fired
        if _down_before_window(my_mutes, inc.start_ns, t, now_ns):
            continue
        out.append(
            Decision(
                inc.id,
                rule,
                FIRING,
                now_ns,
                subject_of(inc.host, inc.key),
                inc.host,
                inc.key,
                incident=inc,
                fired_ns=now_ns,
            )
        )
    return out


def _first_trigger(rules: Sequence[Rule], inc: Incident, now_ns: int) -> tuple[Rule, int] | None:
    best: tuple[Rule, int] | None = None
    for rule in rules:
        if not selects(rule, inc.host, inc.names, inc.service):
            continue
        t = trigger_ns(rule, inc, now_ns)
        if t is not None and t <= now_ns and (best is None or t < best[1]):
            best = (rule, t)
    return best


def down_ns_between(
    spells: Sequence[DownSpell], mutes: Sequence[Mute], start_ns: int, end_ns: int
) -> int:
    """Down time of the spells inside [start_ns, end_ns), maintenance windows left out."""
    pieces: list[tuple[int, int]] = []
    for s in spells:
        lo, hi = (
            max(s.start_ns, start_ns),
            min(s.end_ns if s.end_ns is not None else end_ns, end_ns),
        )
        if hi > lo:
            pieces.append((lo, hi))
    cut = sorted(
        (max(m.start_ns, start_ns), min(m.end_ns, end_ns))
        for m in mutes
        if m.end_ns > start_ns and m.start_ns < end_ns
    )
    total = 0
    for lo, hi in _union(pieces):
        total += hi - lo
        for c_lo, c_hi in _union(cut):
            total -= max(0, min(hi, c_hi) - max(lo, c_lo))
    return total


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _slo_alerts(
    config: Config,
    spells: Sequence[DownSpell],
    mutes: Sequence[Mute],
    states: dict[str, _State],
    now_ns: int,
) -> list[Decision]:
    out: list[Decision] = []
    by_subject: dict[tuple[str, str], list[DownSpell]] = {}
    for s in spells:
        by_subject.setdefault((s.host, s.key), []).append(s)
    for rule in (r for r in config.rules if r.kind == "slo_burn"):
        open_alerts = {
            st.subject: (key, st)
            for key, st in states.items()
            if st.rule == rule.name and not st.resolved
        }
        for (host, key), group in sorted(by_subject.items()):
            names = tuple(sorted({n for s in group for n in s.names}))
            service = group[0].service
            subject = subject_of(host, key)
            if not selects(rule, host, names, service) and subject not in open_alerts:
                continue
            my_mutes = _mutes_for(mutes, host, names, service)
            budget_ns = (1.0 - rule.slo_ratio) * rule.window_ns
            down = down_ns_between(group, my_mutes, now_ns - rule.window_ns, now_ns)
            burn = down / budget_ns
            muted = _muted_now(my_mutes, now_ns)
            if subject in open_alerts:
                alert_key, st = open_alerts.pop(subject)
                base = Decision(alert_key, rule, FIRING, now_ns, subject, host, key, burn_rate=burn)
                # Half the rate to resolve: a rate hovering at the threshold is one alert.
                d = _follow_up(config, rule, st, burn < rule.burn_rate / 2, muted, now_ns, base)
                if d is not None:
                    out.append(d)
            elif burn >= rule.burn_rate and not muted:
                alert_key = f"slo:{rule.name}:{host}:{key}:{now_ns}"
                out.append(
                    Decision(
                        alert_key,
                        rule,
                        FIRING,
                        now_ns,
                        subject,
                        host,
                        key,
                        burn_rate=burn,
                        fired_ns=now_ns,
                    )
                )
        # Open alerts whose subject has no down time left in the lookback: resolved.
        for subject, (alert_key, st) in open_alerts.items():
            host, _, key = subject.partition("|")
            base = Decision(alert_key, rule, FIRING, now_ns, subject, host, key, burn_rate=0.0)
            d = _follow_up(config, rule, st, True, False, now_ns, base)
            if d is not None:
                out.append(d)
    return out
