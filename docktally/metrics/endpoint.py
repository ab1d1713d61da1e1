"""The HTTP side of /metrics, and the endpoint beside a collector (`docktally collect
--metrics`, `docktally up`): a `docktally metrics` child process (server.py) serves it, so that
the store's series (pandas and prometheus_client's rendering, ~0.2-0.7 s of CPU per refresh
at 10,000 containers) never hold the GIL the collector's writer needs (bench/README.md: its p99 went
from 175 to 835 ms with them in its process); this process only answers the child with its
own health (events, commit lag, reconnects), read from the commit hook's counters.
"""

from __future__ import annotations

import contextlib
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
from docktally.listening import check_port_free
from docktally.metrics.address import DEFAULT_ADDRESS, DEFAULT_PORT
from docktally.metrics.health import CollectorHealth, ProcessHealthCollector

# What a GET /metrics answers: the text, whole or in parts sent one after the other.
Scrape = Callable[[], bytes | tuple[bytes, ...]]
# The collector's health, asked by the child at each scrape.
HEALTH_TIMEOUT_S = 2.0


def render(*collectors: Collector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    for c in collectors:
        registry.register(c)
    return generate_latest(registry)


class Http:
    """A ThreadingHTTPServer answering GET /metrics with `scrape()`, in a daemon thread."""

    def __init__(self, address: str, port: int, scrape: Scrape, option: str) -> None:
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


class CollectorMetrics:
    """/metrics beside a collector, served on the public address by a `docktally metrics`
    child process; the child adds this process's health, which it fetches from a loopback
    port here at each scrape (a few hundred bytes: the store's megabytes never pass through
    the collector's process)."""

    def __init__(
        self,
        db_url: str,
        health: CollectorHealth,
        *,
        address: str = DEFAULT_ADDRESS,
        port: int = DEFAULT_PORT,
        refresh_s: float = 15.0,
    ) -> None:
        self.db_url = db_url
        self.health = health
        self.address = address
        self.port = port or _free_port()
        self.refresh_s = refresh_s
        check_port_free(address, self.port, f"--metrics {address}:{self.port}")
        self._http = Http("127.0.0.1", 0, self.scrape, "--metrics")
        self.child: subprocess.Popen[bytes] | None = None

    def start(self) -> CollectorMetrics:
        # The URL through the environment, not argv: `ps` shows argv, with its password.
        env = {**os.environ, "DOCKTALLY_DB": self.db_url}
        host = f"[{self.address}]" if ":" in self.address else self.address
        argv = [sys.executable, "-m", "docktally", "metrics", "--address", f"{host}:{self.port}"]
        argv += ["--refresh", f"{max(self.refresh_s, 0.001):.3f}", "--parent-pid", str(os.getpid())]
        argv += ["--health-from", f"http://127.0.0.1:{self._http.port}/metrics"]
        self._http.thread.start()
        self.child = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        return self

    def close(self) -> None:
        if self.child is not None:
            self.child.terminate()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self._http.close()

    def scrape(self) -> bytes:
        return render(ProcessHealthCollector(self.health.view()))


def fetch(url: str) -> bytes:
    """Another process's metrics text; nothing if it does not answer (still starting, gone)."""
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_S) as resp:
            return bytes(resp.read())
    except OSError:
        return b""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _handler(scrape: Scrape) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404)
                return
            body = scrape()
            parts = (body,) if isinstance(body, bytes) else body
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(sum(len(p) for p in parts)))
            self.end_headers()
            # A scraper that gave up (Prometheus' scrape timeout) is nothing to report.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for part in parts:
                    self.wfile.write(part)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per scrape would bury the collector's own messages

    return Handler
