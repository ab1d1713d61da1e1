"""Table definitions (SQLAlchemy Core). Migrations in docktally/migrations must match these;
`alembic check` in the tests catches any drift.

Times are integer nanoseconds since the epoch, UTC, in columns named `*_ns`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# Stable constraint names, so migrations and `alembic check` agree on every backend.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT for big tables.
_Id = BigInteger().with_variant(Integer(), "sqlite")

# One row per container ever seen (host, engine id): events refer to it by `ref`, so the
# 64-character id, the name, image and compose labels are stored once, not on every event.
# name/image/compose are the latest the events said (as of `seen_ns`), facts keep the history.
containers = Table(
    "containers",
    metadata,
    Column("ref", _Id, primary_key=True, autoincrement=True),
    Column("host", String(255), nullable=False),
    Column("container_id", String(64), nullable=False),
    # Names, images and compose labels longer than their column are cut when stored (the raw
    # event keeps them whole): store.writes.storable_text.
    Column("name", String(255)),
    Column("image", String(512)),
    Column("compose_project", String(255)),
    Column("compose_service", String(255)),
    # The time of the event that gave the values above: an older import does not undo a rename.
    Column("seen_ns", BigInteger),
    UniqueConstraint("host", "container_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    # containers.ref (no foreign key: SQLite would not enforce it, PostgreSQL would check every
    # insert; the store's writes create the container row first).
    Column("container_ref", BigInteger, nullable=False),
    Column("time_ns", BigInteger, nullable=False),
    # The engine's spelling, e.g. "die" or "health_status: healthy".
    Column("action", String(128), nullable=False),
    # The action without its argument ("health_status", "exec_start"): what analytics keys on.
    Column("kind", String(64), nullable=False),
    Column("exit_code", Integer),
    Column("signal", Integer),
    Column("health", String(16)),
    # True for transitions reconstructed from inspect rather than received as events.
    Column("inferred", Boolean, nullable=False, default=False),
    # For inferred rows: what we know caused them ("engine_restart", "oom", ...).
    Column("cause_hint", String(32)),
    Column("evidence", Text),
    Column("source", String(16), nullable=False),
    # The event as received: line `raw_line` (0-based) of raw_chunks row `raw_chunk`.
    Column("raw_chunk", BigInteger),
    Column("raw_line", Integer),
    UniqueConstraint("container_ref", "time_ns", "action"),
    Index(None, "time_ns"),
    # A container's last event of one kind before a time (store.reads: the state when a
    # window opens), one seek even for a kind it never had.
    Index(None, "container_ref", "kind", "time_ns", "action"),
)

# The raw JSON of received events, a batch (a collector commit, an import chunk) per row:
# lines joined by "\n" (a JSON text has no raw newline), compressed with zlib (the collector)
# or zstd (imports; see store.writes.unpack_raw). Compressed together,
# the repetitive JSON of one batch takes ~10x less room than a column of raw text, and writing
# it costs one blob per batch instead of half a kilobyte per row.
raw_chunks = Table(
    "raw_chunks",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("lines", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
)

container_facts = Table(
    "container_facts",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("container_id", String(64), primary_key=True),
    Column("observed_ns", BigInteger, primary_key=True),
    Column("name", String(255)),
    Column("image", String(512)),
    Column("created_ns", BigInteger),
    Column("restart_policy", String(32)),
    Column("restart_max_retries", Integer),
    Column("has_healthcheck", Boolean, nullable=False, default=False),
    Column("stop_timeout_s", Integer),
    Column("memory_limit_bytes", BigInteger),
    Column("compose_project", String(255)),
    Column("compose_service", String(255)),
    Column("labels", Text),
)

coverage = Table(
    "coverage",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("host", String(255), nullable=False),
    Column("engine_url", String(512)),
    Column("engine_id", String(128)),
    Column("source", String(16), nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    # Open while a collector watches; a killed collector leaves it open and its heartbeat says
    # how far it got.
    Column("end_ns", BigInteger),
    Column("heartbeat_ns", BigInteger),
    Column("closed_reason", String(64)),
    Column("run_label", String(128)),
    Index(None, "host", "start_ns"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("engine_url", String(512), primary_key=True),
    # The natural key of the last event stored; `since` resumes from its time.
    Column("time_ns", BigInteger, nullable=False),
    Column("container_id", String(64), nullable=False),
    Column("action", String(128), nullable=False),
    Column("updated_ns", BigInteger, nullable=False),
)

gaps = Table(
    "gaps",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("host", String(255), nullable=False),
    Column("engine_url", String(512)),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    # "engine_restart" or "replay_overflow": why the engine could not replay the gap.
    Column("reason", String(32), nullable=False),
    Column("events_replayed", Integer),
    Column("detail", Text),
)

log_tails = Table(
    "log_tails",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("container_id", String(64), primary_key=True),
    # The time of the `die` the tail belongs to.
    Column("time_ns", BigInteger, primary_key=True),
    Column("captured_ns", BigInteger, nullable=False),
    Column("lines", Text, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("truncated", Boolean, nullable=False, default=False),
)

# A health check's probes as inspect gave them (State.Health.Log: the engine keeps the last five)
# when its container turned unhealthy: what the check printed, for the postmortem.
health_probes = Table(
    "health_probes",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("container_id", String(64), primary_key=True),
    Column("start_ns", BigInteger, primary_key=True),  # the probe's start
    Column("end_ns", BigInteger),
    Column("exit_code", Integer),
    Column("output", Text, nullable=False),
    # The `health_status: unhealthy` event after which inspect read the probe.
    Column("event_ns", BigInteger, nullable=False),
)

maintenance = Table(
    "maintenance",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("host", String(255)),
    # "container" or "service"; target is the container name or "project/service".
    Column("target_kind", String(16), nullable=False),
    Column("target", String(512), nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    # "maintenance" or "deploy": how the time is reclassified.
    Column("kind", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(255), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("label", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("started_ns", BigInteger, nullable=False),
    Column("ended_ns", BigInteger),
    Column("params", Text),
)

# Alert notifications, one row per message and target: the outbox the delivery thread sends
# from, the history `docktally alerts list` shows, and the alerts' memory across restarts
# (what fired, resolved or reminded). `target` is a hash of the target URL: URLs carry tokens.
alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    # "<alert key>/<firing|resolved|reminder-N>": a message is decided once, whatever restarts.
    Column("dedupe_key", String(600), nullable=False),
    Column("target", String(64), nullable=False),
    Column("target_label", String(512), nullable=False),
    Column("alert_key", String(512), nullable=False),
    Column("rule", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("subject", String(1024), nullable=False),
    Column("host", String(255), nullable=False),
    Column("key", String(512), nullable=False),
    Column("incident_id", String(32)),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("notify_type", String(16), nullable=False),
    Column("created_ns", BigInteger, nullable=False),
    # pending (not sent yet, retried with back-off) | sent | failed (given up)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_ns", BigInteger, nullable=False),
    Column("sent_ns", BigInteger),
    Column("last_error", Text),
    UniqueConstraint("dedupe_key", "target"),
    Index(None, "status", "next_attempt_ns"),
    Index(None, "created_ns"),
)

# The summed columns of a day's parts, as analytics.daily names them (ROW_COLUMNS less the keys
# and descriptors; a service's without `lead`, with EDGE_COLUMNS). Not imported from there: the
# schema loads no pandas. store.summaries' writes fail on any difference (tests/test_summarizer).
DAY_SUMS = (
    "up_ns", "unhealthy_ns", "down_ns", "planned_ns", "unknown_ns", "real", "lead",
    "failures", "restarts", "oom_kills", "stops", "forced_stops", "stop_ns", "ttr_ns", "ttr_n",
    "open_n", "open_ns", "stop_max_ns", "rec_ns",
)  # fmt: skip
SERVICE_DAY_SUMS = (
    *(n for n in DAY_SUMS if n != "lead"),
    "first_fail", "first_ttr_ns",
)  # fmt: skip


def _container_key(period: str) -> list[Column[Any]]:
    """A summary row's key per container: its day or month, host and container."""
    return [
        Column(period, BigInteger, primary_key=True),
        Column("host", String(255), primary_key=True),
        Column("container_id", String(64), primary_key=True),
    ]


