"""month summaries: per calendar month, its day summaries summed; an index on the lead days

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00

A report over a year read every container's 365 day rows (store.summaries); it reads a row per
container and month where every day of the month is built and clean. The months of the days
built before are summed by the next `db summarize` (or the collector's summarizer).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SUMS = (
    "up_ns", "unhealthy_ns", "down_ns", "planned_ns", "unknown_ns", "real", "failures",
    "restarts", "oom_kills", "stops", "forced_stops", "stop_ns", "ttr_ns", "ttr_n", "open_n",
    "open_ns", "stop_max_ns", "rec_ns",
)  # fmt: skip
EDGES = ("first_fail", "first_ttr_ns", "end_rec_n", "end_rec_ns")


def _details(name: str, *keys: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("month_ns", sa.BigInteger(), nullable=False),
        *keys,
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("code", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "month_ns", *(k.name for k in keys), "part", "code", name=op.f(f"pk_{name}")
        ),
    )


def upgrade() -> None:
    op.create_table(
        "month_summaries",
        sa.Column("month_ns", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("day_ns", sa.BigInteger(), nullable=False),
        sa.Column("container", sa.String(255)),
        sa.Column("service", sa.String(512)),
        sa.Column("image", sa.String(512)),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint(
            "month_ns", "host", "container_id", name=op.f("pk_month_summaries")
        ),
    )
    _details(
        "month_summary_details",
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "month_service_summaries",
        sa.Column("month_ns", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("service", sa.String(512), nullable=False),
        sa.Column("day_ns", sa.BigInteger(), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in (*SUMS, *EDGES)),
        sa.PrimaryKeyConstraint(
            "month_ns", "scope", "host", "service", name=op.f("pk_month_service_summaries")
        ),
    )
    _details(
        "month_service_details",
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("service", sa.String(512), nullable=False),
    )
    op.create_table(
        "summary_months",
        sa.Column("month_ns", sa.BigInteger(), nullable=False),
        sa.Column("built_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("month_ns", name=op.f("pk_summary_months")),
    )
    lead = sa.text("lead = 1")
    op.create_index(
        op.f("ix_day_summaries_day_ns"),
        "day_summaries",
        ["day_ns"],
        sqlite_where=lead,
        postgresql_where=lead,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_day_summaries_day_ns"), table_name="day_summaries")
    for name in (
        "summary_months", "month_service_details", "month_service_summaries",
        "month_summary_details", "month_summaries",
    ):  # fmt: skip
        op.drop_table(name)
