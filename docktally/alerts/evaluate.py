"""From the store to the alert engine and back: an evaluation reads what changed since the
last one, in one snapshot, keeps the engine's inputs up to date (alerts/incremental.py), and
writes what the engine decided into the outbox (one row per target), in one transaction.

An Evaluator's first evaluation reads the whole lookback of every container; the next ones read
only the containers whose history changed (see incremental.py), so an evaluation costs about
what was written since the last one, not the size of the lookback.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from docktally.alerts.delivery import Target
from docktally.alerts.engine import Decision, Notice, decide
from docktally.alerts.incremental import Cache, Unresolved, host_marks
from docktally.alerts.inputs import analyse, inputs_from_history, mutes_of, unit_of
from docktally.alerts.message import render
from docktally.alerts.rules import Config
from docktally.analytics.model import History, Window
from docktally.analytics.timeline import known_spans
from docktally.store import alerts as outbox
from docktally.store import db, reads
from docktally.timespec import parse_rfc3339_ns

__all__ = ["Evaluator", "evaluate_once", "inputs_from_history", "outbox_rows", "without_timestamp"]

# Event ids are looked at again for this long after a read, because facts are checked only for
# the containers with events in that time, and the collector writes them shortly after the
# event that asked, or with a new session's coverage. (Ids themselves become visible in the
# order they were taken, on PostgreSQL too: store.writes.take_turn.)
SETTLE_NS = 60 * 1_000_000_000


def _with_log_lines(conn: Any, decisions: list[Decision]) -> list[Decision]:
    """Each incident's last captured log line (its last failed container's, since the incident
    began) added to its decisions: one read for all of them."""
    wanted = [(d.incident, d.incident.failures[-1]) for d in decisions if d.incident is not None]
    if not wanted:
        return decisions
    tails = reads.load_log_tails_of(
        db.ConnectionReader(conn),
        [(inc.host, last.container_id) for inc, last in wanted],
        start_ns=min(inc.start_ns for inc, _ in wanted),
        end_ns=max(max(d.time_ns for d in decisions), max(f.time_ns for _, f in wanted)),
    )
    by_container: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for host, cid, t, lines in zip(
        tails["host"], tails["container_id"], tails["time_ns"], tails["lines"], strict=True
    ):
        by_container.setdefault((str(host), str(cid)), []).append((int(t), str(lines)))
    out = []
    for d in decisions:
        inc = d.incident
        if inc is None:
            out.append(d)
            continue
        last = inc.failures[-1]
        end = max(d.time_ns, last.time_ns)
        mine = [
            text
            for t, text in by_container.get((inc.host, last.container_id), [])
            if inc.start_ns <= t <= end
        ]
        lines = [ln for ln in mine[-1].splitlines() if ln.strip()] if mine else []
        if lines:
            inc = dataclasses.replace(inc, last_log_line=without_timestamp(lines[-1]))
            d = dataclasses.replace(d, incident=inc)
        out.append(d)
    return out


def without_timestamp(line: str) -> str:
    """A captured line without the engine's timestamp (tails are captured with timestamps)."""
    stamp, _, rest = line.partition(" ")
    try:
        parse_rfc3339_ns(stamp)
    except ValueError:
        return line
    return rest


def outbox_rows(
    decisions: Sequence[Decision], targets: Sequence[Target], dashboard: str | None
) -> list[dict[str, Any]]:
    rows = []
    for d in decisions:
        msg = render(d, dashboard)
        for t in targets:
            rows.append(
                {
                    "dedupe_key": d.dedupe_key,
                    "target": t.id,
                    "target_label": t.label,
                    "alert_key": d.alert_key,
                    "rule": d.rule.name,
                    "kind": d.kind,
                    "severity": d.rule.severity,
                    "subject": d.subject,
                    "host": d.host,
                    "key": d.key,
                    "incident_id": d.incident.id if d.incident is not None else None,
                    "title": msg.title,
                    "body": msg.body,
                    "notify_type": msg.notify_type,
                    "created_ns": d.time_ns,
                }
            )
    return rows


class _Notices:
    """The outbox's notices (the engine's memory) of the last two lookbacks, kept from one
    evaluation to the next: each reads only the rows stored since the last one (on PostgreSQL,
    since the one SETTLE_NS before: ids can become visible out of order), where reading them
    all cost ~6 ms an evaluation per 1,000 messages of the outbox."""

    def __init__(self) -> None:
        self.kept: dict[tuple[str, str, str, int, str], Notice] = {}
        self.tops: deque[tuple[int, int]] = deque()  # (time, newest row id) of the reads

    def read(self, conn: Any, since_ns: int, now_ns: int) -> list[Notice]:
        settle = 0 if conn.dialect.name == "sqlite" else SETTLE_NS
        while len(self.tops) > 1 and self.tops[1][0] <= now_ns - settle:
            self.tops.popleft()
        after = self.tops[0][1] if self.tops else 0
        top, rows = outbox.notices_after(conn, since_ns, after)
        for row in rows:
            if row not in self.kept:
                self.kept[row] = Notice(*row)
        # Older ones are no longer read (the evaluations' times only go forward).
        self.kept = {k: n for k, n in self.kept.items() if n.time_ns >= since_ns}
        self.tops.append((now_ns, top))
        return list(self.kept.values())