def _service_key(period: str) -> list[Column[Any]]:
    """A service summary row's key: its day or month, scope ("service" across hosts, host "";
    or "host,service"), host and service."""
    return [
        Column(period, BigInteger, primary_key=True),
        Column("scope", String(16), primary_key=True),
        Column("host", String(255), primary_key=True),
        Column("service", String(512), primary_key=True),
    ]


def _details(name: str, key: list[Column[Any]]) -> Table:
    """The sparse parts of a summary row: downtime and planned time by cause, failures by exit
    code and by cause (analytics.daily's DOWN_CAUSE, ...)."""
    return Table(
        name,
        metadata,
        *key,
        Column("part", Integer, primary_key=True),
        Column("code", BigInteger, primary_key=True),
        Column("value", BigInteger, nullable=False),
    )


# Per container and UTC day, the parts of the report (analytics.daily.ROW_COLUMNS) that sum over
# days: reports over long windows read these instead of every event. Kept by
# store.summaries.refresh for complete days; summary_days says which days are built, and which
# are dirty (late or inferred events, maintenance changed them) and must be built again.
day_summaries = Table(
    "day_summaries",
    metadata,
    *_container_key("day_ns"),
    Column("container", String(255)),
    Column("service", String(512)),
    Column("image", String(512)),
    *(Column(name, BigInteger, nullable=False) for name in DAY_SUMS),
    # The rare lead days (a container's first), found without the year's rows.
    Index(None, "day_ns", sqlite_where=text("lead = 1"), postgresql_where=text("lead = 1")),
)

