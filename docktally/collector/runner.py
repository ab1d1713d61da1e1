"""The live collector: one engine's events into the store, with no loss it does not record.

One connection ("session") goes: /info (engine's now) -> bounded replay from the checkpoint ->
gap row if the replay could not reach back -> coverage row -> live subscription in a reader
thread that only queues -> reconciliation by inspect -> the writer loop, which commits batches
with the checkpoint in the same transaction and heartbeats the coverage. Any end of the stream
is a disconnect: coverage closed, back-off, and a new session.

Only GET endpoints are used (/_ping, /version, /info, /events, /containers/json,
/containers/{id}/json, /containers/{id}/logs), so the collector runs behind a read-only proxy.
"""

from __future__ import annotations

import contextlib
import queue
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from docktally.collector import identity, storeview
from docktally.collector.engine_url import default_engine_url
from docktally.collector.logtail import TAIL_LINES, bound_tail
from docktally.collector.normalize import (
    REFRESH_FACTS_KINDS,
    InvalidEvent,
    facts_from_inspect,
    health_probes_from_inspect,
    normalize_event,
)
from docktally.collector.reconcile import infer_transitions
from docktally.collector.transport import engine_client
from docktally.errors import DocktallyError, StoreError, UsageError
from docktally.store import writes
from docktally.store.spool import Spool, default_spool_path
from docktally.timespec import ns_to_iso, ns_to_since, parse_rfc3339_ns

# The engine keeps this many events for `since` replay; a replay this long may have lost some.
ENGINE_EVENT_BUFFER = 256
BATCH_MAX_EVENTS = 500
# At most 200 ms from a batch's first event to its commit. A batch is also committed as soon
# as the stream has been quiet for BATCH_LINGER_S: low latency when events trickle, big batches
# (one transaction each) when they pour.
BATCH_MAX_WAIT_S = 0.2
BATCH_LINGER_S = 0.01
HEARTBEAT_S = 0.5
# With no event for this long, /_ping the engine: a half-open connection never ends by itself.
SILENCE_S = 5.0
PING_TIMEOUT_S = 3.0
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
# A database that refused a write is tried again this often at most: one back after a 20 s
# outage is written to within a couple of seconds. The reader keeps reading meanwhile.
DB_RETRY_START_S = 0.2
DB_RETRY_MAX_S = 2.0
# The engine drops events for a subscriber that does not read for 100 ms once its 1024-event
# channel (and the socket's buffer) is full. A collector that was not scheduled for this long
# (SIGSTOP, a suspended VM, a starved host) may have lost events: it reconnects and replays
# from its checkpoint. 2 s: no engine fills 1024 events that fast, and a busy 2-core host
# delays a 50 ms tick by a second now and then.
STALL_S = 2.0
STALL_TICK_S = 0.05
# On stop: keep reading until the stream has been quiet this long (at most STOP_DRAIN_MAX_S).
STOP_QUIET_S = 0.15
STOP_DRAIN_MAX_S = 0.8
CONTAINER_FILTER = {"type": ["container"]}

_END = object()

ClientFactory = Callable[[str | None], docker.APIClient]
CommitHook = Callable[[Sequence[Mapping[str, Any]], int], None]


def default_client_factory(url: str | None) -> docker.APIClient:
    return engine_client(url or default_engine_url())


def _log_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class EngineTrouble(Exception):
    """The engine cannot be used right now; the message is one line for the user."""


class _StreamFailed(Exception):
    pass


class _DatabaseDown(SQLAlchemyError):
    """What waits in the spool could not be written at a session's start (the cause is logged
    already): the session watches the engine offline."""


def describe_engine_error(url: str, exc: BaseException) -> str:
    """One line a user can act on, naming the URL that was tried."""
    text = f"{exc!r} {exc}"
    if "Permission denied" in text or "PermissionError" in text:
        sock = url.removeprefix("unix://")
        return (
            f"permission denied on the Docker socket {sock}: run as root, add this user to the "
            f"`docker` group (then log in again), or point --engine at a socket you may read"
        )
    if "FileNotFoundError" in text or "No such file" in text:
        return f"cannot reach the Docker engine at {url}: no socket there (is dockerd running?)"
    if isinstance(exc, docker.errors.APIError):
        return f"the Docker engine at {url} answered: {_first_line(exc.explanation or str(exc))}"
    return f"cannot reach the Docker engine at {url}: {_first_line(str(exc)) or type(exc).__name__}"


def _first_line(text: str) -> str:
    text = str(text).strip()
    return text.splitlines()[0][:300] if text else ""


