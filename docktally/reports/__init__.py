"""Rendering of analytics results: text table, JSON, CSV, Markdown, HTML (with charts).

Renderers compute nothing: they format what docktally.analytics returned.
"""