day_summary_details = _details("day_summary_details", _container_key("day_ns"))

# Per service and UTC day, its own parts (a service's state is not a sum of its containers'):
# scope "service" (across hosts, host "") or "host,service"; ROW_COLUMNS' sums without lead,
# and the failure at the day's start (analytics.daily.EDGE_COLUMNS).
day_service_summaries = Table(
    "day_service_summaries",
    metadata,
    *_service_key("day_ns"),
    *(Column(name, BigInteger, nullable=False) for name in SERVICE_DAY_SUMS),
)

day_service_details = _details("day_service_details", _service_key("day_ns"))

summary_days = Table(
    "summary_days",
    metadata,
    Column("day_ns", BigInteger, primary_key=True),
    Column("built_ns", BigInteger, nullable=False),
    Column("dirty", Boolean, nullable=False, default=False),
    # The hosts whose containers the day's timeline held, "\n"-joined (the report's fleet count).
    Column("hosts", Text, nullable=False),
)

# Per calendar month (UTC), its days' rows summed, so that a report over months reads one row
# per container and month. Kept by store.summaries.write_months whenever a day of the month is
# written; a month row is used only while every day of the month is built and clean and none
# was built after it (summary_months.built_ns: its days' latest). Summed as the days' except:
# day_ns is the container's first day in the month, the descriptors its last day's; failures
# open at a day's end that recover later in the month are counted recovered (ttr_n, ttr_ns),
# open_n/open_ns are those still open at the month's end (open_ns from day_ns), rec_ns the
# month's first recovery; a service's edge columns are its first day's.
MONTH_SUMS = tuple(n for n in DAY_SUMS if n != "lead")

month_summaries = Table(
    "month_summaries",
    metadata,
    *_container_key("month_ns"),
    Column("day_ns", BigInteger, nullable=False),
    Column("container", String(255)),
    Column("service", String(512)),
    Column("image", String(512)),
    *(Column(name, BigInteger, nullable=False) for name in MONTH_SUMS),
)

month_summary_details = _details("month_summary_details", _container_key("month_ns"))

month_service_summaries = Table(
    "month_service_summaries",
    metadata,
    *_service_key("month_ns"),
    Column("day_ns", BigInteger, nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in SERVICE_DAY_SUMS),
)

month_service_details = _details("month_service_details", _service_key("month_ns"))

summary_months = Table(
    "summary_months",
    metadata,
    Column("month_ns", BigInteger, primary_key=True),
    # The latest built_ns of its days when it was summed (summary_days.built_ns).
    Column("built_ns", BigInteger, nullable=False),
)
