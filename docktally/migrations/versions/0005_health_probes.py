"""health_probes: what a health check printed when its container turned unhealthy

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:20:00

The engine keeps a container's last five health-check probes (State.Health.Log of inspect: start,
end, exit code, output). The collector reads them when a `health_status: unhealthy` event
arrives, and the postmortem shows their output in its timeline.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "health_probes",
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("container_id", sa.String(64), nullable=False),
        sa.Column("start_ns", sa.BigInteger(), nullable=False),
        sa.Column("end_ns", sa.BigInteger()),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("event_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("host", "container_id", "start_ns", name=op.f("pk_health_probes")),
    )


def downgrade() -> None:
    op.drop_table("health_probes")
