"""The rules as tables: which event leads to which state, and what an exit code means.

Each table is data, tested row by row (tests/test_analytics_states.py); the interval builder
reads them instead of branching on strings.
"""

from __future__ import annotations

import signal as _signal

# The lifecycle event kinds, in the order analytics codes them. The collector and the store
# take the same set: everything else (exec_*, ...) is stored but not analysed.
LIFECYCLE_KIND_ORDER = (
    "create",
    "start",
    "restart",
    "die",
    "kill",
    "stop",
    "oom",
    "pause",
    "unpause",
    "destroy",
    "health_status",
    "rename",
    "update",
)

# Event kind -> the state the container is in after it. None: the event changes nothing by
# itself (a `kill` only asks; `die` is classified by cause, see DIE_CAUSE_STATE).
ACTION_STATE: dict[str, str | None] = {
    "create": "planned",  # exists, not started: nobody expects it to serve yet
    "start": "up",
    "restart": "up",
    "unpause": "up",
    "pause": "planned",
    "stop": "planned",
    "destroy": "planned",
    "die": None,
    "kill": None,
    "oom": None,
    "rename": None,
    "update": None,
    "health_status": None,  # see HEALTH_STATE
}

# health_status argument -> state (None: "starting" changes nothing).
HEALTH_STATE: dict[str, str | None] = {"healthy": "up", "unhealthy": "unhealthy", "starting": None}

# Cause given to the interval that begins with an event that is not a `die`.
ACTION_CAUSE: dict[str, str | None] = {
    "create": "created",
    "pause": "paused",
    "stop": "user_stop",
    "destroy": "removed",
}

# Every `die` cause -> the state after it. `clean_exit` depends on the restart policy
# (CLEAN_EXIT_IS_FAILURE); the rest do not.
DIE_CAUSE_STATE: dict[str, str] = {
    "user_stop": "planned",
    "oom": "down",
    "crash": "down",
    "clean_exit": "planned",
    "start_failure": "down",
    "engine_restart": "down",
    "redeploy": "planned",
}

# Exit 0 is a failure for containers meant to run forever, a finished job otherwise.
CLEAN_EXIT_IS_FAILURE: dict[str, bool] = {
    "always": True,
    "unless-stopped": True,
    "no": False,
    "on-failure": False,
}

# Exit codes the engine or the shell use for "could not even start".
START_FAILURE_CODES: dict[int, str] = {
    125: "the engine could not run the container (docker run error)",
    126: "command found but not executable",
    127: "command not found",
    128: "invalid exit argument / start failure",
}

NAMED_SIGNALS: dict[int, str] = {
    1: "SIGHUP",
    2: "SIGINT",
    3: "SIGQUIT",
    4: "SIGILL",
    6: "SIGABRT",
    7: "SIGBUS",
    8: "SIGFPE",
    9: "SIGKILL",
    11: "SIGSEGV",
    13: "SIGPIPE",
    14: "SIGALRM",
    15: "SIGTERM",
}

# Exit codes worth a sentence of their own.
EXIT_CODE_MEANING: dict[int, str] = {
    0: "clean exit",
    1: "application error",
    2: "misuse of a shell builtin / usage error",
    **START_FAILURE_CODES,
    130: "SIGINT (interrupted)",
    134: "SIGABRT (abort, e.g. failed assertion)",
    137: "SIGKILL (killed: docker kill, stop timeout, or OOM killer; not proof of OOM)",
    139: "SIGSEGV (segmentation fault)",
    143: "SIGTERM (terminated: docker stop)",
}

# What `docker stop` leaves: exit on SIGTERM (143) or, after the grace period, SIGKILL (137).
STOP_EXIT_CODES = (137, 143)

# Default grace between `docker stop`'s SIGTERM and its SIGKILL, and slack for the die to follow.
DEFAULT_STOP_TIMEOUT_S = 10
STOP_SLACK_S = 5


def signal_of_exit(code: int) -> int | None:
    """128+N means the process died of signal N."""
    if 128 < code < 128 + 65:
        return code - 128
    return None


def signal_name(number: int) -> str:
    if number in NAMED_SIGNALS:
        return NAMED_SIGNALS[number]
    try:
        return _signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_code_meaning(code: int | None) -> str:
    """A short human reading of an exit code."""
    if code is None:
        return "unknown exit code"
    code = int(code)
    if code in EXIT_CODE_MEANING:
        return EXIT_CODE_MEANING[code]
    sig = signal_of_exit(code)
    if sig is not None:
        return f"{signal_name(sig)} (killed by signal {sig})"
    if code < 0 or code > 255:
        return f"exit code {code} (outside 0-255)"
    return f"application error (exit {code})"


# Containers without inspect facts (imported events): their policy is what the events prove,
# marked as such, or unknown (which the engine's rules treat as `no`: it did not restart them).
UNKNOWN_POLICY = "unknown"
INFERRED_SUFFIX = " (inferred)"
INFERRED_POLICIES = ("on-failure" + INFERRED_SUFFIX, "always" + INFERRED_SUFFIX)


def policy_base(policy: str | None) -> str:
    """The engine's policy behind a label: "on-failure:3" and "on-failure (inferred)" ->
    "on-failure"; "unknown" -> "no"."""
    text = (policy or "no").removesuffix(INFERRED_SUFFIX)
    return "no" if text == UNKNOWN_POLICY else text


def clean_exit_is_failure(policy: str | None) -> bool:
    """`always`/`unless-stopped` restart forever, so exiting 0 is a failure; jobs may finish."""
    base = policy_base(policy).split(":", 1)[0]
    return CLEAN_EXIT_IS_FAILURE.get(base, False)


def format_policy(policy: str | None, max_retries: int | None) -> str:
    """`on-failure` + 3 -> "on-failure:3"; None -> "no"."""
    name = policy or "no"
    if name == "on-failure" and max_retries:
        return f"on-failure:{int(max_retries)}"
    return name
