"""day summaries: a failure recovered exactly at a day's end is open in the day; built again

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 11:00:00

A window is [start, end): a recovery at its end midnight is after it. The day rows counted it
recovered in the day (the services' kept it apart in end_rec_n/end_rec_ns, the containers' did
not), so a report from them ending at that midnight gave an MTTR the events do not. The rows
built before are marked dirty (the next `db summarize` or the collector's summarizer builds them
again, and their months) and the services' end-of-day columns, now always 0, are dropped.
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("day_service_summaries", "month_service_summaries")
COLUMNS = ("end_rec_n", "end_rec_ns")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name in COLUMNS:
                batch.drop_column(name)
    # Dirty days are built again; a month is read only while none of its days is dirty.
    op.execute(sa.text("UPDATE summary_days SET dirty = :d").bindparams(d=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            for name in COLUMNS:
                batch.add_column(
                    sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
                )
    op.execute(sa.text("UPDATE summary_days SET dirty = :d").bindparams(d=True))
