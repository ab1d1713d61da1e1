"""Passwords kept out of what docktally shows: the standard library alone, so the command line
can check its --db before SQLAlchemy is imported."""

from __future__ import annotations


def url_without_password(url: str) -> str:
    """`url` with its password (if any) written as ***, for every message that shows it; also a
    URL too malformed to parse, which is when an error message shows it."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hostpart}"
