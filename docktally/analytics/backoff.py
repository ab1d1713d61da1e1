"""The engine's restart rules, as code: which exit the engine restarts, and after how long.

Mirrors moby's `restartmanager` (Docker Engine 20.10, checked against the engine on these
machines, see ENGINE.md):

- the delay before a restart starts at 100 ms and doubles with each consecutive restart, capped
  at 1 minute; a run of at least 10 s resets it (the delay is updated on every exit, restarted
  or not);
- `always` restarts on every exit, `unless-stopped` too unless a user stopped the container,
  `on-failure[:N]` only on a non-zero exit and only while fewer than N restarts happened since the
  last manual start (0 = no limit), `no` never;
- a user `stop`/`kill` cancels the restart manager: never restarted;
- when the engine starts, it asks the same question of every container it finds stopped
  (`always` even after a user stop, as Docker documents; `unless-stopped` unless user-stopped;
  `on-failure` with a non-zero last exit and retries left), with a fresh delay;
- a manual `start`/`restart` resets the restart count and the delay.

Pure: no clock, no docker. Durations are integer nanoseconds inside, so the schedule is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from docktally.analytics.states import policy_base
from docktally.errors import UsageError

NS_PER_S = 1_000_000_000
INITIAL_DELAY_NS = 100_000_000  # moby defaultTimeout
BACKOFF_MULTIPLIER = 2
MAX_DELAY_NS = 60 * NS_PER_S  # moby maxRestartTimeout
RESET_AFTER_RUN_NS = 10 * NS_PER_S  # a run this long resets the delay
# Start latency on top of the engine's delay that still counts as the engine's restart: a
# start later than delay + this was not the engine's (it never waits longer than its delay).
START_SLACK_NS = 5 * NS_PER_S

POLICY_NAMES = ("no", "on-failure", "always", "unless-stopped")


@dataclass(frozen=True)
class RestartPolicy:
    """`no`, `on-failure[:N]` (N = 0: unlimited), `always`, `unless-stopped`."""

    name: str
    max_retries: int = 0

    def __post_init__(self) -> None:
        if self.name not in POLICY_NAMES:
            raise UsageError(
                f"restart policy {self.name!r} is not one of {', '.join(POLICY_NAMES)}"
            )
        if self.max_retries < 0:
            raise UsageError("on-failure retries must be 0 (unlimited) or more")

    @staticmethod
    def parse(text: str) -> RestartPolicy:
        """`on-failure:3` -> RestartPolicy("on-failure", 3); "" means `no`, as the engine says."""
        name, _, count = (text or "no").strip().partition(":")
        if count and name != "on-failure":
            raise UsageError(f"restart policy {text!r}: only on-failure takes a retry count")
        try:
            retries = int(count) if count else 0
        except ValueError:
            raise UsageError(f"restart policy {text!r}: {count!r} is not a number") from None
        return RestartPolicy(name, retries)

    @staticmethod
    def of_label(label: str | None) -> RestartPolicy:
        """The policy behind an analytics label: "always (inferred)" is `always`; "unknown" (no
        facts, and no restart by the engine in the events) is `no`."""
        return RestartPolicy.parse(policy_base(label))

    @staticmethod
    def from_facts(name: str | None, max_retries: int | None) -> RestartPolicy:
        return RestartPolicy(name or "no", int(max_retries or 0) if name == "on-failure" else 0)

    def __str__(self) -> str:
        if self.name == "on-failure" and self.max_retries:
            return f"on-failure:{self.max_retries}"
        return self.name


@dataclass
class RestartManager:
    """One container's restart manager, as the engine keeps it between a manual start and the
    next. `decide` is moby's ShouldRestart; `delay_ns` is the wait before the restart."""

    policy: RestartPolicy
    restart_count: int = 0
    timeout_ns: int = 0

    def decide(self, exit_code: int, *, run_ns: int, user_stopped: bool = False) -> int | None:
        """The delay in ns before the engine restarts the container, or None: not restarted."""
        if self.policy.name == "no":
            return None
        if user_stopped:
            # A stop/kill through the API cancels the restart manager before the exit is seen.
            return None
        if run_ns >= RESET_AFTER_RUN_NS:
            self.timeout_ns = 0
        if self.timeout_ns == 0:
            self.timeout_ns = INITIAL_DELAY_NS
        elif self.timeout_ns < MAX_DELAY_NS:
            self.timeout_ns *= BACKOFF_MULTIPLIER
        self.timeout_ns = min(self.timeout_ns, MAX_DELAY_NS)
        if not restarts_on_exit(self.policy, exit_code, self.restart_count, user_stopped):
            return None
        self.restart_count += 1
        return self.timeout_ns

    def manual_start(self) -> None:
        """`docker start`/`restart` by a person: RestartCount 0 and a fresh delay."""
        self.restart_count = 0
        self.timeout_ns = 0

    def engine_start(self) -> None:
        """The engine came back: a new restart manager (fresh delay), RestartCount kept."""
        self.timeout_ns = 0


def restarts_on_exit(
    policy: RestartPolicy, exit_code: int, restart_count: int, user_stopped: bool = False
) -> bool:
    """Does the policy restart this exit (ignoring the delay)?"""
    if policy.name == "always":
        return not user_stopped
    if policy.name == "unless-stopped":
        return not user_stopped
    if policy.name == "on-failure":
        if user_stopped or exit_code == 0:
            return False
        return policy.max_retries == 0 or restart_count < policy.max_retries
    return False


def restarts_at_engine_start(
    policy: RestartPolicy, exit_code: int | None, restart_count: int, user_stopped: bool = False
) -> bool:
    """Is a stopped container started again when the engine starts (daemon restore)?

    The engine kills running containers on its way down (exit 143/137), so an unknown exit code
    counts as non-zero.
    """
    code = 1 if exit_code is None else exit_code
    if policy.name == "always":
        return True
    if policy.name == "unless-stopped":
        return not user_stopped
    if policy.name == "on-failure":
        return code != 0 and (policy.max_retries == 0 or restart_count < policy.max_retries)
    return False


def delay_schedule_s(
    policy: RestartPolicy, runs_s: list[float], exit_code: int = 1
) -> list[float | None]:
    """Delays (s) before each restart, for consecutive exits after runs of the given lengths;
    None where the engine does not restart (and stops: the container stays down)."""
    rm = RestartManager(policy)
    out: list[float | None] = []
    for run_s in runs_s:
        delay = rm.decide(exit_code, run_ns=round(run_s * NS_PER_S))
        out.append(None if delay is None else delay / NS_PER_S)
        if delay is None:
            break
    return out


def retries_exhausted(policy: str | None, restarts: int, still_down: bool) -> str | None:
    """Why the engine stopped restarting a container that is still down: `on-failure:N` allows
    N restarts and it made them. None when the policy did not give up."""
    try:
        p = RestartPolicy.of_label(policy)
    except UsageError:
        return None
    if not still_down or p.name != "on-failure" or p.max_retries <= 0:
        return None
    if restarts < p.max_retries:
        return None
    return (
        f"on-failure:{p.max_retries} exhausted: the engine restarted it {restarts} time(s), as "
        "many as the policy allows, and then left it down"
    )
