"""A postmortem of a real crash loop on the private engine, collected by the real Collector."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from docktally.cli import main
from docktally.collector.runner import Collector
from docktally.store import db
from tests.private_engine import PrivateEngine

LAST_LINE = "pm-canary: giving up <now> & exiting 3"


def wait_until(pred: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def crash_loop_db(
    engine: PrivateEngine, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """A database holding an on-failure:3 crash loop; (db url, container name)."""
    engine.remove_all_containers()
    url = f"sqlite:///{tmp_path_factory.mktemp('pm') / 'pm.db'}"
    store = db.connect(url)
    col = Collector(store=store, engine_url=engine.url, host="pm-host", log=lambda _l: None)
    stop = threading.Event()
    thread = threading.Thread(target=col.run, args=(stop,), daemon=True)
    thread.start()
    name = "pm-web"
    try:
        wait_until(lambda: col.sessions >= 1, 20, "the collector to subscribe")
        c = engine.run(
            "sh",
            "-c",
            f"echo booting; echo '{LAST_LINE}'; exit 3",
            name=name,
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 3},
        )

        def gave_up() -> bool:
            c.reload()
            return c.status == "exited" and c.attrs["RestartCount"] == 3

        wait_until(gave_up, 30, "the engine to give up after 3 restarts")
        with store.connect() as conn:
            wait_until(
                lambda: conn.exec_driver_sql("select count(*) from log_tails").scalar() == 4,
                15,
                "4 log tails",
            )
    finally:
        stop.set()
        thread.join(15)
        store.dispose()
        engine.remove_all_containers()
    return url, name


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_incidents_then_postmortem_of_a_real_crash_loop(
    crash_loop_db: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url, name = crash_loop_db
    code, out, _ = run_cli(["incidents", "--db", url, "--since", "1h", "--format", "json"], capsys)
    assert code == 0
    (inc,) = json.loads(out)["incidents"]
    assert inc["containers"] == [name]
    assert inc["failures"] == 4 and inc["restarts"] == 3
    assert inc["open"] and inc["crash_loop"]
    assert inc["exit_codes"] == {"3": 4}
    assert inc["causes"] == {"crash": 4}
    assert inc["policy"] == "on-failure:3"

    # the same id on every run
    _, again, _ = run_cli(["incidents", "--db", url, "--since", "2h", "--format", "json"], capsys)
    assert json.loads(again)["incidents"][0]["id"] == inc["id"]

    code, md, _ = run_cli(["postmortem", inc["id"], "--db", url, "--since", "1h"], capsys)
    assert code == 0
    assert "exit 3 (application error (exit 3))" in md
    for n in (1, 2, 3):
        assert f"restart #{n}:" in md
    assert "restart #4" not in md
    assert "back-off 0.1 s" in md and "back-off 0.2 s" in md and "back-off 0.4 s" in md
    assert "pm-canary: giving up &lt;now&gt; &amp; exiting 3" in md  # text, never HTML
    assert "## Root cause" in md and "## Action items" in md
    assert "## Time to recover" in md

    out_file = tmp_path / "pm.html"
    code, _, err = run_cli(
        [
            "postmortem",
            inc["id"][:9],
            "--db",
            url,
            "--since",
            "1h",
            "--format",
            "html",
            "--out",
            str(out_file),
        ],
        capsys,
    )
    assert code == 0, err
    page = out_file.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "pm-canary: giving up &lt;now&gt; &amp; exiting 3" in page
    assert LAST_LINE not in page  # escaped, never raw
    assert "data:image/svg+xml;base64," in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # self-contained


def test_unknown_incident_is_one_line_exit_2(
    crash_loop_db: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = crash_loop_db
    code, out, err = run_cli(["postmortem", "inc-0000000000", "--db", url], capsys)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and "no incident 'inc-0000000000'" in err


def test_write_sample_artifacts(
    crash_loop_db: tuple[str, str], capsys: pytest.CaptureFixture[str], artifacts_dir: Path
) -> None:
    """Keep a Markdown and an HTML postmortem of the crash loop for people to look at."""
    url, _ = crash_loop_db
    _, out, _ = run_cli(["incidents", "--db", url, "--since", "1h", "--format", "json"], capsys)
    iid = json.loads(out)["incidents"][0]["id"]
    for fmt, ext in (("markdown", "md"), ("html", "html")):
        dest = artifacts_dir / f"postmortem-crash-loop.{ext}"
        assert main(["postmortem", iid, "--db", url, "--format", fmt, "--out", str(dest)]) == 0
        assert dest.stat().st_size > 500


def test_postmortem_of_the_crash_loop_a_reviewer_would_sign(
    crash_loop_db: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each of the four runs' last line once (the tail read after each die repeats the lines
    before it), why the policy gave up, and one budget share in every command and window."""
    url, _ = crash_loop_db
    shares = []
    for since in ("1h", "2d"):
        _, out, _ = run_cli(
            ["incidents", "--db", url, "--since", since, "--format", "json"], capsys
        )
        (inc,) = json.loads(out)["incidents"]
        shares.append(inc["slo_budget_spent_ratio"])
    assert shares[0] == shares[1]
    _, table, _ = run_cli(["incidents", "--db", url, "--since", "1h"], capsys)
    assert "Budget/30d" in table
    code, md, _ = run_cli(["postmortem", inc["id"], "--db", url, "--since", "1h"], capsys)
    assert code == 0
    assert md.count("pm-canary: giving up &lt;now&gt; &amp; exiting 3") == 4
    assert "on-failure:3 exhausted: the engine restarted it 3 time(s)" in md
    assert f"{100 * shares[0]:.1f}% of the 30d error budget at 99.9%" in md
    assert "| pm-web | log |" in md  # the log lines sit in the timeline, among the events
