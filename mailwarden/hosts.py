"""Which hosts are this machine's: the one test every loopback-only rule shares."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback_host", "is_loopback_url"]


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` (a hostname, brackets allowed) is ``localhost`` or in 127.0.0.0/8 or ::1.

    Any other name, ``0.0.0.0`` and ``::`` included, is not: a name could resolve anywhere.
    """
    host = (host or "").strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str | None) -> bool:
    """Whether ``url``'s host is a loopback host (see :func:`is_loopback_host`)."""
    try:
        return is_loopback_host(urlsplit(url or "").hostname)
    except ValueError:
        return False
