"""raw_chunks.body: PostgreSQL stores it as given, without trying to compress it

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:00:00

A body is zstd or zlib already. PostgreSQL tried its own compression (pglz) on each one before
storing it uncompressed: 11 ms of the server's time for a 0.78 MB chunk of an import instead
of 3, while the import waited, once per 8 MiB of events. STORAGE EXTERNAL keeps the bodies
out of line, never compressed. SQLite compresses nothing: no change there.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE raw_chunks ALTER COLUMN body SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE raw_chunks ALTER COLUMN body SET STORAGE EXTENDED")
