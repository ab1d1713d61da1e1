"""alert_outbox: alert notifications to send and sent

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 01:40:00

One row per notification and target (docktally/alerts): the delivery thread's outbox, the
history `docktally alerts list` shows, and what the alerts already decided, so a collector
that restarts sends nothing twice.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_outbox",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(600), nullable=False),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("target_label", sa.String(512), nullable=False),
        sa.Column("alert_key", sa.String(512), nullable=False),
        sa.Column("rule", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(1024), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        sa.Column("incident_id", sa.String(32)),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("notify_type", sa.String(16), nullable=False),
        sa.Column("created_ns", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_ns", sa.BigInteger(), nullable=False),
        sa.Column("sent_ns", sa.BigInteger()),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_outbox")),
        sa.UniqueConstraint("dedupe_key", "target", name=op.f("uq_alert_outbox_dedupe_key_target")),
    )
    op.create_index(
        op.f("ix_alert_outbox_status_next_attempt_ns"),
        "alert_outbox",
        ["status", "next_attempt_ns"],
    )
    op.create_index(op.f("ix_alert_outbox_created_ns"), "alert_outbox", ["created_ns"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_outbox_created_ns"), table_name="alert_outbox")
    op.drop_index(op.f("ix_alert_outbox_status_next_attempt_ns"), table_name="alert_outbox")
    op.drop_table("alert_outbox")
