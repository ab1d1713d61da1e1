"""Read queries on SQLite and PostgreSQL: load_history's lookback and last events before, the
stored values as they come back through Arrow, and list_events filters."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine

from docktally.analytics.model import EVENT_COLUMNS
from docktally.analytics.states import LIFECYCLE_KIND_ORDER
from docktally.store import collection, db, reads, writes

NS = 1_000_000_000
HOUR = 3600 * NS
A, B, C = "a" * 64, "b" * 64, "c" * 64


def ev(cid: str, t_ns: int, action: str, host: str = "h", **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "host": host,
        "container_id": cid,
        "time_ns": t_ns,
        "action": action,
        "kind": action.split(":")[0],
        "name": {A: "web", B: "db", C: "job"}[cid],
        "inferred": False,
        "source": "test",
        # Every row the same keys: an executemany takes its columns from the first row.
        "exit_code": None,
        "signal": None,
        "health": None,
    }
    if action.startswith("health_status: "):
        row["health"] = action.split(": ")[1]
    row.update(extra)
    return row


START = 100 * HOUR
END = 110 * HOUR


def seed(store: Engine) -> None:
    rows = [
        # A: started long ago, died just before the lookback, started again inside it.
        ev(A, 10 * HOUR, "start"),
        ev(A, 50 * HOUR, "die", exit_code=1),
        ev(A, START - HOUR // 2, "start"),
        ev(A, START + HOUR, "exec_start: sh"),  # not lifecycle: never loaded
        ev(A, START + 2 * HOUR, "health_status: unhealthy"),
        ev(A, END, "die", exit_code=137),  # at the end: outside
        # B: its last event before the window is a start long ago: that sets its state.
        ev(B, 1 * HOUR, "create"),
        ev(B, 2 * HOUR, "start"),
        ev(B, 3 * HOUR, "exec_die", exit_code=0),
        # C: another host, only after the window.
        ev(C, END + HOUR, "start", host="h2"),
        ev(C, START + HOUR, "kill", host="h2", signal=15),
    ]
    with store.begin() as conn:
        writes.insert_events(conn, rows)


def test_load_history_keeps_each_containers_last_event_of_each_kind_before_the_window(
    store: Engine,
) -> None:
    seed(store)
    with db.open_reader(store) as reader:
        h = reads.load_history(reader, START, END)
    df = h.events
    assert list(df.columns) == EVENT_COLUMNS
    got = [(r.container_id[0], r.time_ns, r.action) for r in df.itertuples()]
    assert got == [
        ("a", 10 * HOUR, "start"),  # the last start and die before the lookback horizon
        ("a", 50 * HOUR, "die"),
        ("a", START - HOUR // 2, "start"),  # inside the lookback
        ("a", START + 2 * HOUR, "health_status: unhealthy"),
        ("b", 1 * HOUR, "create"),
        ("b", 2 * HOUR, "start"),  # the exec_die after it does not count
        ("c", START + HOUR, "kill"),
    ]
    assert df["exit_code"].dtype.name == "Int64" and df["inferred"].dtype == bool
    assert df.loc[1, "exit_code"] == 1
    assert df.loc[3, "health"] == "unhealthy"


def test_load_history_by_host(store: Engine) -> None:
    seed(store)
    with db.open_reader(store) as reader:
        h = reads.load_history(reader, START, END, hosts=["h2"])
    assert set(h.events["host"]) == {"h2"}


def test_load_history_brings_coverage_and_facts(store: Engine) -> None:
    seed(store)
    with store.begin() as conn:
        c = writes.open_coverage(
            conn, host="h", engine_url=None, engine_id=None, source="import", start_ns=START
        )
        writes.close_coverage(conn, c, END, "import")
        early = writes.open_coverage(
            conn, host="h", engine_url=None, engine_id=None, source="import", start_ns=0
        )
        writes.close_coverage(conn, early, HOUR, "import")
    with db.open_reader(store) as reader:
        h = reads.load_history(reader, START, END)
    assert h.coverage[["start_ns", "end_ns"]].values.tolist() == [[START, END]]
    assert h.facts.empty and h.maintenance.empty


def test_list_events_filters(store: Engine) -> None:
    seed(store)
    with store.connect() as conn:

        def actions(**kw: Any) -> list[str]:
            return list(reads.list_events(conn, **kw)["action"])

        everything = reads.list_events(conn)
        assert len(everything) == 11
        assert everything["time_ns"].is_monotonic_increasing
        assert actions(container="web") == [
            "start",
            "die",
            "start",
            "exec_start: sh",
            "health_status: unhealthy",
            "die",
        ]
        assert actions(container="bbbb") == ["create", "start", "exec_die"]
        assert actions(container="nope") == []
        assert actions(action="die") == ["die", "die"]
        assert actions(action="exec_start: sh") == ["exec_start: sh"]
        assert actions(action="health_status") == ["health_status: unhealthy"]
        assert actions(since_ns=START, until_ns=END) == [
            "exec_start: sh",
            "kill",
            "health_status: unhealthy",
        ]
        assert actions(host="h2") == ["kill", "start"]
        assert actions(limit=2) == ["create", "start"]
        assert actions(container="web", action="die", since_ns=START) == ["die"]


def test_the_events_are_categoricals_named_from_the_container_rows(store: Engine) -> None:
    seed(store)
    with db.open_reader(store) as reader:
        df = reads.load_events(reader, START, END)
    assert len(df) == 7
    assert isinstance(df["container_id"].dtype, pd.CategoricalDtype)
    assert isinstance(df["action"].dtype, pd.CategoricalDtype)
    assert list(df["name"].astype(object)) == ["web", "web", "web", "web", "db", "db", "job"]


def test_an_empty_window_has_the_columns_and_types(store: Engine) -> None:
    seed(store)
    with db.open_reader(store) as reader:
        df = reads.load_events(reader, 1000 * HOUR, 1001 * HOUR, hosts=["nowhere"])
    assert df.empty and list(df.columns) == EVENT_COLUMNS
    assert df["exit_code"].dtype.name == "Int64" and df["inferred"].dtype == bool


def test_every_value_comes_back_as_stored(store: Engine) -> None:
    """Each typed column as written: codes far out of the usual range, an action that is not
    its kind, cause hints, health values, inferred rows."""
    rows = [
        ev(A, START + 1, "start"),
        ev(A, START + 2, "health_status: healthy"),
        ev(A, START + 3, "health_status: unhealthy"),
        ev(A, START + 4, "health_status", health=None),
        ev(A, START + 5, "kill", signal=9),
        ev(A, START + 6, "die", exit_code=137),
        ev(A, START + 7, "die", exit_code=-1),
        ev(A, START + 8, "die", exit_code=70_000),
        ev(A, START + 9, "kill", signal=300),
        ev(A, START + 10, " kill : x", kind="kill"),  # an action that is not its kind
        ev(B, START + 11, "die", exit_code=0, inferred=True, cause_hint="engine_restart"),
        ev(B, START + 12, "health_status: starting"),
        ev(B, START + 13, "start", inferred=True),
    ]
    with store.begin() as conn:
        writes.insert_events(conn, rows)
    with db.open_reader(store) as reader:
        df = reads.load_events(reader, START, END)
    cols = ["time_ns", "action", "kind", "exit_code", "signal", "health", "inferred", "cause_hint"]
    got = [
        tuple(None if pd.isna(v) else v for v in rec)
        for rec in df[cols].astype(object).itertuples(index=False)
    ]
    want = [
        (r["time_ns"], r["action"], r["kind"], r["exit_code"], r["signal"], r["health"],
         bool(r.get("inferred")), r.get("cause_hint"))
        for r in sorted(rows, key=lambda r: (r["container_id"], r["time_ns"]))
    ]  # fmt: skip
    assert got == want


def test_the_writers_connection_reads_the_same_history(store: Engine) -> None:
    """A process that writes (the collector serving metrics) reads through its SQLAlchemy
    connection (store.db.ConnectionReader): the same History as through Arrow's driver."""
    seed(store)
    with store.begin() as conn:
        c = writes.open_coverage(
            conn, host="h", engine_url=None, engine_id=None, source="import", start_ns=START
        )
        writes.close_coverage(conn, c, END, "import")
    with store.connect() as conn:
        here = reads.load_history(db.ConnectionReader(conn), START, END)
    with db.open_reader(store) as reader:
        arrow = reads.load_history(reader, START, END)
    for name in ("events", "facts", "coverage", "maintenance", "engine_restarts"):
        pd.testing.assert_frame_equal(getattr(here, name), getattr(arrow, name), obj=name)


