"""Where the endpoint listens: light enough for argument parsing (no pandas, no SQLAlchemy)."""

from __future__ import annotations

from docktally.errors import UsageError
from docktally.listening import is_loopback, listen_line

DEFAULT_ADDRESS = "127.0.0.1"
# docktally's own port, beside Prometheus' 9090 and the exporters' 91xx.
DEFAULT_PORT = 9486


def parse_address(text: str, what: str = "--metrics") -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` (host 127.0.0.1); `[::1]:PORT` for IPv6."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = "", text.strip()
    host = host.strip("[]") or DEFAULT_ADDRESS
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            f"{what}: {text!r} is not HOST:PORT (e.g. {DEFAULT_ADDRESS}:{DEFAULT_PORT})"
        )
    return host, int(port)


def exposure_warning(what: str, address: str, port: int) -> str | None:
    """A warning for an address other machines can reach: the endpoint has no login and names
    every container, image and service."""
    if is_loopback(address):
        return None
    return (
        f"warning: {what} {address} is reachable from other machines"
        f" ({listen_line(address, port)}):"
        " anyone who can connect sees every container's name, image and service, with no login;"
        f" keep it on {DEFAULT_ADDRESS} or put an authenticating proxy in front"
    )
