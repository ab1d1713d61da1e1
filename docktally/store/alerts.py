"""The alert outbox: decided notifications in, due ones out, their delivery recorded.

Each function takes a Connection; the caller owns the transaction. A message is inserted once
per (dedupe_key, target) whatever restarts: the decision and its row are one fact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from docktally.store.db import Reader
from docktally.store.schema import alert_outbox
from docktally.store.writes import insert_ignoring_duplicates

PENDING, SENT, FAILED = "pending", "sent", "failed"
LIST_COLUMNS = [
    "id",
    "created_ns",
    "status",
    "kind",
    "rule",
    "severity",
    "host",
    "key",
    "incident_id",
    "title",
    "target_label",
    "attempts",
    "sent_ns",
    "last_error",
]


def enqueue(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """New messages, status pending; rows already there (same dedupe key and target) are kept."""
    full = [
        {"status": PENDING, "attempts": 0, "next_attempt_ns": r["created_ns"], **r} for r in rows
    ]
    return insert_ignoring_duplicates(conn, alert_outbox, full)


def notices(conn: Connection, since_ns: int) -> list[tuple[str, str, str, int, str]]:
    """(alert_key, rule, kind, created_ns, subject) of every message decided since `since_ns`,
    once per message (not per target), for the alert engine's memory."""
    t = alert_outbox.c
    stmt = (
        select(t.alert_key, t.rule, t.kind, t.created_ns, t.subject)
        .where(t.created_ns >= since_ns, t.kind != "test")
        .distinct()
    )
    return [(str(a), str(r), str(k), int(c), str(s)) for a, r, k, c, s in conn.execute(stmt)]


def notices_after(
    conn: Connection, since_ns: int, after_id: int
) -> tuple[int, list[tuple[str, str, str, int, str]]]:
    """notices(since_ns) of the rows stored after row `after_id` only, through the primary key;
    and the newest row's id (0: none), which those rows are read up to."""
    t = alert_outbox.c
    top = int(conn.execute(select(func.max(t.id))).scalar() or 0)
    stmt = (
        select(t.alert_key, t.rule, t.kind, t.created_ns, t.subject)
        .where(t.id > after_id, t.id <= top, t.created_ns >= since_ns, t.kind != "test")
        .distinct()
    )
    rows = [(str(a), str(r), str(k), int(c), str(s)) for a, r, k, c, s in conn.execute(stmt)]
    return top, rows


def due(
    conn: Connection, now_ns: int, limit: int = 50, skip: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Pending messages whose next attempt is due, oldest first; none for the `skip` targets."""
    t = alert_outbox.c
    stmt = select(alert_outbox).where(t.status == PENDING, t.next_attempt_ns <= now_ns)
    if skip:
        stmt = stmt.where(t.target.not_in(list(skip)))
    stmt = stmt.order_by(t.created_ns, t.id).limit(limit)
    return [{str(k): v for k, v in r._mapping.items()} for r in conn.execute(stmt)]


def next_due_ns(conn: Connection, skip: Sequence[str] = ()) -> int | None:
    """When the next pending message is due (none for the `skip` targets)."""
    t = alert_outbox.c
    stmt = select(t.next_attempt_ns).where(t.status == PENDING)
    if skip:
        stmt = stmt.where(t.target.not_in(list(skip)))
    row = conn.execute(stmt.order_by(t.next_attempt_ns).limit(1)).first()
    return None if row is None else int(row[0])


def give_up_waiting(conn: Connection, targets: Sequence[str], created_before_ns: int) -> int:
    """Messages still pending for these targets, decided before `created_before_ns`: failed."""
    t = alert_outbox.c
    result = conn.execute(
        update(alert_outbox)
        .where(t.status == PENDING, t.target.in_(list(targets)), t.created_ns < created_before_ns)
        .values(status=FAILED, last_error="given up: the target did not answer")
    )
    return int(result.rowcount)


# Built once: building the statement per message cost twice its execution and commit.
_MARK_SENT = (
    update(alert_outbox)
    .where(alert_outbox.c.id == bindparam("row"))
    .values(status=SENT, sent_ns=bindparam("now"), attempts=alert_outbox.c.attempts + 1)
)


def mark_sent(conn: Connection, row_id: int, now_ns: int) -> None:
    conn.execute(_MARK_SENT, {"row": row_id, "now": now_ns})


def mark_attempts_failed(conn: Connection, failed: Sequence[tuple[int, str, int | None]]) -> None:
    """Failed attempts, (row id, error, next_attempt_ns): each retried at its next_attempt_ns,
    or given up (None). One statement per kind, for all of them."""
    t = alert_outbox.c
    retried = [{"row": i, "error": e[:1000], "next": n} for i, e, n in failed if n is not None]
    given_up = [{"row": i, "error": e[:1000]} for i, e, n in failed if n is None]
    base = update(alert_outbox).where(t.id == bindparam("row"))
    values: dict[str, Any] = {"attempts": t.attempts + 1, "last_error": bindparam("error")}
    if retried:
        conn.execute(base.values(**values, next_attempt_ns=bindparam("next")), retried)
    if given_up:
        conn.execute(base.values(**values, status=FAILED), given_up)


def list_outbox(
    reader: Reader, *, limit: int = 100, status: str | None = None, host: str = ""
) -> list[dict[str, Any]]:
    """The newest messages first (LIST_COLUMNS), of `host` only when given. Through a Reader:
    the dashboard reads only through Arrow (see store.db.ArrowReader), the CLI and the
    collector through their connection."""
    clauses: list[str] = []
    params: list[str] = []
    for column, value in (("status", status), ("host", host)):
        if value:
            params.append(value)
            clauses.append(f"{column} = ${len(params)}")
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    table = reader.table(
        f"SELECT {', '.join(LIST_COLUMNS)} FROM alert_outbox {where}"
        f"ORDER BY created_ns DESC, id DESC LIMIT {int(limit)}",
        tuple(params),
    )
    return [dict(r) for r in table.to_pylist()]


def open_alerts(reader: Reader, since_ns: int) -> list[dict[str, Any]]:
    """Alerts fired since `since_ns` with no resolved message yet: alert_key, rule, severity,
    host, key, incident_id, fired_ns (the dashboard's "alert state")."""
    table = reader.table(
        "SELECT alert_key, kind, rule, severity, host, key, incident_id, created_ns "
        f"FROM alert_outbox WHERE created_ns >= {int(since_ns)} AND kind <> 'test' "
        "ORDER BY created_ns, id"
    )
    alerts: dict[str, dict[str, Any]] = {}
    for r in table.to_pylist():
        if r["kind"] == "firing":
            alerts.setdefault(
                r["alert_key"],
                {
                    "alert_key": r["alert_key"],
                    "rule": r["rule"],
                    "severity": r["severity"],
                    "host": r["host"],
                    "key": r["key"],
                    "incident_id": r["incident_id"],
                    "fired_ns": int(r["created_ns"]),
                },
            )
        elif r["kind"] == "resolved":
            alerts.pop(r["alert_key"], None)
    return list(alerts.values())


def record_delivered(
    conn: Connection, row: Mapping[str, Any], *, now_ns: int, error: str | None
) -> None:
    """A message sent at once (a test message): stored with its outcome, not queued."""
    done = {
        "status": SENT if error is None else FAILED,
        "attempts": 1,
        "next_attempt_ns": now_ns,
        "sent_ns": now_ns if error is None else None,
        "last_error": None if error is None else error[:1000],
    }
    insert_ignoring_duplicates(conn, alert_outbox, [{**row, **done}])
