"""The dashboard's Alerts page under Streamlit's AppTest: open alerts and the notification
history, names shown as the text they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from docktally.alerts.delivery import Deliverer, targets
from docktally.alerts.evaluate import evaluate_once
from docktally.alerts.rules import default_config
from docktally.cli import main
from docktally.dashboard import data
from docktally.store import alerts as outbox
from docktally.store import db, reads
from tests.alert_receiver import Receiver
from tests.data import recorded

APP = Path(data.__file__).parent / "app.py"
S = 1_000_000_000
HOSTILE_TITLE = "[CRITICAL] crash loop: <b>x</b> & <script>alert(1)</script> on lab"


def test_alerts_page_shows_open_alerts_and_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    for name in ("crash_loop", "oom"):
        assert main(["import", "--db", url, "--host", "lab", str(recorded.path(name))]) == 0
    store = db.connect(url)
    config = default_config([Receiver().url])  # nobody listens: the attempt fails
    to = targets(config.targets)
    with store.connect() as conn:
        now = int(reads.list_events(conn)["time_ns"].max()) + S
    evaluate_once(store, config, to, now)
    Deliverer(store, to, config.delivery, clock_ns=lambda: now, log=print).send_due()
    with store.begin() as conn:
        outbox.record_delivered(
            conn,
            {
                "dedupe_key": "test/1",
                "target": to[0].id,
                "target_label": to[0].label,
                "alert_key": "test",
                "rule": "test",
                "kind": "test",
                "severity": "info",
                "subject": "test",
                "host": "-",
                "key": "-",
                "title": HOSTILE_TITLE,
                "body": "x",
                "notify_type": "info",
                "created_ns": now,
            },
            now_ns=now,
            error=None,
        )
    store.dispose()

    monkeypatch.setenv(data.DB_ENV, url)
    monkeypatch.delenv("DOCKTALLY_COLLECTOR_STATUS", raising=False)
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.switch_page("views/alerts.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    open_now, history = (d.value for d in at.dataframe)
    assert sorted(open_now["container or service"]) == ["crashy", "hungry"]
    assert set(open_now["rule"]) == {"crash loop", "OOM kill"}
    assert list(history["status"]).count("pending") == 2
    assert HOSTILE_TITLE in list(history["title"])  # as text, not escaped, not rendered
    assert "0 failed, 2 pending" in " ".join(str(w.value) for w in at.warning)
