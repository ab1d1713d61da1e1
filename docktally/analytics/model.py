"""The frames analytics works on and returns: their columns are a contract between the store,
analytics, reports and the dashboard.

Everything is pure: inputs are DataFrames and a Window; nobody here reads a clock or a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# --- inputs (built by docktally.store.reads) ---------------------------------------------------

# Lifecycle events (exec_* left out), sorted by host, container_id, time_ns.
EVENT_COLUMNS = [
    "host",  # str: the engine's host label
    "container_id",  # str: full id
    "name",  # str | None: container name at the time
    "image",  # str | None
    "time_ns",  # int64
    "action",  # str: as the engine spells it ("health_status: healthy")
    "kind",  # str: the action without its argument ("health_status")
    "exit_code",  # Int64 (nullable): on die
    "signal",  # Int64 (nullable): on kill
    "health",  # str | None: "healthy" / "unhealthy" / "starting" on health_status
    "inferred",  # bool: reconstructed from inspect
    "cause_hint",  # str | None: on inferred rows, e.g. "engine_restart"
    "compose_project",  # str | None
    "compose_service",  # str | None
]

# Container facts history from inspect; the row in effect at time t is the last one with
# observed_ns <= t
# (or the first row when t is earlier than every observation).
FACT_COLUMNS = [
    "host",
    "container_id",
    "observed_ns",
    "name",
    "image",
    "created_ns",
    "restart_policy",  # "no" | "on-failure" | "always" | "unless-stopped"
    "restart_max_retries",  # int: N of on-failure:N, 0 = unlimited
    "has_healthcheck",  # bool
    "stop_timeout_s",  # Int64 nullable: engine default 10 s
    "memory_limit_bytes",
    "compose_project",
    "compose_service",
    "labels",  # JSON text
]

# When a collector watched (or an import covered) which host. end_ns is resolved by the store
# (an open row ends at its last heartbeat).
COVERAGE_COLUMNS = ["host", "start_ns", "end_ns", "source"]

# Engine restarts the collector found (gaps of reason engine_restart): [start_ns, end_ns) from
# when the collector lost the engine to the restarted engine's first event. `watched`: the
# collector saw the engine go down (containers died live, then the stream ended), so start_ns is
# when the engine stopped answering and the whole span is known time (the engine was down);
# otherwise (collector stopped, or its connection cut first) only inspect tells when containers
# died.
ENGINE_RESTART_COLUMNS = ["host", "start_ns", "end_ns", "watched"]

# Declared maintenance / reclassification. target_kind "container" (target = name) or
# "service" (target = "project/service" or a bare name); host None means any host.
MAINTENANCE_COLUMNS = [
    "id",
    "host",
    "target_kind",
    "target",
    "start_ns",
    "end_ns",
    "kind",
    "reason",
    "created_by",
    "created_ns",
]

# --- outputs ------------------------------------------------------------------------------------

STATES = ("up", "unhealthy", "down", "planned", "unknown")

# One row per maximal interval of one state for one container, clipped to the window.
INTERVAL_COLUMNS = ["host", "container_id", "start_ns", "end_ns", "state", "cause"]

# One row per failure (a transition up -> down/unhealthy nobody asked for) inside the window.
FAILURE_COLUMNS = [
    "host",
    "container_id",
    "name",
    "image",
    "compose_project",
    "compose_service",
    "policy",  # restart policy in effect at the failure, e.g. "on-failure:4" or "always"
    "time_ns",  # when it went down (the die / oom / unhealthy time)
    "cause",  # oom | crash | clean_exit | start_failure | engine_restart | unhealthy | redeploy
    "exit_code",  # Int64 nullable
    "inferred",  # bool: the die was inferred from inspect
    "recovered_ns",  # Int64 nullable: next start (or healthy, with a health check)
    "restarts",  # int: starts that left the down state after it, up to its recovery (0 for an
    # unhealthy spell that ended by itself)
    "ttr_s",  # float nullable: recovered_ns - time_ns, in seconds
]

DIE_CAUSES = (
    "user_stop",
    "oom",
    "crash",
    "clean_exit",
    "start_failure",
    "engine_restart",
    "redeploy",
)


@dataclass(frozen=True)
class Window:
    """[start_ns, end_ns): every computation is clipped exactly to it."""

    start_ns: int
    end_ns: int

    def __post_init__(self) -> None:
        if self.end_ns <= self.start_ns:
            raise ValueError("window end must be after its start")

    @property
    def seconds(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9


@dataclass(frozen=True)
class History:
    """What the store knows, as frames with the columns above."""

    events: pd.DataFrame
    facts: pd.DataFrame
    coverage: pd.DataFrame
    maintenance: pd.DataFrame
    engine_restarts: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=ENGINE_RESTART_COLUMNS)
    )

    @staticmethod
    def empty() -> History:
        return History(
            events=pd.DataFrame(columns=EVENT_COLUMNS),
            facts=pd.DataFrame(columns=FACT_COLUMNS),
            coverage=pd.DataFrame(columns=COVERAGE_COLUMNS),
            maintenance=pd.DataFrame(columns=MAINTENANCE_COLUMNS),
        )
