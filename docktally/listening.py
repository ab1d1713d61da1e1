"""Where a server listens, said plainly, and whether other machines can reach it: for the
dashboard and the metrics endpoint alike."""

from __future__ import annotations

import ipaddress
import socket

from docktally.errors import UsageError

LOCAL = "127.0.0.1"


def parse_listen(text: str, what: str, default_port: int) -> tuple[str, int]:
    """Where to listen, one syntax for every server option: `HOST:PORT`, `HOST` (the default
    port), `PORT` or `:PORT` (host 127.0.0.1); IPv6 in brackets, `[::1]:PORT` or `[::]`."""
    text = text.strip()
    if text.isdigit():
        host, port = "", text
    elif (text.startswith("[") and text.endswith("]")) or ":" not in text:
        host, port = text, str(default_port)
    else:
        host, _, port = text.rpartition(":")
        if ":" in host and not (host.startswith("[") and host.endswith("]")):
            port = ""  # a bare IPv6 address: which colon ends it is anyone's guess
    if not text or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{what}: {text!r} is not HOST:PORT (e.g. {LOCAL}:{default_port})")
    return host.strip("[]") or LOCAL, int(port)


def is_loopback(address: str) -> bool:
    """Only this machine can connect: a loopback IP or `localhost`."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: whoever it resolves for may reach it


def listen_line(address: str, port: int) -> str:
    """Where the server really listens, said plainly (0.0.0.0 and :: are every interface)."""
    every = {
        "0.0.0.0": ", every IPv4 interface",
        "::": ", every interface",
        "": ", every interface",
    }
    host = f"[{address}]" if ":" in address else address
    return f"listening on {host or '0.0.0.0'}:{port}{every.get(address, '')}"


def check_port_free(address: str, port: int, option: str) -> None:
    """A one-line error naming `option` when `address:port` cannot be bound, said before
    anything starts (a server thread or child that fails later says it nowhere useful)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            raise UsageError(f"{option}: {exc.strerror}") from None
