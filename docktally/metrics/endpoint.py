"""The HTTP side of /metrics, and the endpoint beside a collector (`docktally collect
--metrics`, `docktally up`): the store's series come from a `docktally metrics` child process
(server.py) on a loopback port, so that their computation (pandas, ~0.6 s of CPU per refresh at
10,000 containers) never holds the GIL the collector's writer needs, nor loads pandas into the
collector; this process adds only its own health (events, commit lag, reconnects), read from
the commit hook's counters at scrape time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from docktally.errors import UsageError
from docktally.metrics.address import DEFAULT_ADDRESS, DEFAULT_PORT
from docktally.metrics.health import CollectorHealth, ProcessHealthCollector

CHILD_TIMEOUT_S = 10.0


def render(*collectors: Collector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    return generate_latest(registry)


class Http:
    """A ThreadingHTTPServer answering GET /metrics with `scrape()`, in a daemon thread."""

    def __init__(self, address: str, port: int, scrape: Callable[[], bytes]) -> None:
        try:
            self.httpd = ThreadingHTTPServer((address, port), _handler(scrape))
        except OSError as exc:
            raise UsageError(f"--metrics {address}:{port}: {exc.strerror}") from None
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="docktally-metrics", daemon=True
        )

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class CollectorMetrics:
    """/metrics beside a collector: the store's series from a `docktally metrics` child on a
    loopback port, then this process's health."""

    def __init__(
        self,
        db_url: str,
        health: CollectorHealth,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
    ) -> None:
        self.db_url = db_url
        self.health = health
        self._http = Http(address, port, self.scrape)
        self.port = self._http.port
        self.child_port = _free_port()
        self.child: subprocess.Popen[bytes] | None = None

    def start(self) -> CollectorMetrics:
        # The URL through the environment, not argv: `ps` shows argv, with its password.
        env = {**os.environ, "DOCKTALLY_DB": self.db_url}
        argv = [sys.executable, "-m", "docktally", "metrics", "--quiet"]
        argv += ["--address", f"127.0.0.1:{self.child_port}", "--parent-pid", str(os.getpid())]
        self.child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        self._http.thread.start()
        return self

    def close(self) -> None:
        self._http.close()
        if self.child is not None:
            self.child.terminate()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()

    def scrape(self) -> bytes:
        try:
            url = f"http://127.0.0.1:{self.child_port}/metrics"
            with urllib.request.urlopen(url, timeout=CHILD_TIMEOUT_S) as resp:
                store = bytes(resp.read())
        except OSError:
            store = b""  # still starting, or gone: this process's health still tells
        return store + render(ProcessHealthCollector(self.health.view()))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per scrape would bury the collector's own messages

    return Handler
