"""day_service_summaries: per service (across hosts, and per host) and UTC day, its parts

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 08:00:00

A service's state is not a sum of its containers' (analytics.daily): `--by service` and
`--by host,service` read parts of their own. The days built before have none: they are
marked dirty, to be built again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SUMS = (
    "up_ns", "unhealthy_ns", "down_ns", "planned_ns", "unknown_ns", "real", "failures",
    "restarts", "oom_kills", "stops", "forced_stops", "stop_ns", "ttr_ns", "ttr_n", "open_n",
    "open_ns", "stop_max_ns", "rec_ns", "first_fail", "first_ttr_ns", "end_rec_n", "end_rec_ns",
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "day_service_summaries",
        sa.Column("day_ns", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("service", sa.String(512), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint(
            "day_ns", "scope", "host", "service", name=op.f("pk_day_service_summaries")
        ),
    )
    op.create_table(
        "day_service_details",
        sa.Column("day_ns", sa.BigInteger(), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("service", sa.String(512), nullable=False),
        sa.Column("part", sa.Integer(), nullable=False),
        sa.Column("code", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "day_ns",
            "scope",
            "host",
            "service",
            "part",
            "code",
            name=op.f("pk_day_service_details"),
        ),
    )
    op.execute(sa.text("UPDATE summary_days SET dirty = :t").bindparams(t=True))


def downgrade() -> None:
    op.drop_table("day_service_details")
    op.drop_table("day_service_summaries")
