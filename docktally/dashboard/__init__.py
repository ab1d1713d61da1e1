"""The Streamlit dashboard: `app.py` and its pages describe the UI; `data` loads and caches what
they show; `server` runs Streamlit for `docktally dashboard` and `docktally up`."""
