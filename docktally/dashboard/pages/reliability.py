"""Reliability."""

from __future__ import annotations

import streamlit as st

from docktally.dashboard import ui

view = ui.current_view()
st.title("Reliability")
