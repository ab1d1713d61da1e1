"""The HTTP side of /metrics: a small threading server that answers GET /metrics with what the
MetricsServer (server.py) has ready, and the one place text is rendered (prometheus_client's
generate_latest)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from docktally.errors import UsageError


def render(*collectors: Collector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    return generate_latest(registry)


class Http:
    """A ThreadingHTTPServer answering GET /metrics with `scrape()`, in a daemon thread."""

    def __init__(self, address: str, port: int, scrape: Callable[[], bytes], option: str) -> None:
        try:
            self.httpd = ThreadingHTTPServer((address, port), _handler(scrape))
        except OSError as exc:
            raise UsageError(f"{option} {address}:{port}: {exc.strerror}") from None
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="docktally-metrics", daemon=True
        )

    def close(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=5)
        self.httpd.server_close()


def _handler(scrape: Callable[[], bytes]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = scrape()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # A scraper that gave up (Prometheus' scrape timeout) is nothing to report.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per scrape would bury the collector's own messages

    return Handler
