"""Alerts: rules (rules.py), the pure decisions (engine.py), what a message says (message.py),
and the edges that read the store and deliver through Apprise (evaluate.py, delivery.py)."""
