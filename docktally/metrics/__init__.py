"""The Prometheus endpoint: docktally's numbers as metrics, the collector's health, SLO rules."""
