"""The engine's restart rules, checked exactly (moby restartmanager, ENGINE.md)."""

from __future__ import annotations

import pytest

from docktally.analytics.backoff import (
    RestartManager,
    RestartPolicy,
    delay_schedule_s,
    restarts_at_engine_start,
    restarts_on_exit,
)
from docktally.errors import UsageError

ALWAYS = RestartPolicy("always")

# consecutive short runs (1 s each) -> delay before each restart
DOUBLING = [
    (1, 0.1),
    (2, 0.2),
    (3, 0.4),
    (4, 0.8),
    (5, 1.6),
    (6, 3.2),
    (7, 6.4),
    (8, 12.8),
    (9, 25.6),
    (10, 51.2),
    (11, 60.0),  # 102.4 capped at 1 min
    (12, 60.0),
    (20, 60.0),
]


@pytest.mark.parametrize(("nth", "delay_s"), DOUBLING)
def test_delay_doubles_from_100ms_capped_at_1min(nth: int, delay_s: float) -> None:
    assert delay_schedule_s(ALWAYS, [1.0] * nth)[-1] == pytest.approx(delay_s, abs=1e-9)


@pytest.mark.parametrize(
    ("runs_s", "delays_s"),
    [
        ([1, 1, 1, 10, 1], [0.1, 0.2, 0.4, 0.1, 0.2]),  # a 10 s run resets
        ([1, 1, 1, 9.999, 1], [0.1, 0.2, 0.4, 0.8, 1.6]),  # 9.999 s does not
        ([30, 30, 30], [0.1, 0.1, 0.1]),  # long runs: always the first delay
        ([1] * 12 + [10], [*[d for _, d in DOUBLING[:11]], 60.0, 0.1]),  # reset from the cap
    ],
)
def test_reset_after_10s_up(runs_s: list[float], delays_s: list[float]) -> None:
    assert delay_schedule_s(ALWAYS, runs_s) == pytest.approx(delays_s)


@pytest.mark.parametrize(
    ("policy", "runs", "expected"),
    [
        ("on-failure:3", 5, [0.1, 0.2, 0.4, None]),  # 3 restarts, then it stays down
        ("on-failure:1", 3, [0.1, None]),
        ("on-failure", 6, [0.1, 0.2, 0.4, 0.8, 1.6, 3.2]),  # 0 = no limit
        ("no", 3, [None]),
        ("unless-stopped", 3, [0.1, 0.2, 0.4]),
    ],
)
def test_policy_schedules(policy: str, runs: int, expected: list[float | None]) -> None:
    assert delay_schedule_s(RestartPolicy.parse(policy), [1.0] * runs) == pytest.approx(expected)


def test_on_failure_retries_do_not_reset_after_a_long_run_but_manual_start_does() -> None:
    rm = RestartManager(RestartPolicy.parse("on-failure:2"))
    assert rm.decide(1, run_ns=1_000_000_000) == 100_000_000
    assert rm.decide(1, run_ns=60_000_000_000) == 100_000_000  # delay reset, count not
    assert rm.decide(1, run_ns=60_000_000_000) is None
    rm.manual_start()
    assert rm.restart_count == 0
    assert rm.decide(1, run_ns=1_000_000_000) == 100_000_000


# (policy, exit code, restart count so far, user stopped) -> restarted on exit
ON_EXIT = [
    ("no", 1, 0, False, False),
    ("no", 0, 0, False, False),
    ("always", 0, 0, False, True),
    ("always", 137, 50, False, True),
    ("always", 143, 0, True, False),  # a user stop is never restarted
    ("unless-stopped", 0, 0, False, True),
    ("unless-stopped", 143, 0, True, False),
    ("on-failure", 0, 0, False, False),  # clean exit: not a failure
    ("on-failure", 1, 99, False, True),
    ("on-failure:3", 1, 2, False, True),
    ("on-failure:3", 1, 3, False, False),
    ("on-failure:3", 137, 0, True, False),
]


@pytest.mark.parametrize(("policy", "code", "count", "stopped", "restarts"), ON_EXIT)
def test_restarts_on_exit(
    policy: str, code: int, count: int, stopped: bool, restarts: bool
) -> None:
    assert restarts_on_exit(RestartPolicy.parse(policy), code, count, stopped) is restarts


def test_user_stop_never_restarted_and_delay_untouched() -> None:
    rm = RestartManager(ALWAYS)
    assert rm.decide(143, run_ns=1, user_stopped=True) is None
    assert rm.decide(1, run_ns=1) == 100_000_000


# At engine start (daemon restore): which stopped containers come back
AT_ENGINE_START = [
    ("no", 137, 0, False, False),
    ("always", 143, 0, False, True),
    ("always", 0, 0, True, True),  # Docker documents: `always` comes back even after a stop
    ("unless-stopped", 143, 0, False, True),
    ("unless-stopped", 0, 0, True, False),
    ("on-failure", 143, 0, False, True),
    ("on-failure", None, 0, False, True),  # killed by the engine: exit unknown, not 0
    ("on-failure", 0, 0, False, False),
    ("on-failure:3", 1, 3, False, False),  # retries used up
]


@pytest.mark.parametrize(("policy", "code", "count", "stopped", "back"), AT_ENGINE_START)
def test_restarts_at_engine_start(
    policy: str, code: int | None, count: int, stopped: bool, back: bool
) -> None:
    assert restarts_at_engine_start(RestartPolicy.parse(policy), code, count, stopped) is back


@pytest.mark.parametrize(
    ("text", "name", "retries", "back"),
    [
        ("", "no", 0, "no"),
        ("no", "no", 0, "no"),
        ("always", "always", 0, "always"),
        ("on-failure", "on-failure", 0, "on-failure"),
        ("on-failure:5", "on-failure", 5, "on-failure:5"),
        ("unless-stopped", "unless-stopped", 0, "unless-stopped"),
    ],
)
def test_policy_parse(text: str, name: str, retries: int, back: str) -> None:
    p = RestartPolicy.parse(text)
    assert (p.name, p.max_retries, str(p)) == (name, retries, back)


@pytest.mark.parametrize("text", ["sometimes", "always:3", "on-failure:x", "on-failure:-1"])
def test_policy_parse_errors(text: str) -> None:
    with pytest.raises(UsageError):
        RestartPolicy.parse(text)
