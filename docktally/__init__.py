"""docktally: availability analytics for Docker containers, from the engine's own events."""

__version__ = "0.1.0"
