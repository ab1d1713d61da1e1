"""Where the endpoint listens: light enough for argument parsing (no pandas, no SQLAlchemy)."""

from __future__ import annotations

from docktally.listening import LOCAL, is_loopback, listen_line, parse_listen

DEFAULT_ADDRESS = LOCAL
# docktally's own port, beside Prometheus' 9090 and the exporters' 91xx.
DEFAULT_PORT = 9486


def parse_address(text: str, what: str = "--metrics") -> tuple[str, int]:
    """listening.parse_listen with docktally's own port as the default."""
    return parse_listen(text, what, DEFAULT_PORT)


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
