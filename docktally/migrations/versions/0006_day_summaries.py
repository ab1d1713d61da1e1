"""day_summaries: per container and UTC day, the report's parts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 10:00:00

Reports over long windows read per-day parts (analytics.daily) instead of every event;
summary_days says which days are built and which must be built again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SUMS = (
    "up_ns", "unhealthy_ns", "down_ns", "planned_ns", "unknown_ns", "real", "lead", "failures",
    "restarts", "oom_kills", "stops", "forced_stops", "stop_ns", "ttr_ns", "ttr_n", "open_n",
    "open_ns", "stop_max_ns", "rec_ns",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "day_summaries",
        sa.Column("day_ns", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("container", sa.String(255)),
        sa.Column("service", sa.String(512)),
        sa.Column("image", sa.String(512)),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint("day_ns", "host", "container_id", name=op.f("pk_day_summaries")),
    )
    op.create_table(
        "day_summary_details",
        sa.Column("day_ns", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("code", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day_ns", "host", "container_id", "part", "code", name=op.f("pk_day_summary_details")
        ),
    )
    op.create_table(
        "summary_days",
        sa.Column("day_ns", sa.BigInteger(), nullable=False),
        sa.Column("built_ns", sa.BigInteger(), nullable=False),
        sa.Column("dirty", sa.Boolean(), nullable=False),
        sa.Column("hosts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("day_ns", name=op.f("pk_summary_days")),
    )


def downgrade() -> None:
    op.drop_table("summary_days")
    op.drop_table("day_summary_details")
    op.drop_table("day_summaries")