class Evaluator:
    """Evaluations at increasing times: the first reads every container's lookback (in the
    alerts' worker process, alerts/worker.py, so that its cost is not the collector's), each
    next one only what changed since the last."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cache = Cache(config)
        # (time, newest event id) of the reads of the last SETTLE_NS, oldest first.
        self._tops: deque[tuple[int, int]] = deque()
        self._read = False  # whether the first read of every container was done
        self.analysed = 0  # containers analysed by the last evaluation
        self._notices = _Notices()

    @property
    def warming(self) -> bool:
        """Whether the first read of every container is still to come."""
        return not self._read

    def _after_id(self, now_ns: int) -> int:
        """Events with larger ids may be new: the newest read's id at least SETTLE_NS old."""
        while len(self._tops) > 1 and self._tops[1][0] <= now_ns - SETTLE_NS:
            self._tops.popleft()
        return self._tops[0][1]

    def evaluate(self, store: Engine, targets: Sequence[Target], now_ns: int) -> list[Decision]:
        """Decide and enqueue what is due at `now_ns`; returns the decisions made."""
        decisions, rows = self.decide(store, targets, now_ns)
        enqueue(store, rows)
        return decisions

    def decide(
        self, store: Engine, targets: Sequence[Target], now_ns: int
    ) -> tuple[list[Decision], list[dict[str, Any]]]:
        """What is due at `now_ns`: the decisions, and their outbox rows (enqueue), read
        only: the write is apart, so that it can run at another priority (alerts/worker.py)."""
        config = self.config
        window = Window(now_ns - config.lookback_ns, now_ns)
        horizon = window.start_ns - reads.LOOKBACK_NS
        first = not self._read
        # Through the collector's own connection: Arrow's SQLite driver must not open the file
        # in a process that writes it (see store.db.ArrowReader). One snapshot: every read of
        # the evaluation sees the same store.
        with db.read_snapshot(store) as conn:
            reader = db.ConnectionReader(conn)
            past = self._notices.read(conn, now_ns - 2 * config.lookback_ns, now_ns)
            alerts = Unresolved.of(past, config)
            maintenance = reads.load_maintenance(reader, horizon, now_ns)
            coverage = reads.load_coverage(reader, horizon, now_ns)
            restarts = reads.load_engine_restarts(reader, horizon, now_ns)
            hosts = host_marks(reads.coverage_marks(reader, horizon, now_ns), restarts)
            spans = known_spans(coverage, restarts)
            top = reads.top_event_id(reader)
            if first:
                box = reads.container_refs(reader)
                refs = {f"{h}\0{c}": int(r)
                        for h, c, r in zip(box["host"], box["container_id"], box["ref"],
                                           strict=True)}  # fmt: skip
                units = _units(box)
                written = reads.events_written_since(reader, top)  # none: the columns
            else:
                # Event ids become visible in order (store.writes.take_turn): what is new is
                # above the last read's top. Facts come in a transaction after their events':
                # looked at for the containers with events since the settled read.
                written = reads.events_written_since(reader, self._tops[-1][1])
                facts = reads.facts_marks_since(reader, self._after_id(now_ns))
                refs = self.cache.dirty(written, facts, hosts, spans, now_ns, alerts)
                units = _units(written)
            history = None
            if refs or first:
                only = None if first else sorted(refs.values())
                history = History(
                    events=reads.load_events(reader, window.start_ns, now_ns, refs=only),
                    facts=reads.load_facts(reader, refs=only),
                    coverage=coverage,
                    maintenance=maintenance.iloc[0:0],
                    engine_restarts=restarts,
                )
        if history is not None:
            analysis = analyse(history, window, config)
            self.cache.update(
                history, analysis, window, horizon, refs, units, written, spans, hosts
            )
        else:
            self.cache.hosts = hosts
        self.analysed = len(refs)
        self._read = True
        self._tops.append((now_ns, top))
        incidents, spells = self.cache.inputs(now_ns, alerts, spans)
        decisions = decide(config, incidents, spells, mutes_of(maintenance), past, now_ns)
        if not decisions or not targets:
            return decisions, []
        with store.connect() as conn:
            decisions = _with_log_lines(conn, decisions)
        return decisions, outbox_rows(decisions, targets, config.dashboard)


def enqueue(store: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Decided messages into the outbox, in one short write transaction."""
    if rows:
        with store.begin() as conn:
            outbox.enqueue(conn, rows)


def _units(rows: pd.DataFrame) -> dict[str, str]:
    """ckey -> unit (inputs.unit_of) of containers rows (host, container_id, name, compose)."""
    return {
        f"{h}\0{c}": unit_of(h, c, n, p, s)
        for h, c, n, p, s in zip(
            rows["host"],
            rows["container_id"],
            rows["name"],
            rows["compose_project"],
            rows["compose_service"],
            strict=True,
        )
    }


def evaluate_once(
    store: Engine, config: Config, targets: Sequence[Target], now_ns: int
) -> list[Decision]:
    """One evaluation that reads the whole lookback (a new Evaluator's first)."""
    return Evaluator(config).evaluate(store, targets, now_ns)
