"""The alert decisions, pure: incidents in the shape evaluate.py builds them, a clock passed in."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docktally.alerts.engine import (
    FIRING,
    REMINDER,
    RESOLVED,
    Decision,
    DownSpell,
    Failure,
    Incident,
    Mute,
    Notice,
    decide,
    down_ns_between,
)
from docktally.alerts.message import render
from docktally.alerts.rules import Config, Rule, default_config

S = 1_000_000_000
T0 = 1_764_000_000 * S  # an arbitrary start
CFG = replace(default_config(["json://127.0.0.1:1"]), stable_ns=60 * S, reminder_ns=3600 * S)


def inc(
    failures: list[Failure],
    *,
    name: str = "web",
    service: str | None = "shop/web",
    policy: str = "always",
    host: str = "h1",
) -> Incident:
    return Incident(
        id=f"inc-{name}-{failures[0].time_ns}",
        host=host,
        key=name,
        names=(name,),
        service=service,
        policy=policy,
        failures=tuple(failures),
        exit_meanings={3: "application error", 137: "SIGKILL (128+9)"},
    )


def crash(
    t_s: float, up_after_s: float | None = 0.5, code: int = 3, cause: str = "crash"
) -> Failure:
    t = T0 + int(t_s * S)
    rec = None if up_after_s is None else t + int(up_after_s * S)
    return Failure("c1", t, cause, code, rec)


def notices(decisions: list[Decision]) -> list[Notice]:
    return [Notice(d.alert_key, d.rule.name, d.kind, d.time_ns, d.subject) for d in decisions]


def run(
    incidents: list[Incident],
    times_s: list[float],
    config: Config = CFG,
    mutes: tuple[Mute, ...] = (),
    spells: tuple[DownSpell, ...] = (),
) -> list[Decision]:
    """Evaluate at each time with the incidents as they stand, remembering what was decided."""
    sent: list[Decision] = []
    for t in times_s:
        now = T0 + int(t * S)
        # Only what had happened by `now`: failures after it are not known yet.
        seen = []
        for i in incidents:
            fs = [
                f
                if f.recovered_ns is None or f.recovered_ns <= now
                else replace(f, recovered_ns=None)
                for f in i.failures
                if f.time_ns <= now
            ]
            if fs:
                seen.append(replace(i, failures=tuple(fs)))
        sent += decide(config, seen, spells, mutes, notices(sent), now)
    return sent


def kinds(decisions: list[Decision]) -> list[tuple[str, str]]:
    return [(d.rule.kind, d.kind) for d in decisions]


def test_crash_loop_fires_once_then_resolves_after_stable() -> None:
    loop = inc([crash(0), crash(1), crash(3), crash(7)])
    out = run([loop], [0.1, 1.1, 3.1, 5, 7.1, 30, 60, 67.6, 70, 200])
    assert kinds(out) == [("crash_loop", FIRING), ("crash_loop", RESOLVED)]
    firing, resolved = out
    assert firing.time_ns == T0 + int(3.1 * S)  # at the third failure, not before
    assert resolved.time_ns == T0 + int(67.6 * S)  # 60 s after the last recovery (7.5 s)


def test_two_failures_then_stable_is_held_back() -> None:
    flap = inc([crash(0), crash(10)])
    assert run([flap], [0.1, 10.1, 100, 200]) == []


def test_failures_further_apart_than_within_are_no_crash_loop() -> None:
    slow = inc([crash(0, 10), crash(200, 10), crash(400, 10)], policy="always")
    # Under `always` a crash is neither a job failure: nothing.
    assert run([slow], [0, 200, 400, 401, 500]) == []


def test_oom_kill_fires_at_once() -> None:
    oom = inc([crash(0, None, 137, "oom")], policy="always")
    out = run([oom], [0.1, 5])
    assert kinds(out) == [("oom", FIRING)]
    msg = render(out[0], "http://dash:8501")
    assert "exit code: 137 (SIGKILL (128+9))" in msg.body
    assert "http://dash:8501/incidents?incident=" + oom.id in msg.body


def test_unhealthy_shorter_than_d_sends_nothing_longer_fires_once() -> None:
    short = inc([Failure("c1", T0, "unhealthy", None, T0 + 60 * S)], name="short")
    long = inc([Failure("c2", T0, "unhealthy", None, None)], name="long")
    out = run([short, long], [10, 60, 119, 121, 180])
    assert [(d.key, d.kind) for d in out] == [("long", FIRING)]
    assert out[0].time_ns == T0 + 121 * S


def test_job_failure_under_no_and_under_exhausted_on_failure() -> None:
    job = inc([crash(0, None, 2)], name="backup", policy="no")
    retried = inc([crash(0), crash(1), crash(3, None)], name="mig", policy="on-failure:2")
    out = run([job, retried], [0.5, 3.5])
    by_key = {d.key: d.rule.kind for d in out}
    # The retried job crashed 3 times within 5 min: a crash loop comes first.
    assert by_key == {"backup": "job_failed", "mig": "crash_loop"}
    clean = inc([crash(0, None, 0, "clean_exit")], name="ok", policy="no")
    assert run([clean], [1, 100]) == []


def test_reminder_every_interval_while_open() -> None:
    down = inc([crash(0, None, 137, "oom")])
    out = run([down], [1, 1800, 3601, 3700, 7202])
    assert [d.kind for d in out] == [FIRING, REMINDER, REMINDER]
    assert [d.dedupe_key.rsplit("/", 1)[1] for d in out] == ["firing", "reminder-1", "reminder-2"]


def test_selectors_and_first_rule_to_trigger() -> None:
    only_db = replace(
        CFG, rules=(Rule("db oom", "oom", "critical", container="db-*"), *CFG.rules[:1])
    )
    web = inc([crash(0, None, 137, "oom")], name="web")
    db = inc([crash(0, None, 137, "oom")], name="db-1")
    out = run([web, db], [1])
    assert {(d.key, d.rule.name) for d in run([web, db], [1], only_db)} == {("db-1", "db oom")}
    assert len(out) == 2


def test_maintenance_mutes_what_happens_inside() -> None:
    window = Mute(None, "service", "shop/web", T0 - 10 * S, T0 + 100 * S)
    loop = inc([crash(0), crash(1), crash(3), crash(7)])
    assert run([loop], [0.1, 3.1, 20, 70, 99], mutes=(window,)) == []
    # Resolved inside the window: nothing at its end either.
    assert run([loop], [0.1, 3.1, 70, 101, 300], mutes=(window,)) == []


def test_still_broken_at_the_end_and_began_inside_fires_at_the_end() -> None:
    window = Mute(None, "container", "web", T0 - 10 * S, T0 + 100 * S)
    down = inc([crash(0, None, 137, "oom")])
    out = run([down], [1, 50, 99, 100, 101], mutes=(window,))
    assert kinds(out) == [("oom", FIRING)]
    assert out[0].time_ns == T0 + 100 * S


def test_already_down_before_the_window_no_alert_at_its_end_uptime_kuma_2846() -> None:
    # Unhealthy 30 s before the window: not yet 2 min, so not notified before it; the window
    # ends with it still unhealthy: the end of maintenance is no news.
    window = Mute(None, "container", "web", T0 + 30 * S, T0 + 600 * S)
    before = inc([Failure("c1", T0, "unhealthy", None, None)])
    assert run([before], [10, 29, 100, 599, 600, 700, 900], mutes=(window,)) == []


def test_fired_before_the_window_stays_one_alert_and_resolves_after_it() -> None:
    window = Mute(None, "container", "web", T0 + 30 * S, T0 + 600 * S)
    down = inc([crash(0, 200, 137, "oom")])
    out = run([down], [1, 100, 300, 599, 600, 700], mutes=(window,))
    # Recovered at 200 inside the window: the resolved waits for the window's end.
    assert kinds(out) == [("oom", FIRING), ("oom", RESOLVED)]
    assert out[1].time_ns == T0 + 600 * S


def test_restart_remembers_from_notices_nothing_twice() -> None:
    loop = inc([crash(0), crash(1), crash(3, None)])
    first = decide(CFG, [loop], [], [], [], T0 + 4 * S)
    assert kinds(first) == [("crash_loop", FIRING)]
    # A new process: the same incident, the outbox's notices: nothing new.
    again = decide(CFG, [loop], [], [], notices(first), T0 + 5 * S)
    assert again == []


def test_engine_restart_one_alert_for_its_incident() -> None:
    # Analytics makes one incident (scope engine) of every container the restart took down.
    victims = [
        Failure(f"c{i}", T0 + i * S // 10, "engine_restart", 143, T0 + 3 * S) for i in range(5)
    ]
    restart = replace(
        inc(victims, name="engine restart", service=None),
        names=tuple(f"s{i}" for i in range(5)),
        open=False,
        ended_ns=T0 + 3 * S,
    )
    out = run([restart], [1, 4, 70])
    assert kinds(out) == [("engine_restart", FIRING), ("engine_restart", RESOLVED)]
    assert "containers taken down: 5: s0, s1, s2, s3, s4" in render(out[0]).body
    # Still open while one container is down, whatever the last failure says.
    held = replace(restart, open=True, ended_ns=None)
    assert kinds(run([held], [1, 70, 200])) == [("engine_restart", FIRING)]


def test_slo_fast_burn_fires_and_resolves_with_hysteresis() -> None:
    rule = Rule("burn", "slo_burn", "warning", slo_ratio=0.999, window_ns=3600 * S, burn_rate=14.4)
    cfg = replace(CFG, rules=(rule,))
    # 14.4x of a 0.1% budget over 1 h is 51.84 s down.
    spell = DownSpell("h1", "web", ("web",), None, T0, T0 + 60 * S)
    out = run([], [30, 55, 61, 3000, 3700], cfg, spells=(spell,))
    assert kinds(out) == [("slo_burn", FIRING), ("slo_burn", RESOLVED)]
    assert out[0].time_ns == T0 + 55 * S
    # Inside maintenance the down time burns nothing.
    window = Mute(None, "container", "web", T0 - S, T0 + 100 * S)
    assert run([], [55, 61, 3000], cfg, spells=(spell,), mutes=(window,)) == []


def test_downtime_leaves_maintenance_out() -> None:
    spells = [DownSpell("h", "k", ("k",), None, 0, 100), DownSpell("h", "k", ("k",), None, 50, 150)]
    assert down_ns_between(spells, [], 0, 200) == 150
    assert down_ns_between(spells, [Mute(None, "container", "k", 20, 40)], 0, 120) == 100


@pytest.mark.parametrize(
    "name",
    ["<script>alert(1)</script>", "web\x1b[2J\x1b[31mred", "a&b\"c'd", "line\nbreak"],
)
def test_hostile_text_stays_plain_text(name: str) -> None:
    hostile = replace(
        inc([crash(0, None, 137, "oom")], name="web"),
        service=name,
        last_log_line=name,
    )
    msg = render(decide(CFG, [hostile], [], [], [], T0 + S)[0])
    assert "\x1b" not in msg.body and "\x1b" not in msg.title
    lines = msg.body.splitlines()
    svc = next(ln for ln in lines if ln.startswith("service: "))
    if name.isprintable():
        assert svc == f"service: {name}"  # exactly as given: no HTML escaping
    else:
        assert "\\x" in svc


def test_recorded_engine_restart_is_one_alert_for_the_host() -> None:
    # The engine restart recorded from a real engine (tests/data/engine_restart), through the
    # same inputs evaluate.py builds from the store.
    from docktally.alerts.evaluate import inputs_from_history
    from tests.test_engine_restart_rule import BACK_NS, WATCHED, WINDOW, history

    h = history(restarts=WATCHED)
    incidents, spells, mutes = inputs_from_history(h, WINDOW, CFG)
    only_engine = replace(CFG, rules=tuple(r for r in CFG.rules if r.kind == "engine_restart"))
    out = decide(only_engine, incidents, spells, mutes, [], BACK_NS)
    assert [(d.rule.kind, d.kind, d.host) for d in out] == [("engine_restart", FIRING, "h")]
    msg = render(out[0])
    assert msg.title == "[CRITICAL] engine restart on h"
    assert "containers taken down: 4: always, never, onfail, unless" in msg.body


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Incident], list[float], tuple[Mute, ...]]:
    incidents = []
    for n in range(draw(st.integers(1, 3))):
        t, fs = 0.0, []
        for _ in range(draw(st.integers(1, 6))):
            t += draw(st.floats(0.1, 400))
            up = draw(st.one_of(st.none(), st.floats(0.1, 200)))
            cause = draw(st.sampled_from(["crash", "oom", "unhealthy", "clean_exit"]))
            fs.append(crash(t, up, 137 if cause == "oom" else 3, cause))
            if up is None:
                break
            t += up
        incidents.append(inc(fs, name=f"c{n}", policy=draw(st.sampled_from(["always", "no"]))))
    times = sorted(draw(st.lists(st.floats(0, 3000), min_size=1, max_size=30)))
    mutes = tuple(
        Mute(None, "container", f"c{draw(st.integers(0, 2))}", T0 + int(a * S), T0 + int(b * S))
        for a, b in draw(st.lists(st.tuples(st.floats(0, 1500), st.floats(1500, 3000)), max_size=2))
    )
    return incidents, times, mutes


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_every_message_once_firing_first_nothing_while_muted(
    case: tuple[list[Incident], list[float], tuple[Mute, ...]],
) -> None:
    incidents, times, mutes = case
    out = run(incidents, times, mutes=mutes)
    keys = [d.dedupe_key for d in out]
    assert len(keys) == len(set(keys))
    fired: set[str] = set()
    for d in out:
        if d.kind == FIRING:
            assert d.alert_key not in fired
            fired.add(d.alert_key)
        else:
            assert d.alert_key in fired  # a resolved or a reminder follows its firing
        inc_ = d.incident
        assert inc_ is not None
        assert not any(m.target in inc_.names and m.start_ns <= d.time_ns < m.end_ns for m in mutes)
