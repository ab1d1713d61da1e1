"""events: an index on (container_ref, kind, time_ns, action)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:40:00

The read's "last event of each lifecycle kind before the window" (store.reads._events_sql)
seeks a container's last event of one kind with it; on the natural key it walked back through
all of the container's earlier events when the container never had that kind. `action`
last: events of one kind at the same time come in the order the read takes (action DESC).
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_events_container_ref_kind_time_ns_action"),
        "events",
        ["container_ref", "kind", "time_ns", "action"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_events_container_ref_kind_time_ns_action"), table_name="events")
