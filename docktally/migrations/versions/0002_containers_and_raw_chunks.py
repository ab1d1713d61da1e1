"""containers table, events by container ref, raw JSON in compressed chunks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 03:30:00

Events keep a `container_ref` into the new `containers` table instead of host, container id,
name, image and compose labels on every row, and their raw JSON moves into `raw_chunks`
(zlib-compressed batches), and `packed` holds what the report needs of a lifecycle event in
one integer (store/packing.py). The natural key becomes (container_ref, time_ns, action). Data is
carried over: one containers row per (host, container_id) with its latest name, image and
labels; raw JSON 5,000 events to a chunk.
"""

import zlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# store/packing.py's packed_sql() as it was at this revision (a migration must not change
# when the application's code does).
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
_FIELDS = ("name", "image", "compose_project", "compose_service")
_CHUNK = 5000


def upgrade() -> None:
    op.create_table(
        "containers",
        sa.Column("ref", _ID, autoincrement=True, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("container_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("image", sa.String(length=512), nullable=True),
        sa.Column("compose_project", sa.String(length=255), nullable=True),
        sa.Column("compose_service", sa.String(length=255), nullable=True),
        sa.Column("seen_ns", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_containers")),
        sa.UniqueConstraint("host", "container_id", name=op.f("uq_containers_host_container_id")),
    )
    op.create_table(
        "raw_chunks",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_chunks")),
    )
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "INSERT INTO containers (host, container_id) "
            "SELECT DISTINCT host, container_id FROM events"
        )
    )
    # Each container's latest values, through the old natural-key index (host, id, time).
    for field in _FIELDS:
        bind.execute(
            sa.text(
                f"UPDATE containers SET {field} = (SELECT e.{field} FROM events e "
                "WHERE e.host = containers.host AND e.container_id = containers.container_id "
                f"AND e.{field} IS NOT NULL ORDER BY e.time_ns DESC LIMIT 1)"
            )
        )
    bind.execute(
        sa.text(
            "UPDATE containers SET seen_ns = (SELECT max(e.time_ns) FROM events e "
            "WHERE e.host = containers.host AND e.container_id = containers.container_id)"
        )
    )
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("container_ref", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("raw_chunk", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("raw_line", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("packed", sa.BigInteger(), nullable=True))
    bind.execute(sa.text(f"UPDATE events SET packed = {_PACKED}"))
    bind.execute(
        sa.text(
            "UPDATE events SET container_ref = (SELECT c.ref FROM containers c "
            "WHERE c.host = events.host AND c.container_id = events.container_id)"
        )
    )
    _move_raw(bind)
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_host_container_id_time_ns_action", type_="unique")
        for column in ("host", "container_id", *_FIELDS, "raw"):
            batch.drop_column(column)
        batch.alter_column("container_ref", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("packed", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint(
            batch.f("uq_events_container_ref_time_ns_action"),
            ["container_ref", "time_ns", "action"],
        )


def _move_raw(bind: sa.engine.Connection) -> None:
    """events.raw -> raw_chunks, in id order, a chunk at a time (keyset paging: no cursor
    stays open over the table being updated)."""
    chunks = sa.table(
        "raw_chunks", sa.column("id", sa.BigInteger), sa.column("lines"), sa.column("body")
    )
    last = -1
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT id, raw FROM events WHERE raw IS NOT NULL AND id > :last "
                "ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": _CHUNK},
        ).fetchall()
        if not rows:
            return
        lines = [str(raw).replace("\n", " ").encode("utf-8") for _, raw in rows]
        body = zlib.compress(b"\n".join(lines), 1)
        chunk_id = bind.execute(
            chunks.insert().values(lines=len(lines), body=body).returning(chunks.c.id)
        ).scalar_one()
        bind.execute(
            sa.text("UPDATE events SET raw_chunk = :chunk, raw_line = :line WHERE id = :id"),
            [
                {"chunk": int(chunk_id), "line": i, "id": int(eid)}
                for i, (eid, _) in enumerate(rows)
            ],
        )
        last = int(rows[-1][0])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("container_id", sa.String(length=64), nullable=True))
        for field, length in zip(_FIELDS, (255, 512, 255, 255), strict=True):
            batch.add_column(sa.Column(field, sa.String(length=length), nullable=True))
        batch.add_column(sa.Column("raw", sa.Text(), nullable=True))
    bind = op.get_bind()
    for field in ("host", "container_id", *_FIELDS):
        bind.execute(
            sa.text(
                f"UPDATE events SET {field} = (SELECT c.{field} FROM containers c "
                "WHERE c.ref = events.container_ref)"
            )
        )
    for chunk_id, body in bind.execute(sa.text("SELECT id, body FROM raw_chunks")).fetchall():
        lines = zlib.decompress(bytes(body)).decode("utf-8").split("\n")
        ids = bind.execute(
            sa.text("SELECT id, raw_line FROM events WHERE raw_chunk = :c"), {"c": chunk_id}
        ).fetchall()
        if ids:
            bind.execute(
                sa.text("UPDATE events SET raw = :raw WHERE id = :id"),
                [{"raw": lines[int(line)], "id": int(eid)} for eid, line in ids],
            )
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_container_ref_time_ns_action", type_="unique")
        for column in ("container_ref", "raw_chunk", "raw_line", "packed"):
            batch.drop_column(column)
        batch.alter_column("host", existing_type=sa.String(length=255), nullable=False)
        batch.alter_column("container_id", existing_type=sa.String(length=64), nullable=False)
        batch.create_unique_constraint(
            batch.f("uq_events_host_container_id_time_ns_action"),
            ["host", "container_id", "time_ns", "action"],
        )
    op.drop_table("raw_chunks")
    op.drop_table("containers")
