"""What `docktally dashboard` serves: the app (app.py) as Streamlit's st.App, which takes ASGI
middleware, so every response carries the security headers (headers.py).

`streamlit run` finds the `app` below and serves it with its own settings (address, port, XSRF).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from docktally.dashboard.headers import SecurityHeaders

app = st.App(Path(__file__).parent / "app.py", middleware=[Middleware(SecurityHeaders)])
