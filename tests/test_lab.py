"""A short lab run on the private engine: its measured MTTR per policy and the what-if replay of
its own failure trace agree within 10%."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from docktally.cli.lab import lab_result
from docktally.collector.lab import LABEL_RUN, Lab, LabConfig, workload_command, workload_sleeps
from docktally.store import db
from docktally.store.schema import runs
from tests.private_engine import IMAGE, PrivateEngine


def test_workload_is_seeded_and_exponential() -> None:
    a = workload_sleeps(7, 2.0, 600)
    assert a == workload_sleeps(7, 2.0, 600)
    assert a != workload_sleeps(8, 2.0, 600)
    assert len(a) >= 600 / 2.0
    assert sum(a) / len(a) == pytest.approx(2.0, rel=0.15)
    cmd = workload_command([0.5, 1.25], 2.0, 3, oom=False)
    assert cmd[:2] == ["sh", "-c"] and "exit 3" in cmd[2] and "set -- 0.5 1.25;" in cmd[2]
    # The allocating process is the main one, so an OOM kill ends the container (137).
    assert "exec dd if=/dev/zero" in workload_command([1.0], 2.0, 1, oom=True)[2]


def test_lab_measured_and_replayed_mttr_agree(
    clean_engine: PrivateEngine, tmp_path: Path, artifacts_dir: Path
) -> None:
    store = db.connect(f"sqlite:///{tmp_path / 'lab.db'}")
    config = LabConfig(
        duration_s=25,
        crash_every_s=2.0,
        exit_code=3,
        retries=2,
        seed=11,
        image=IMAGE,
        network="none",
        manual_mttr_s=3.0,
        run_label="labtest",
    )
    lab = Lab(
        client=clean_engine.client,
        store=store,
        engine_url=clean_engine.url,
        config=config,
        host="lab-host",
        collector_log=lambda _line: None,
    )
    statuses: list[str] = []
    run = lab.run(progress=lambda s: statuses.append(s.line()))
    try:
        result = lab_result(store, run, retries=2, manual_mttr_s=None, stable_s=60.0)
        with store.connect() as conn:
            (row,) = conn.execute(select(runs)).fetchall()
    finally:
        store.dispose()

    (artifacts_dir / "lab-result.json").write_text(json.dumps(result, indent=2))
    assert statuses, "no progress was reported"
    assert row.label == "labtest" and row.kind == "lab" and row.ended_ns is not None
    # the lab removed its containers
    assert not clean_engine.client.containers.list(all=True, filters={"label": LABEL_RUN})

    observed = {r["policy"]: r for r in result["observed"]}
    assert set(observed) == {"no", "on-failure:2", "always", "unless-stopped"}
    for pol, r in observed.items():
        assert r["failures"] >= 2, (pol, r)
        assert r["mttr_s"] is not None, (pol, r)
    assert observed["no"]["recovered_without_person_ratio"] == 0.0
    # every recovery of `always` was the engine's (the last failure may still be in back-off)
    assert observed["always"]["recovered_without_person"] == observed["always"]["recovered"]
    assert run.restarts_by_hand.get("no", 0) >= 1
    assert run.restarts_by_hand.get("on-failure:2", 0) >= 1  # retries used up: a person
    assert "always" not in run.restarts_by_hand

    # The engine never restarted sooner than its rules say (die -> start >= the rule's delay).
    with db.open_reader(db.connect(f"sqlite:///{tmp_path / 'lab.db'}")) as reader:
        from docktally.analytics.failures import find_failures
        from docktally.analytics.policies import classify_recoveries
        from docktally.store import reads

        history = reads.load_history(reader, run.window.start_ns, run.window.end_ns)
    c = classify_recoveries(find_failures(history, run.window))
    engine_restarts = c[c["engine_delay_s"].notna()]
    assert len(engine_restarts) >= 6
    assert (engine_restarts["ttr_s"].astype(float) >= engine_restarts["engine_delay_s"]).all()
    assert sorted(set(engine_restarts["engine_delay_s"].round(3)))[:3] == [0.1, 0.2, 0.4]

    agreement = {a["policy"]: a for a in result["lab"]["mttr_agreement"]}
    for pol, a in agreement.items():
        assert a["relative_difference"] is not None, (pol, a)
        assert a["relative_difference"] <= 0.10, (pol, a, result["parameters"])
    print("MTTR agreement:", json.dumps(result["lab"]["mttr_agreement"]))


def test_lab_with_an_image_that_cannot_be_pulled_is_one_line_and_leaves_nothing(
    clean_engine: PrivateEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy import func

    from docktally.cli import main
    from docktally.store.schema import metadata

    path = tmp_path / "lab.db"
    # No registry is reachable from the private engine: the pull fails at once.
    argv = ["lab", "--db", str(path), "--engine", clean_engine.url, "--duration", "5"]
    assert main([*argv, "--image", "docktally-test/no-such-image:1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("docktally: error: --image 'docktally-test/no-such-image:1': ")
    assert err.count("\n") == 1, err
    store = db.connect(f"sqlite:///{path}")
    try:
        with store.connect() as conn:
            left = {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                for t in metadata.sorted_tables
            }
    finally:
        store.dispose()
    assert not any(left.values()), left
    assert not clean_engine.client.containers.list(all=True, filters={"label": LABEL_RUN})


def test_lab_with_a_run_label_already_stored_is_one_line_and_starts_nothing(
    clean_engine: PrivateEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from docktally.cli import main
    from docktally.store import writes

    url = f"sqlite:///{tmp_path / 'lab.db'}"
    store = db.connect(url)
    try:
        with store.begin() as conn:
            writes.start_run(conn, label="taken", kind="lab", started_ns=1, params="{}")
        argv = ["lab", "--db", url, "--engine", clean_engine.url, "--duration", "5"]
        assert main([*argv, "--image", IMAGE, "--run-label", "taken"]) == 1
        err = capsys.readouterr().err
        assert err == (
            "docktally: error: --run-label 'taken': a run of that label is already stored "
            "(choose another)\n"
        )
        with store.connect() as conn:
            assert [r.started_ns for r in conn.execute(select(runs))] == [1]
    finally:
        store.dispose()
    assert not clean_engine.client.containers.list(all=True)