# --- the last event of each kind before the window: the kind index -----------------------------

# The read before migration 0008: each kind matched on the action, walking the natural key.
_ACTION_MATCH = (
    "SELECT (SELECT i.id FROM events i WHERE i.container_ref = c.ref AND i.time_ns < {h} "
    "AND (i.action = '{k}' OR i.action LIKE '{k}:%') ORDER BY i.time_ns DESC, i.action DESC "
    "LIMIT 1) FROM containers c"
)


def _history_of_every_kind() -> list[dict[str, Any]]:
    """Three containers' events, seeded: every lifecycle kind and others (exec_*, health
    reports with their argument), two health reports in one nanosecond, and a kind container C
    never had."""
    import random

    rnd = random.Random(8)
    actions = [*LIFECYCLE_KIND_ORDER, "health_status: healthy", "health_status: unhealthy",
               "exec_start", "exec_die", "attach", "top"]  # fmt: skip
    rows = []
    for cid in (A, B, C):
        t = 0
        for _ in range(300):
            t += rnd.randrange(1, 3 * HOUR // 10)
            action = rnd.choice([a for a in actions if cid != C or a != "oom"])
            rows.append(ev(cid, t, action))
            if action == "health_status: healthy" and rnd.random() < 0.5:
                rows.append(ev(cid, t, "health_status: unhealthy"))  # the same nanosecond
    return rows


def test_the_last_of_each_kind_are_the_action_matchs_rows(store: Engine) -> None:
    """The kind index's lookup finds, per container and kind, the row the action match found."""
    rows = _history_of_every_kind()
    with store.begin() as conn:
        writes.insert_events(conn, rows)
    horizon = 20 * HOUR
    old = " UNION ALL ".join(
        _ACTION_MATCH.format(h=horizon, k=k) for k in sorted(LIFECYCLE_KIND_ORDER)
    )
    sql = reads._events_sql(horizon + reads.LOOKBACK_NS, 30 * HOUR, None, False)
    earlier = sql.split(" UNION ALL ", 1)[1]
    key = ["container_ref", "time_ns", "action"]
    with db.open_reader(store) as reader:
        want = reads.query(reader, f"{earlier.split(' AND id IN ')[0]} AND id IN ({old})")
        got = reads.query(reader, earlier)
    want, got = (f.sort_values(key, ignore_index=True) for f in (want, got))
    assert len(want) > 20 and (want["action"] == "oom").sum() == 2  # not C's
    pd.testing.assert_frame_equal(got, want)


def test_the_last_of_each_kind_is_a_seek_in_the_kind_index(tmp_path: Any) -> None:
    """SQLite seeks each container's last event of a kind in (container_ref, kind, time_ns,
    action), the index alone, instead of walking back through its events."""
    eng = db.connect(f"sqlite:///{tmp_path / 'k.db'}")
    with eng.begin() as conn:
        writes.insert_events(conn, _history_of_every_kind())
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + reads._events_sql(30 * HOUR, 40 * HOUR, None, False)
        ).fetchall()
    eng.dispose()
    probes = [r[3] for r in plan if " i " in f" {r[3]} "]
    assert len(probes) == len(LIFECYCLE_KIND_ORDER)
    for p in probes:
        assert "COVERING INDEX ix_events_container_ref_kind_time_ns_action" in p, p
        assert "kind=? AND time_ns<?" in p, p


