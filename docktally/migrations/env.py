"""Alembic environment: runs on the Engine that docktally.store.db hands over."""

from __future__ import annotations

from alembic import context

from docktally.store.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    # Batch mode rebuilds tables where SQLite cannot ALTER; it is harmless elsewhere.
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,
        compare_type=True,
    )
    context.run_migrations()
