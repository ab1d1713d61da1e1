"""End to end on the real engine: a crash loop under on-failure:3, a user stop and a finished
job, recorded with `docker events`, imported with `docktally import`, reported as JSON; every
number checked against a hand computation from the recorded events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from docktally.cli import main
from docktally.collector.normalize import facts_from_inspect
from docktally.store import db, writes
from docktally.timespec import ns_to_iso
from tests.private_engine import EventRecorder, PrivateEngine

pytestmark = pytest.mark.engine


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_report_matches_hand_computation_from_recorded_events(
    clean_engine: PrivateEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eng = clean_engine
    rec_file = tmp_path / "events.jsonl"
    inspects = []
    with EventRecorder(eng, rec_file) as rec:
        crashy = eng.run(
            "sh",
            "-c",
            "sleep 0.3; exit 3",
            name="e2e-crashy",
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
        )
        steady = eng.run("sleep", "600", name="e2e-steady")
        job = eng.run("sh", "-c", "sleep 0.2; exit 0", name="e2e-job")

        def gave_up() -> bool:
            crashy.reload()
            return crashy.status == "exited" and crashy.attrs["RestartCount"] == 3

        wait_until(gave_up, 60, "the engine to give up after 3 restarts")
        job.wait(timeout=30)
        time.sleep(0.5)
        steady.stop(timeout=1)  # busybox sleep ignores SIGTERM: SIGKILL after 1 s
        for c in (crashy, steady, job):
            c.reload()
            inspects.append(c.attrs)
    lines = rec.lines()
    assert lines

    url = f"sqlite:///{tmp_path / 'e2e.db'}"
    assert main(["import", "--db", url, "--host", "e2e", str(rec_file)]) == 0
    store = db.connect(url)
    with store.begin() as conn:
        for ins in inspects:
            writes.record_facts(conn, facts_from_inspect(ins, host="e2e", observed_ns=0))
    store.dispose()
    capsys.readouterr()

    events = [json.loads(x) for x in lines]
    times = [e["timeNano"] for e in events]
    t_first, t_last = min(times), max(times)
    start, end = t_first - 10**9, t_last + 10**9

    def of(name: str, action: str) -> list[int]:
        return sorted(
            e["timeNano"]
            for e in events
            if e["Action"] == action and e["Actor"]["Attributes"].get("name") == name
        )

    assert (
        main(
            [
                "report",
                "--db",
                url,
                "--since",
                ns_to_iso(start),
                "--until",
                ns_to_iso(end),
                "--format",
                "json",
            ]
        )
        == 0
    )
    doc = json.loads(capsys.readouterr().out)
    groups = {g["key"]["container"]: g for g in doc["groups"]}

    # Crash loop: up from each start to its die; down from each die to the next start, and
    # after the last die until the import's coverage ends (its last event).
    starts, dies = of("e2e-crashy", "start"), of("e2e-crashy", "die")
    assert len(starts) == 4 and len(dies) == 4
    up = sum(d - s for s, d in zip(starts, dies, strict=True)) / 1e9
    gaps = [(starts[i + 1] - dies[i]) / 1e9 for i in range(3)]
    down = sum(gaps) + (t_last - dies[-1]) / 1e9
    g = groups["e2e-crashy"]
    assert g["failures"] == 4 and g["restarts"] == 3
    assert g["uptime_s"] == pytest.approx(up, abs=1e-6)
    assert g["downtime_s"] == pytest.approx(down, abs=1e-6)
    assert g["availability"] == pytest.approx(up / (up + down))
    assert g["mttr_s"] == pytest.approx(sum(gaps) / 3, abs=1e-6)
    assert g["mtbf_s"] == pytest.approx(up / 4, abs=1e-6)
    assert g["exit_codes"] == {"3": 4} and g["oom_kills"] == 0
    assert g["unknown_s"] == pytest.approx((end - t_last) / 1e9, abs=1e-6)
    # Before its create the container did not exist: that time is nobody's (definitions.md).
    (created,) = of("e2e-crashy", "create")
    total = g["uptime_s"] + g["downtime_s"] + g["planned_s"] + g["unknown_s"]
    assert total == pytest.approx((end - created) / 1e9, abs=1e-6)

    # docker stop: kill 15, kill 9 after the 1 s grace, die 137, stop: planned, no failure.
    s = groups["e2e-steady"]
    assert s["failures"] == 0 and s["downtime_s"] == 0
    assert s["uptime_s"] == pytest.approx(
        (of("e2e-steady", "die")[0] - of("e2e-steady", "start")[0]) / 1e9, abs=1e-6
    )
    # A job that exits 0 under policy "no" is done, not down.
    j = groups["e2e-job"]
    assert j["failures"] == 0 and j["downtime_s"] == 0 and j["availability"] == 1.0

    assert (
        main(
            [
                "report",
                "--db",
                url,
                "--since",
                ns_to_iso(start),
                "--until",
                ns_to_iso(end),
                "--by",
                "policy",
                "--format",
                "json",
            ]
        )
        == 0
    )
    pol = {g["key"]["policy"]: g for g in json.loads(capsys.readouterr().out)["groups"]}
    assert pol["on-failure:3"]["failures"] == 4 and pol["no"]["failures"] == 0