def test_the_arrow_reader_on_postgresql_compiles_no_statement_with_jit(pg_url: str) -> None:
    """The planner's cost of the look-back probes sets off PostgreSQL's JIT, whose compile was
    half of the dashboard's events read: the analysis reads' sessions have it off."""
    db.connect(pg_url).dispose()
    with db.open_reader(db.connect(pg_url, readonly=True)) as reader:
        assert reader.table("SELECT current_setting('jit')").column(0)[0].as_py() == "off"
        # Still read-only (the same options carry both).
        assert (
            reader.table("SELECT current_setting('default_transaction_read_only')")
            .column(0)[0]
            .as_py()
            == "on"
        )


def test_postgresqls_seeks_return_the_rows_of_the_ids_they_found(pg_url: str) -> None:
    """On PostgreSQL each last-of-kind seek returns its row (a LATERAL join): the same rows as
    the ids looked up again, for every container and for some."""
    store = db.connect(pg_url)
    with store.begin() as conn:
        writes.insert_events(conn, _history_of_every_kind())
    key = ["container_ref", "time_ns", "action"]
    with db.open_reader(store) as reader:
        for refs in (None, [1, 3]):
            by_id, seeks = (
                reads.query(
                    reader, reads._events_sql(25 * HOUR, 30 * HOUR, refs, False, True, lat)
                ).sort_values(key, ignore_index=True)
                for lat in (False, True)
            )
            assert len(by_id) > 20 and "e.*" in reads._events_sql(1, 2, refs, False, True, True)
            pd.testing.assert_frame_equal(seeks, by_id)


