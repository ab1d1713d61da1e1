"""What the Alerts page shows: the open alerts and the notification history, read through
store.alerts and cached briefly (the delivery thread updates them as it sends)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from docktally.dashboard import data
from docktally.reports.alerts import display_rows, status_summary
from docktally.store import alerts as outbox
from docktally.store import db

TTL_S = 5
# Open alerts are looked for this far back: an alert never resolved stays on the page a month.
OPEN_LOOKBACK_NS = 30 * 86400 * 1_000_000_000
HISTORY_ROWS = 200
OPEN_COLUMNS = ["fired", "rule", "severity", "host", "container or service", "incident"]


@st.cache_data(ttl=TTL_S, show_spinner=False)
def open_alerts(url: str, now_ns: int, host: str = "") -> pd.DataFrame:
    """The alerts open now (of `host` only, when given)."""
    with db.open_reader(data.engine(url)) as reader:
        rows = outbox.open_alerts(reader, now_ns - OPEN_LOOKBACK_NS)
    rows = [r for r in rows if not host or str(r["host"]) == host]
    return pd.DataFrame(
        [
            [
                pd.Timestamp(int(r["fired_ns"]), unit="ns", tz="UTC"),
                str(r["rule"]),
                str(r["severity"]),
                str(r["host"]),
                str(r["key"]),
                str(r["incident_id"] or ""),
            ]
            for r in rows
        ],
        columns=OPEN_COLUMNS,
    )


@st.cache_data(ttl=TTL_S, show_spinner=False)
def notifications(url: str, host: str = "") -> tuple[pd.DataFrame, str | None]:
    """The newest notifications (of `host` only, when given) as text columns, and what is
    not sent yet."""
    with db.open_reader(data.engine(url)) as reader:
        rows = outbox.list_outbox(reader, limit=HISTORY_ROWS, host=host)
    return pd.DataFrame(display_rows(rows)), status_summary(rows)
