"""Where a server listens, said plainly, and whether other machines can reach it: for the
dashboard and the metrics endpoint alike."""

from __future__ import annotations

import ipaddress
import socket

from docktally.errors import UsageError


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