def test_kept_last_events_are_the_whole_lookups(store: Engine) -> None:
    """reads.LastEvents, as the horizon moves forward and events arrive (live ones after it,
    late ones before it): always the rows a whole lookup finds now, in its order; the whole
    lookup again only for the late ones."""
    rows = _history_of_every_kind()
    live = [r for r in rows if r["time_ns"] < 30 * HOUR]
    later = [r for r in rows if r["time_ns"] >= 30 * HOUR]
    with store.begin() as conn:
        writes.insert_events(conn, live)
    kept = reads.LastEvents()

    def check(horizon: int) -> None:
        with store.connect() as conn:
            reader = db.ConnectionReader(conn)
            got = kept.before(reader, horizon).to_pandas()
            whole = reader.table(reads._last_of_kind_sql(horizon, "", with_id=True)).to_pandas()
        assert len(whole) > 0
        pd.testing.assert_frame_equal(got, whole.sort_values("id", ignore_index=True))

    check(5 * HOUR)
    assert kept.reads == 1
    for h in (5, 6, 12, 20, 29):
        check(h * HOUR)
    assert kept.reads == 1
    with store.begin() as conn:
        writes.insert_events(conn, later)  # all after the horizon: nothing to look up again
    for h in (31, 45):
        check(h * HOUR)
    assert kept.reads == 1
    # A late event (a replay) before the kept horizon: a start of C, the last one before it.
    last_start = max(
        r["time_ns"]
        for r in rows
        if r["container_id"] == C and r["action"] == "start" and r["time_ns"] < 45 * HOUR
    )
    with store.begin() as conn:
        writes.insert_events(conn, [ev(C, last_start + 1, "start")])
    check(45 * HOUR)
    assert kept.reads == 2
    check(50 * HOUR)
    check(40 * HOUR)  # backwards: looked up whole
    assert kept.reads == 3


def test_each_hosts_newest_event_kept_is_the_whole_querys(store: Engine) -> None:
    """collection.NewestEvents, as events arrive for known hosts (older and newer than their
    newest) and a new host: the whole query's answer, from the events stored since."""
    newest = collection.NewestEvents()
    batches = [
        [ev(A, 5 * HOUR, "start"), ev(B, 7 * HOUR, "start", host="h2")],
        [],
        [ev(A, 4 * HOUR, "die", exit_code=1), ev(B, 9 * HOUR, "exec_start: sh", host="h2")],
        [ev(C, 1 * HOUR, "create", host="h3"), ev(A, 6 * HOUR, "start")],
    ]
    for rows in batches:
        with store.begin() as conn:
            writes.insert_events(conn, rows)
        with store.connect() as conn:
            assert newest.read(conn) == collection.last_event_ns_by_host(conn)
    assert newest.by_host == {"h": 6 * HOUR, "h2": 9 * HOUR, "h3": 1 * HOUR}


def test_kept_containers_are_the_whole_table(store: Engine) -> None:
    """reads.KeptContainers, as containers arrive, are renamed by a newer event, keep their name
    through an older one, and an event of a known container arrives: always the rows a whole
    read finds now, in its order; the whole read only once."""
    kept = reads.KeptContainers()
    batches = [
        [ev(A, 5 * HOUR, "create", name="web-1"), ev(B, 5 * HOUR, "create", name="db")],
        [],
        [ev(C, 6 * HOUR, "create", name="job", host="h2")],  # a new container
        [ev(A, 7 * HOUR, "rename", name="web-2")],  # renamed by a newer event
        [ev(A, 6 * HOUR, "start", name="web-old")],  # an older event: the name stays
        [ev(B, 8 * HOUR, "start", name="db", image="postgres:17")],  # a new image
    ]
    for rows in batches:
        with store.begin() as conn:
            writes.insert_events(conn, rows)
        with store.connect() as conn:
            reader = db.ConnectionReader(conn)
            got = kept.read(reader)
            whole = reads.query(reader, f"{reads._CONTAINERS_SQL} ORDER BY ref")
        pd.testing.assert_frame_equal(got, whole)
    assert kept.reads == 1
    assert got.set_index("container_id").loc[A, "name"] == "web-2"
    assert got.set_index("container_id").loc[B, "image"] == "postgres:17"
