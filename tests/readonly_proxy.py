"""A read-only Docker socket proxy for tests: forwards GET requests to the engine's unix socket,
records every request line, and answers 403 to anything else (as tecnativa/docker-socket-proxy
does with POST=0).

Each request gets its own upstream connection with `Connection: close`, and the response goes
back with `Connection: close` too, so the proxy never has to find where a response ends (the
event stream has no end).
"""

from __future__ import annotations

import contextlib
import os
import socket
import socketserver
import threading
from pathlib import Path

FORBIDDEN_BODY = b'{"message":"read-only proxy: only GET is allowed"}'


def _read_head(sock: socket.socket) -> tuple[bytes, bytes] | None:
    """Bytes up to the blank line, and whatever came after it; None at EOF."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head, rest


def _with_connection_close(head: bytes) -> bytes:
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


class ReadonlyProxy:
    def __init__(self, upstream_sock: Path, listen_sock: Path) -> None:
        self.upstream = str(upstream_sock)
        self.path = listen_sock
        self.url = f"unix://{listen_sock}"
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingUnixStreamServer | None = None
        self._conns: set[socket.socket] = set()
        # hang(): what the engine sends is dropped and no connection ends until stop(), as
        # through a network path that went dead without closing.
        self._hung = threading.Event()
        self._stopped = threading.Event()

    def start(self) -> ReadonlyProxy:
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._handle(self.request)

        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = socketserver.ThreadingUnixStreamServer(str(self.path), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def hang(self) -> None:
        self._hung.set()

    def stop(self) -> None:
        self._stopped.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            for s in list(self._conns):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self) -> ReadonlyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, client: socket.socket) -> None:
        with self._lock:
            self._conns.add(client)
        try:
            while True:
                got = _read_head(client)
                if got is None:
                    return
                head, rest = got
                request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
                method, _, target = request_line.partition(" ")
                target = target.rsplit(" ", 1)[0]
                with self._lock:
                    self.requests.append((method, target))
                if method != "GET":
                    length = 0
                    for ln in head.split(b"\r\n")[1:]:
                        name, _, value = ln.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value.strip() or 0)
                    while len(rest) < length:
                        chunk = client.recv(65536)
                        if not chunk:
                            return
                        rest += chunk
                    client.sendall(
                        b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                        + f"Content-Length: {len(FORBIDDEN_BODY)}\r\n".encode()
                        + b"\r\n"
                        + FORBIDDEN_BODY
                    )
                    continue
                self._forward(client, _with_connection_close(head) + rest)
                return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(client)
            with contextlib.suppress(OSError):
                client.close()

    def _forward(self, client: socket.socket, request: bytes) -> None:
        up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with self._lock:
            self._conns.add(up)
        try:
            up.connect(self.upstream)
            up.sendall(request)
            got = _read_head(up)
            if got is None:
                return
            head, rest = got
            client.sendall(_with_connection_close(head) + rest)
            while True:
                chunk = up.recv(65536)
                if self._hung.is_set():
                    self._stopped.wait()
                    return
                if not chunk:
                    return
                client.sendall(chunk)
        finally:
            with self._lock:
                self._conns.discard(up)
            with contextlib.suppress(OSError):
                up.close()