class Collector:
    """Watch one engine until `stop` is set (or `duration_s` passed), storing every container
    event once, with coverage, gaps and inferred transitions where the engine lost events."""

    def __init__(
        self,
        *,
        store: Engine,
        engine_url: str | None = None,
        host: str | None = None,
        capture_logs: bool = True,
        keep_exec_commands: bool = False,
        run_label: str | None = None,
        client_factory: ClientFactory | None = None,
        log: Callable[[str], None] = _log_stderr,
        on_commit: CommitHook | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        spool: Spool | None = None,
        stall_s: float = STALL_S,
        store_ready: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.engine_url = engine_url or default_engine_url()
        self.host = host
        self._host_given = host  # --host; else each session names the engine (identity.py)
        self.capture_logs = capture_logs
        self.keep_exec_commands = keep_exec_commands
        self.run_label = run_label
        self.client_factory = client_factory or default_client_factory
        self.log = log
        self.on_commit = on_commit
        self.clock_ns = clock_ns
        self._stop = threading.Event()
        self._deadline: float | None = None
        self._abandoned_closed = False
        self._restart_counts: dict[str, int] = {}
        self._enrich: queue.Queue[tuple[str, str, str, int] | None] = queue.Queue()
        self._enrich_client: docker.APIClient | None = None
        # Brings a store the collector opened while its server was away to head (db.py's
        # connect_when_up); raises the driver's error until the server answers.
        self.store_ready = store_ready or (lambda: None)
        if spool is None:
            url = store.url.render_as_string(hide_password=True)
            # A lab run's spool is its own: its rows are not the full collector's.
            engine = self.engine_url if run_label is None else f"{self.engine_url}#{run_label}"
            spool = Spool(default_spool_path(url, engine))
        self.spool = spool
        # Sessions that started while the database was away, once their `start` item is
        # written: id -> [host, coverage row]. Kept in the spool's notes for a restart.
        self._offline: dict[str, list[Any]] = dict(spool.notes())
        # A gap found when such a session's start was written: the next online session
        # reconciles from inspect for it (reason, where "before the gap" ends).
        self._gap_due: tuple[str, int | None] | None = None
        self._handover = False
        self.stall_s = stall_s
        # Why nobody read the engine before this session ("stall", "database_outage"): the
        # reason of the gap if the replay cannot reach back. None: stopped or disconnected.
        self._down_reason: str | None = None
        self._stall_wall_ns: int | None = None
        self._db_retry_at = 0.0
        self._db_retry_s = DB_RETRY_START_S
        self._db_down_since: float | None = None
        # Why the collector gave up (a host another collector writes, bad TLS settings).
        self.failed: DocktallyError | None = None
        # Exposed for tests and status output.
        self.sessions = 0
        self.events_committed = 0

    # --- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event, duration_s: float | None = None) -> None:
        self._stop = stop
        self._deadline = time.monotonic() + duration_s if duration_s is not None else None
        enricher = threading.Thread(target=self._enrich_loop, name="docktally-enrich", daemon=True)
        enricher.start()
        backoff = BACKOFF_START_S
        try:
            while not self._stopping():
                cap = BACKOFF_MAX_S
                try:
                    if self._session():
                        backoff = BACKOFF_START_S
                    if self._handover:
                        # An offline session's database came back: go online at once.
                        self._handover = False
                        continue
                except (identity.HostClaimed, UsageError, StoreError) as exc:
                    self.failed = exc  # retrying cannot help: the caller says why
                    break
                except (EngineTrouble, identity.NameTaken) as exc:
                    self.log(f"docktally collect: {exc}")
                except _StreamFailed as exc:
                    self.log(f"docktally collect: the engine refused the event stream: {exc}")
                except SQLAlchemyError as exc:
                    self.log(f"docktally collect: database error: {_first_line(str(exc))}")
                    self._down_reason = "database_outage"
                    cap = DB_RETRY_MAX_S
                except Exception as exc:  # the collector must outlive anything the engine sends
                    self.log(f"docktally collect: {describe_engine_error(self.engine_url, exc)}")
                if self._stopping():
                    break
                delay = min(cap, backoff) * random.uniform(0.75, 1.25)
                self.log(f"docktally collect: reconnecting to {self.engine_url} in {delay:.1f}s")
                self._wait(delay)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        finally:
            self._enrich.put(None)
            enricher.join(timeout=0.5)
            if self._db_down_since is None:  # else the session's end just tried
                try:
                    self._drain(force=True)
                except DocktallyError as exc:
                    self.failed = self.failed or exc
            kept = len(self.spool)
            self.spool.close()
            if kept:
                self.log(
                    f"docktally collect: the database did not take {kept} batch(es); kept in "
                    f"{self.spool.path} for the next start"
                )

    def _stopping(self) -> bool:
        if self._stop.is_set():
            return True
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping():
            left = end - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, 0.1))

    def _client(self) -> docker.APIClient:
        try:
            return self.client_factory(self.engine_url)
        except UsageError:
            raise
        except Exception as exc:
            raise EngineTrouble(describe_engine_error(self.engine_url, exc)) from None

    # --- one connection ------------------------------------------------------------------------
    def _session(self) -> bool:
        """Run one connection to its end. True once it got as far as the live stream."""
        ctl = self._client()
        stream_client: docker.APIClient | None = None
        cov: int | str | None = None
        reason = "error"
        try:
            try:
                ctl.ping()
                info = ctl.info()
            except Exception as exc:
                raise EngineTrouble(describe_engine_error(self.engine_url, exc)) from None
            try:
                start = self._start_online(ctl, info)
            except SQLAlchemyError as exc:
                # The database is away or refuses writes: watch the engine all the same.
                start = self._start_offline(ctl, info, exc)
            cov = start.coverage

            # Subscribe before reconciling: the reader queues what happens meanwhile.
            stream_client = self._client()
            try:
                stream = stream_client.events(
                    since=ns_to_since(start.until_ns), filters=CONTAINER_FILTER, decode=True
                )
            except Exception as exc:
                raise EngineTrouble(describe_engine_error(self.engine_url, exc)) from None
            q: queue.Queue[Any] = queue.Queue()
            reader = threading.Thread(
                target=_read_stream, args=(stream, q), name="docktally-events", daemon=True
            )
            reader.start()
            watchdog = _Watchdog(self.stall_s, self.clock_ns)
            watchdog.start()
            self.sessions += 1
            if start.online:
                self._reconcile_after(ctl, start)
            try:
                reason = self._pump(ctl, stream, q, cov, watchdog, offline=not start.online)
            finally:
                watchdog.done.set()
            reader.join(timeout=0.5)
            self._handover = reason == "database_back"
            if reason not in ("stopped", "database_back"):
                self.log(
                    f"docktally collect: lost the event stream of {self.engine_url} ({reason})"
                )
            return True
        finally:
            if cov is not None:
                # Spooled like the events: a database that refuses now closes it later.
                end_ns = self.clock_ns()
                if reason == "stalled" and self._stall_wall_ns is not None:
                    end_ns = min(end_ns, self._stall_wall_ns)  # watched until the stall began
                self.spool.push({"close": [cov, end_ns, reason]}, durable=isinstance(cov, str))
                self._drain(force=True)
            for c in (ctl, stream_client):
                if c is not None:
                    with contextlib.suppress(Exception):
                        c.close()

    def _start_online(self, ctl: docker.APIClient, info: Mapping[str, Any]) -> _Start:
        """Name and claim the host, write what waits in the spool, replay from the checkpoint,
        record a gap if the replay cannot reach back, and open the coverage."""
        self.store_ready()
        self.host = identity.resolve_host(
            self.store, info, engine_url=self.engine_url, explicit=self._host_given
        )
        if self.run_label is None:  # a lab run collects only its own containers
            identity.check_claim(
                self.store, self.host, info, engine_url=self.engine_url, clock_ns=self.clock_ns
            )
        host = self.host
        # What an earlier session or run could not write goes first: the checkpoint below
        # must count it.
        if not self._drain(force=True):
            raise _DatabaseDown()
        until_ns = parse_rfc3339_ns(str(info.get("SystemTime") or "")) or self.clock_ns()
        with self.store.begin() as conn:
            self._close_abandoned(conn, host)
        with self.store.begin() as conn:
            cp = writes.load_checkpoint(conn, host=host, engine_url=self.engine_url)

        # Every event type: the engine's buffer of 256 holds network events too, so only
        # their total tells an overflow from a restarted engine's short buffer.
        replay: list[Any] = []
        if cp is not None:
            replay = self._replay(ctl, int(cp["time_ns"]), until_ns)
        held = len(replay)
        if cp is not None and not any(_is_checkpoint(ev, cp) for ev in replay):
            held += self._held_since(ctl, replay, until_ns)
        rows = self._normalize(replay, source="replay", host=host)
        with self.store.begin() as conn:
            opened = self._open(
                conn,
                host=host,
                info=info,
                replay=replay,
                held=held,
                rows=rows,
                until_ns=until_ns,
                now_ns=self.clock_ns(),
                lost=self._down_reason,
            )
        self._down_reason = None
        identity.note_own_coverage(self.store, opened.coverage)
        gap_reason = opened.gap.reason if opened.gap is not None else None
        return _Start(opened.coverage, until_ns, True, gap_reason, opened.gap_start_ns)

    def _start_offline(
        self, ctl: docker.APIClient, info: Mapping[str, Any], exc: SQLAlchemyError
    ) -> _Start:
        """The database cannot be written: watch the engine anyway. Everything the online start
        would write is kept in the spool's file instead, as a `start` item: the engine's
        identity, what it still holds (its whole buffer, since the checkpoint is in the
        database), and when; the replay is judged against the checkpoint and the coverage
        opened when the database takes the item. The host is --host, else named then."""
        if self._db_down_since is None:
            self._db_down_since = time.monotonic()
            if not isinstance(exc, _DatabaseDown):  # _db_refused said why
                self.log(
                    f"docktally collect: the database {self._db_name()} is unreachable "
                    f"({_first_line(str(getattr(exc, 'orig', None) or exc))}); watching "
                    f"{self.engine_url} and keeping its events in "
                    f"{self.spool.path or 'memory'} until the database is back"
                )
        self._db_retry_at = time.monotonic() + self._db_retry_s
        until_ns = parse_rfc3339_ns(str(info.get("SystemTime") or "")) or self.clock_ns()
        replay = self._replay(ctl, 1, until_ns)
        held = len(replay) + self._held_since(ctl, replay, until_ns)
        session = uuid.uuid4().hex
        self.spool.push(
            {
                "start": {
                    "session": session,
                    "host": self._host_given,
                    "engine": {k: info.get(k) for k in ("ID", "Name", "DockerRootDir")},
                    "until_ns": until_ns,
                    "now_ns": self.clock_ns(),
                    "replayed": [list(_event_key(ev)) for ev in replay],
                    "held": held,
                    "lost": self._down_reason,
                },
                "rows": self._normalize(replay, source="replay", host=self._host_given or ""),
                "at": self.clock_ns(),
            },
            durable=True,
        )
        self._down_reason = None
        return _Start(session, until_ns, False, None, None)

    def _open(
        self,
        conn: Any,
        *,
        host: str,
        info: Mapping[str, Any],
        replay: Sequence[Any],
        held: int,
        rows: Sequence[dict[str, Any]],
        until_ns: int,
        now_ns: int,
        lost: str | None,
    ) -> _Opened:
        """In `conn`'s transaction: the gap if the replay (up to `until_ns`) cannot reach the
        checkpoint, the replayed rows from the checkpoint on, and a coverage row from `now_ns`,
        or from as far back as the replay makes the time known."""
        # First: a name lost to another engine must roll back before anything is stored.
        identity.confirm_name(conn, host, info, self.engine_url)
        cp = writes.load_checkpoint(conn, host=host, engine_url=self.engine_url)
        prev = storeview.previous_coverage(conn, host=host, engine_url=self.engine_url)
        prev_end = prev.end_ns if prev is not None else None
        gap = _judge_replay(replay, cp, prev, until_ns, lost=lost, held=held)
        if gap is not None and cp is not None:
            writes.record_gap(
                conn,
                host=host,
                engine_url=self.engine_url,
                start_ns=gap.start_ns,
                end_ns=gap.end_ns,
                reason=gap.reason,
                events_replayed=len(replay),
                detail=(
                    f"the engine replayed {len(replay)} event(s) up to {ns_to_iso(until_ns)} "
                    f"without the last stored one ({cp['action']} of "
                    f"{str(cp['container_id'])[:12]} at {ns_to_iso(int(cp['time_ns']))})"
                ),
            )
        # The first session of a host imports no history; later ones what followed the
        # checkpoint (`since` is inclusive: the checkpoint again, which the key ignores).
        since = int(cp["time_ns"]) if cp is not None else None
        rows = [r for r in rows if since is not None and int(r["time_ns"]) >= since]
        self._store_rows(conn, rows, host=host)
        start_ns = now_ns
        if gap is None and cp is not None and prev_end is not None:
            # After a lossless replay the time since the last coverage is known too.
            start_ns = min(now_ns, max(prev_end, int(cp["time_ns"])))
        elif gap is not None and gap.reason == "engine_restart":
            # A restarted engine replayed everything since its boot.
            start_ns = min(now_ns, gap.end_ns)
        cov_id = writes.open_coverage(
            conn,
            host=host,
            engine_url=self.engine_url,
            engine_id=identity.engine_key(info),
            source="collector",
            start_ns=start_ns,
            run_label=self.run_label,
        )
        gap_start_ns = since
        if gap is not None and cp is not None:
            gap_start_ns = gap.start_ns
        return _Opened(cov_id, gap, gap_start_ns, rows)

    def _close_abandoned(self, conn: Any, host: str) -> None:
        if self._abandoned_closed:
            return
        n = writes.close_abandoned_coverage(
            conn, host=host, engine_url=self.engine_url, now_ns=self.clock_ns()
        )
        self._abandoned_closed = True
        if n:
            self.log(f"docktally collect: closed {n} coverage row(s) a killed run left open")

    def _reconcile_after(self, ctl: docker.APIClient, start: _Start) -> None:
        """Facts for every container, and inferred transitions where a gap (this session's, or
        one found when a session that ran while the database was away was written) lost events."""
        reason, gap_start_ns = start.gap_reason, start.gap_start_ns
        if reason is None and self._gap_due is not None:
            reason, gap_start_ns = self._gap_due
        self._gap_due = None
        if reason is not None:
            self.log(
                f"docktally collect: events lost while disconnected ({reason}); "
                "reconciling from inspect"
            )
        try:
            self._reconcile(
                ctl,
                gap_reason=reason,
                gap_start_ns=gap_start_ns,
                horizon_ns=start.until_ns,
                full=reason is not None,
            )
        except SQLAlchemyError:
            raise
        except Exception as exc:
            self.log(
                f"docktally collect: reconciliation incomplete: "
                f"{describe_engine_error(self.engine_url, exc)}"
            )

    def _db_name(self) -> str:
        return str(self.store.url.render_as_string(hide_password=True))

    def _replay(self, ctl: docker.APIClient, since_ns: int, until_ns: int) -> list[dict[str, Any]]:
        until_ns = max(until_ns, since_ns)
        try:
            return list(
                ctl.events(since=ns_to_since(since_ns), until=ns_to_since(until_ns), decode=True)
            )
        except Exception as exc:
            raise EngineTrouble(describe_engine_error(self.engine_url, exc)) from None

    def _held_since(self, ctl: docker.APIClient, replay: Sequence[Any], until_ns: int) -> int:
        """Events the engine took in after `until_ns`: they pushed the oldest out of its
        buffer before the replay was read, so a replay of fewer than 256 can still be an
        overflow under churn. Counted from a second replay (every type) up to the engine's
        now; the boundary event `since` repeats is not counted twice."""
        try:
            now_ns = parse_rfc3339_ns(str(ctl.info().get("SystemTime") or "")) or until_ns
        except Exception as exc:
            raise EngineTrouble(describe_engine_error(self.engine_url, exc)) from None
        if now_ns <= until_ns:
            return 0
        seen = {_event_key(ev) for ev in replay}
        return sum(1 for ev in self._replay(ctl, until_ns, now_ns) if _event_key(ev) not in seen)

    def _normalize(
        self, payloads: Sequence[Any], *, source: str, host: str
    ) -> list[dict[str, Any]]:
        rows = []
        for ev in payloads:
            try:
                row = normalize_event(
                    ev, host=host, source=source, keep_exec_commands=self.keep_exec_commands
                )
            except InvalidEvent as exc:
                if isinstance(ev, Mapping) and "message" in ev:
                    raise _StreamFailed(_first_line(str(ev["message"]))) from None
                self.log(f"docktally collect: skipped an event: {exc}")
                continue
            if row is not None:
                rows.append(row)
        return rows

    def _store_rows(
        self, conn: Any, rows: Sequence[Mapping[str, Any]], *, host: str, checkpoint: bool = True
    ) -> None:
        """Insert (duplicates ignored) and move the checkpoint to the newest row, in `conn`'s
        transaction, so a crash can never leave the checkpoint ahead of what is stored."""
        if not rows:
            return
        writes.insert_events(conn, rows)
        if not checkpoint:
            return
        last = max(rows, key=lambda r: int(r["time_ns"]))
        writes.save_checkpoint(
            conn,
            host=host,
            engine_url=self.engine_url,
            time_ns=int(last["time_ns"]),
            container_id=str(last["container_id"]),
            action=str(last["action"]),
            updated_ns=self.clock_ns(),
        )

    # --- reconciliation ------------------------------------------------------------------------
    def _reconcile(
        self,
        ctl: docker.APIClient,
        *,
        gap_reason: str | None,
        gap_start_ns: int | None,
        horizon_ns: int,
        full: bool,
    ) -> None:
        """Facts for every container; inferred transitions where events were lost (`full`) or for
        containers the database has never seen."""
        assert self.host is not None
        inspects = []
        for summary in ctl.containers(all=True):
            try:
                inspects.append(ctl.inspect_container(summary["Id"]))
            except docker.errors.NotFound:
                continue
        observed = self.clock_ns()
        inferred: list[dict[str, Any]] = []
        with self.store.begin() as conn:
            known = storeview.load_known(
                conn,
                host=self.host,
                container_ids=[i["Id"] for i in inspects],
                gap_start_ns=gap_start_ns,
                restart_counts=self._restart_counts,
            )
            for ins in inspects:
                writes.record_facts(
                    conn, facts_from_inspect(ins, host=self.host, observed_ns=observed)
                )
                k = known[ins["Id"]]
                if full or not k.seen:
                    inferred += infer_transitions(
                        ins, k, host=self.host, horizon_ns=horizon_ns, gap_reason=gap_reason
                    )
                if isinstance(ins.get("RestartCount"), int):
                    self._restart_counts[ins["Id"]] = ins["RestartCount"]
            writes.insert_events(conn, inferred)
            if gap_reason == "engine_restart" and gap_start_ns is not None:
                self._begin_gap_at_first_missed(conn, inferred, gap_start_ns)
        if inferred:
            self.log(
                f"docktally collect: inferred {len(inferred)} transition(s) from inspect of "
                f"{len(inspects)} container(s)"
            )

    def _begin_gap_at_first_missed(
        self, conn: Any, inferred: Sequence[Mapping[str, Any]], gap_start_ns: int
    ) -> None:
        """Deaths inspect proves before an engine restart's gap began were never received: the
        stream was already cut (a collector notices a cut only when it next reads, and the
        engine may have stopped its containers by then). The gap, and the coverage before it,
        then begin at the first of them, if no event was received after it."""
        missed = [
            int(r["time_ns"])
            for r in inferred
            if r["kind"] == "die" and int(r["time_ns"]) < gap_start_ns
        ]
        if not missed:
            return
        assert self.host is not None
        first = min(missed)
        last = storeview.last_received(conn, host=self.host, at_ns=gap_start_ns)
        if last is not None and last >= first:
            return  # the stream was live after it: an event dropped, not a cut
        moved = writes.begin_engine_restart_earlier(
            conn,
            host=self.host,
            engine_url=self.engine_url,
            gap_start_ns=gap_start_ns,
            new_start_ns=first,
        )
        if moved:
            self.log(
                f"docktally collect: the engine restart's gap begins at {ns_to_iso(first)}, "
                f"{(gap_start_ns - first) / 1e9:.3f} s before the stream's end was noticed: "
                "the stream did not deliver the deaths inspect proves"
            )

    # --- the writer loop -----------------------------------------------------------------------
    def _pump(
        self,
        ctl: docker.APIClient,
        stream: Any,
        q: queue.Queue[Any],
        cov_id: int | str,
        watchdog: _Watchdog,
        *,
        offline: bool = False,
    ) -> str:
        """Commit what the reader queues until the stream ends, we stop or we stalled. Returns
        the reason. Batches the database refuses wait in the spool; the reader reads on. An
        offline session (started while the database was away) ends once the database has taken
        its start and all that followed: an online one takes over, replaying from the checkpoint
        those writes moved, so the two coverage rows meet."""
        batch: list[tuple[Any, float]] = []
        first_at = 0.0
        last_event_at = last_ping_at = time.monotonic()
        next_hb = time.monotonic() + HEARTBEAT_S
        stop_at: float | None = None

        def flush() -> None:
            nonlocal batch
            items, batch = batch, []
            if items:
                self._enqueue([p for p, _ in items], cov_id)
            self._drain()

        while True:
            now = time.monotonic()
            if watchdog.stalled_mono is not None:
                return self._after_stall(stream, q, batch, cov_id, watchdog)
            if stop_at is None and self._stopping():
                stop_at = now
            if stop_at is not None and (
                (q.empty() and now - last_event_at >= STOP_QUIET_S)
                or now - stop_at >= STOP_DRAIN_MAX_S
            ):
                # Everything the engine sent before the stop has arrived: close and drain.
                _close_stream(stream)
                batch += _drain_queue(q)
                flush()
                return "stopped"
            timeout = max(0.0, next_hb - now)
            if batch:
                timeout = min(timeout, BATCH_LINGER_S, max(0.0, first_at + BATCH_MAX_WAIT_S - now))
            timeout = min(timeout, 0.1)
            quiet = False
            try:
                item = q.get(timeout=timeout)
            except queue.Empty:
                item, quiet = None, True
            now = time.monotonic()
            if item is _END:
                flush()
                return "stopped" if self._stopping() else "disconnected"
            if item is not None:
                if not batch:
                    first_at = now
                batch.append(item)
                last_event_at = now
            if batch and watchdog.stalled_mono is not None:
                continue  # what arrived after the stall must not move the checkpoint
            if batch and (
                quiet or len(batch) >= BATCH_MAX_EVENTS or now - first_at >= BATCH_MAX_WAIT_S
            ):
                flush()
                next_hb = now + HEARTBEAT_S  # the commit heartbeats too
            if now >= next_hb:
                if len(self.spool):
                    self._drain()
                elif isinstance(cov_id, int):
                    try:
                        with self.store.begin() as conn:
                            writes.heartbeat_coverage(conn, cov_id, self.clock_ns())
                    except SQLAlchemyError as exc:
                        self._db_refused(exc, now)
                next_hb = now + HEARTBEAT_S
            if offline and not len(self.spool):
                _close_stream(stream)
                batch += _drain_queue(q)
                flush()
                return "database_back"
            if (
                stop_at is None
                and now - last_event_at >= SILENCE_S
                and now - last_ping_at >= SILENCE_S
            ):
                last_ping_at = now
                if not _ping(ctl):
                    _close_stream(stream)
                    flush()
                    return "engine_silent"

    def _after_stall(
        self,
        stream: Any,
        q: queue.Queue[Any],
        batch: list[tuple[Any, float]],
        cov_id: int | str,
        watchdog: _Watchdog,
    ) -> str:
        """We were not scheduled for a while: the engine may have dropped events meanwhile and
        says nothing. End the session as a disconnect would: what arrived before the stall is
        committed with its checkpoint; what arrived after is stored too but cannot move the
        checkpoint (a hole may lie before it), so the next session's replay starts where the
        stream was still whole, and records a gap of reason `stall` if it cannot reach back."""
        stalled = watchdog.stalled_mono
        assert stalled is not None
        _close_stream(stream)
        items = batch + _drain_queue(q)
        before = [p for p, at in items if at < stalled]
        after = [p for p, at in items if at >= stalled]
        if before:
            self._enqueue(before, cov_id)
        if after:
            self._enqueue(after, cov_id, checkpoint=False)
        self._drain(force=True)
        self._down_reason = "stall"
        self._stall_wall_ns = watchdog.stalled_wall_ns
        self.log(
            f"docktally collect: the collector stalled for {watchdog.stalled_for_s:.1f}s; "
            "the engine may have dropped events meanwhile: replaying from the checkpoint"
        )
        return "stalled"

    def _enqueue(
        self, payloads: Sequence[Any], cov_id: int | str, *, checkpoint: bool = True
    ) -> None:
        """Normalised rows into the spool, to be written in order by `_drain`. An offline
        session's rows (`cov_id` its id) get their host when its start is written, unless
        --host named it."""
        host = self.host if isinstance(cov_id, int) else self._host_given
        try:
            rows = self._normalize(payloads, source="stream", host=host or "")
        except _StreamFailed as exc:
            self.log(f"docktally collect: the engine refused the event stream: {exc}")
            rows = []
        if rows:
            self.spool.push(
                {
                    "host": host,
                    "rows": rows,
                    "checkpoint": checkpoint,
                    "coverage": cov_id,
                    "at": self.clock_ns(),
                }
            )

    def _drain(self, *, force: bool = False) -> bool:
        """Write the spool oldest first, each item in one transaction. False when the database
        refused (the item stays, and is tried again after a short, capped back-off)."""
        if not len(self.spool):
            return True
        if not force and time.monotonic() < self._db_retry_at:
            return False
        written = 0
        while (item := self.spool.peek()) is not None:
            began = time.monotonic()
            try:
                rows, note = self._write_item(item)
            except SQLAlchemyError as exc:
                self._db_refused(exc, began)
                return False
            self.spool.pop(note)
            written += len(rows)
            self._after_commit(rows)
        if self._db_down_since is not None:
            self.log(
                f"docktally collect: the database takes writes again after "
                f"{time.monotonic() - self._db_down_since:.1f}s; wrote {written} held event(s)"
            )
        self._db_down_since = None
        self._db_retry_s = DB_RETRY_START_S
        return True

    def _write_item(
        self, item: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], tuple[str, Any] | None]:
        """One spooled item in one transaction; returns the rows stored and what the spool
        must note when it drops the item (an offline session's host and coverage row)."""
        self.store_ready()
        if "start" in item:
            return self._write_start(item)
        rows: list[dict[str, Any]] = list(item.get("rows") or [])
        close = item.get("close")
        ref: Any = close[0] if close is not None else item.get("coverage")
        host, cov = item.get("host"), ref
        if isinstance(ref, str):
            # An offline session's: its start, written before, named the host and the row.
            known = self._offline.get(ref)
            if known is None:
                raise StoreError(
                    f"spool {self.spool.path}: batches of a session ({ref}) whose start is "
                    "missing; move the file aside to go on without them"
                )
            host, cov = host or known[0], known[1]
            for row in rows:
                row["host"] = host
        with self.store.begin() as conn:
            if rows:
                self._store_rows(
                    conn, rows, host=str(host), checkpoint=bool(item.get("checkpoint"))
                )
            if item.get("coverage") is not None:
                beat = int(item.get("at") or self.clock_ns())
                writes.heartbeat_coverage(conn, int(cov), beat)
            if close is not None:
                writes.close_coverage(conn, int(cov), int(close[1]), str(close[2]))
        if close is not None and isinstance(ref, str):
            self._offline.pop(ref, None)
            return rows, (ref, None)
        return rows, None

    def _write_start(
        self, item: Mapping[str, Any]
    ) -> tuple[list[dict[str, Any]], tuple[str, Any] | None]:
        """An offline session's start, now that the database takes it: the host named (its
        --host, else as any session names the engine), the replay it kept judged against the
        checkpoint, the replayed rows from there on, a gap if they cannot reach back, and the
        coverage row opened from the session's start (or earlier: see `_open`)."""
        start = item["start"]
        info = start["engine"]
        replay = [{"timeNano": t, "Actor": {"ID": c}, "Action": a} for t, c, a in start["replayed"]]
        while True:  # resolve_host raises once no default name is left
            host = identity.resolve_host(
                self.store, info, engine_url=self.engine_url, explicit=start["host"]
            )
            rows = [{**r, "host": host} for r in item.get("rows") or []]
            with self.store.begin() as conn:
                self._close_abandoned(conn, host)
            try:
                with self.store.begin() as conn:
                    opened = self._open(
                        conn,
                        host=host,
                        info=info,
                        replay=replay,
                        held=int(start["held"]),
                        rows=rows,
                        until_ns=int(start["until_ns"]),
                        now_ns=int(start["now_ns"]),
                        lost=start["lost"],
                    )
                break
            except identity.NameTaken as exc:
                self.log(f"docktally collect: {exc}")
        session = str(start["session"])
        self._offline[session] = [host, opened.coverage]
        identity.note_own_coverage(self.store, opened.coverage)
        if opened.gap is not None:
            self._gap_due = (opened.gap.reason, opened.gap_start_ns)
        return opened.rows, (session, [host, opened.coverage])

    def _db_refused(self, exc: SQLAlchemyError, began: float) -> None:
        now = time.monotonic()
        if self._db_down_since is None:
            self._db_down_since = began
            self.log(
                f"docktally collect: the database refused a write ({_first_line(str(exc))}); "
                "keeping events until it takes them"
            )
        if self.spool.file_error:
            self.log(f"docktally collect: the spool file is unusable too: {self.spool.file_error}")
            self.spool.file_error = None
        self._db_retry_at = now + self._db_retry_s * random.uniform(0.75, 1.25)
        self._db_retry_s = min(DB_RETRY_MAX_S, self._db_retry_s * 2)

    def _after_commit(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        committed_ns = self.clock_ns()
        self.events_committed += len(rows)
        if self.on_commit is not None:
            self.on_commit(rows, committed_ns)
        for row in rows:
            task = (str(row["host"]), str(row["container_id"]), int(row["time_ns"]))
            if row["kind"] in REFRESH_FACTS_KINDS:
                self._enrich.put(("facts", *task))
            elif row["kind"] == "die" and self.capture_logs:
                self._enrich.put(("logs", *task))
            elif row.get("health") == "unhealthy" and self.capture_logs:
                # The engine keeps only the last five probes: read them while they are the ones
                # that failed.
                self._enrich.put(("health", *task))

    # --- facts and log tails, off the writer's path --------------------------------------------
    def _enrich_loop(self) -> None:
        while True:
            task = self._enrich.get()
            if task is None:
                return
            if self._stopping() and task[0] == "facts":
                continue
            try:
                if self._enrich_client is None:
                    self._enrich_client = self.client_factory(self.engine_url)
                self._enrich_one(self._enrich_client, *task)
            except docker.errors.NotFound:
                pass  # gone already (`--rm`): the event has what we keep
            except SQLAlchemyError as exc:
                self.log(f"docktally collect: database error: {_first_line(str(exc))}")
            except Exception:
                # The engine went away; the next session's reconciliation refreshes the facts.
                client, self._enrich_client = self._enrich_client, None
                if client is not None:
                    with contextlib.suppress(Exception):
                        client.close()

    def _enrich_one(
        self, client: docker.APIClient, what: str, host: str, cid: str, time_ns: int
    ) -> None:
        if what == "facts":
            ins = client.inspect_container(cid)
            if isinstance(ins.get("RestartCount"), int):
                self._restart_counts[cid] = ins["RestartCount"]
            with self.store.begin() as conn:
                writes.record_facts(
                    conn, facts_from_inspect(ins, host=host, observed_ns=self.clock_ns())
                )
        elif what == "health":
            probes = health_probes_from_inspect(client.inspect_container(cid))
            with self.store.begin() as conn:
                writes.save_health_probes(
                    conn, host=host, container_id=cid, event_ns=time_ns, probes=probes
                )
        elif what == "logs":
            data = client.logs(cid, stdout=True, stderr=True, timestamps=True, tail=TAIL_LINES)
            text, truncated = bound_tail(data if isinstance(data, bytes) else bytes(data))
            with self.store.begin() as conn:
                writes.save_log_tail(
                    conn,
                    host=host,
                    container_id=cid,
                    time_ns=time_ns,
                    captured_ns=self.clock_ns(),
                    lines=text,
                    truncated=truncated,
                )


@dataclass(frozen=True)
class _Start:
    """How a session began: its coverage row (an offline session's id until the database
    takes its start), the engine time its stream follows, and the gap its replay found."""

    coverage: int | str
    until_ns: int
    online: bool
    gap_reason: str | None
    gap_start_ns: int | None  # where reconciliation's "before the gap" ends


@dataclass(frozen=True)
class _Opened:
    coverage: int
    gap: Gap | None
    gap_start_ns: int | None
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Gap:
    """What a replay that lacks the checkpoint says: why, and the span it could not replay."""

    reason: str  # engine_restart | replay_overflow | stall | database_outage
    start_ns: int
    end_ns: int


def _judge_replay(
    replay: Sequence[Any],
    cp: Mapping[str, Any] | None,
    prev: storeview.PreviousCoverage | None,
    until_ns: int,
    lost: str | None = None,
    held: int | None = None,
) -> Gap | None:
    """None when the replay reaches back to the checkpoint (`since` is inclusive: an engine
    that kept running returns it again); else the gap. Fewer than ENGINE_EVENT_BUFFER events
    (of every type) without the checkpoint: a restarted engine, whose buffer starts at its boot.
    Its gap runs from when the collector lost the engine (the stream's end, when it watched)
    to the new engine's first event (its boot, as near as the engine tells)."""
    if cp is None or any(_is_checkpoint(ev, cp) for ev in replay):
        return None
    prev_end = prev.end_ns if prev is not None else 0
    # `held`: how many events the buffer held when the replay was read (see _held_since).
    if max(len(replay), held or 0) >= ENGINE_EVENT_BUFFER:
        # The engine's buffer overflowed while nobody read: why nobody read is the reason
        # (`stall`, `database_outage`), else a collector that was away (`replay_overflow`).
        start = max(int(cp["time_ns"]), prev_end)
        return Gap(lost or "replay_overflow", start, max(until_ns, start))
    if prev is not None and prev.lost_stream:
        start = prev.end_ns
    else:
        start = max(int(cp["time_ns"]), prev_end)
    times = [t for t in (_time_ns(ev) for ev in replay) if t is not None]
    back = min([until_ns, *times])
    return Gap("engine_restart", start, max(back, start))


def _time_ns(ev: Any) -> int | None:
    t = ev.get("timeNano") if isinstance(ev, Mapping) else None
    return t if isinstance(t, int) and not isinstance(t, bool) else None


def _event_key(ev: Any) -> tuple[Any, ...]:
    if not isinstance(ev, Mapping):
        return (repr(ev),)
    actor = ev.get("Actor") or {}
    aid = actor.get("ID") if isinstance(actor, Mapping) else None
    return (ev.get("timeNano"), aid or ev.get("id"), ev.get("Action") or ev.get("status"))


def _is_checkpoint(ev: Any, cp: Mapping[str, Any]) -> bool:
    if not isinstance(ev, Mapping):
        return False
    actor = ev.get("Actor") or {}
    cid = (actor.get("ID") if isinstance(actor, Mapping) else None) or ev.get("id")
    return (
        ev.get("timeNano") == cp["time_ns"]
        and cid == cp["container_id"]
        and (ev.get("Action") or ev.get("status")) == cp["action"]
    )


def _read_stream(stream: Any, q: queue.Queue[Any]) -> None:
    """Nothing but read and queue (with when it arrived): a subscriber slower than 100 ms
    loses events."""
    try:
        for ev in stream:
            q.put((ev, time.monotonic()))
    except Exception:
        pass  # any end of the stream is a disconnect
    finally:
        q.put(_END)


def _drain_queue(q: queue.Queue[Any]) -> list[tuple[Any, float]]:
    """What the reader queued until its end (the stream is closed), or 0.5 s of quiet."""
    out: list[tuple[Any, float]] = []
    while True:
        try:
            item = q.get(timeout=0.5)
        except queue.Empty:
            return out
        if item is _END:
            return out
        out.append(item)


class _Watchdog(threading.Thread):
    """Ticks every STALL_TICK_S; a tick that comes `stall_s` late (on the monotonic or the
    wall clock: a suspended machine stops the first, not the second) means the process was not
    running. Notes when the stall began."""

    def __init__(self, stall_s: float, clock_ns: Callable[[], int]) -> None:
        super().__init__(name="docktally-watchdog", daemon=True)
        self.stall_s = stall_s
        self.clock_ns = clock_ns
        self.done = threading.Event()
        self.stalled_mono: float | None = None
        self.stalled_wall_ns: int | None = None
        self.stalled_for_s = 0.0

    def run(self) -> None:
        while not self.done.is_set():
            mono, wall, at_ns = time.monotonic(), time.time(), self.clock_ns()
            self.done.wait(STALL_TICK_S)
            late = max(time.monotonic() - mono, time.time() - wall)
            if late >= self.stall_s:
                self.stalled_for_s = late
                self.stalled_wall_ns = at_ns
                self.stalled_mono = mono
                return


def _close_stream(stream: Any) -> None:
    with contextlib.suppress(Exception):
        stream.close()


def _ping(client: docker.APIClient) -> bool:
    try:
        resp = client._get(client._url("/_ping"), timeout=PING_TIMEOUT_S)
        return bool(resp.status_code == 200)
    except (requests.RequestException, docker.errors.DockerException, OSError):
        return False
