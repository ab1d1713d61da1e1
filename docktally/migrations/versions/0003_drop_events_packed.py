"""events.packed dropped

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 01:00:00

The report reads the events' typed columns (action, kind, exit_code, signal, health, inferred,
cause_hint); the bit-packed copy of them that revision 0002 added goes. Every event keeps every
other column. Downgrade computes `packed` again with 0002's own expression.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Revision 0002's `packed` expression, as it was there (a migration must not change when the
# application's code does).
_PACKED = (
    "CAST(CASE WHEN kind NOT IN ('create', 'destroy', 'die', 'health_status', 'kill', "
    "'oom', 'pause', 'rename', 'restart', 'start', 'stop', 'unpause', 'update') THEN -2 "
    "WHEN cause_hint IS NULL AND ((health IS NULL AND action = kind) OR (health IN "
    "('healthy', 'unhealthy') AND kind = 'health_status' AND action = 'health_status: ' || "
    "health)) AND (exit_code IS NULL OR exit_code BETWEEN -1 AND 65533) AND (signal IS NULL"
    " OR signal BETWEEN 0 AND 254) THEN (CASE kind WHEN 'create' THEN 0 WHEN 'destroy' THEN"
    " 1 WHEN 'die' THEN 2 WHEN 'health_status' THEN 3 WHEN 'kill' THEN 4 WHEN 'oom' THEN 5 "
    "WHEN 'pause' THEN 6 WHEN 'rename' THEN 7 WHEN 'restart' THEN 8 WHEN 'start' THEN 9 "
    "WHEN 'stop' THEN 10 WHEN 'unpause' THEN 11 WHEN 'update' THEN 12 END) + 16 * "
    "CAST(inferred AS INTEGER) + 32 * (CASE health WHEN 'healthy' THEN 1 WHEN 'unhealthy' "
    "THEN 2 ELSE 0 END) + 128 * coalesce(exit_code + 2, 0) + 8388608 * coalesce(signal + 1,"
    " 0) ELSE -1 END AS BIGINT)"
)


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("packed")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("packed", sa.BigInteger(), nullable=True))
    op.execute(f"UPDATE events SET packed = {_PACKED}")
    with op.batch_alter_table("events") as batch:
        batch.alter_column("packed", existing_type=sa.BigInteger(), nullable=False)
