"""The docktally dashboard: `docktally dashboard` runs this file with Streamlit.

Pages are found next to this file, so the app runs from an installed package.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

HERE = Path(__file__).parent
PAGES = HERE / "views"
# A file next to the app, not a ":material/...:" icon: Streamlit fetches those favicons from
# fonts.gstatic.com, and the dashboard must work with no internet.
FAVICON = HERE / "favicon.png"


def run() -> None:
    st.set_page_config(page_title="docktally", page_icon=str(FAVICON), layout="wide")
    page = st.navigation(
        [
            st.Page(
                PAGES / "overview.py", title="Overview", icon=":material/dashboard:", default=True
            ),
            st.Page(PAGES / "fleet.py", title="Fleet", icon=":material/lan:"),
            st.Page(PAGES / "timeline.py", title="Timeline", icon=":material/timeline:"),
            st.Page(PAGES / "reliability.py", title="Reliability", icon=":material/insights:"),
            st.Page(PAGES / "policies.py", title="Restart policies", icon=":material/replay:"),
            st.Page(PAGES / "incidents.py", title="Incidents", icon=":material/report:"),
            st.Page(PAGES / "collector.py", title="Collector", icon=":material/sensors:"),
            st.Page(PAGES / "alerts.py", title="Alerts", icon=":material/notifications:"),
        ]
    )
    st.sidebar.header("Filters")
    # Imported after the first element on purpose: on its first element Streamlit looks at the
    # call stack (inspect.stack, to tell a REPL), which resolves the path of every module
    # imported so far; before pandas and SQLAlchemy that is ~0.1 s less of the first render.
    from docktally.dashboard import data, ui

    url = data.database_url()
    ui.sidebar(url, live_default=data.collector_status() is not None)
    ui.collector_banner(url)
    page.run()


run()
