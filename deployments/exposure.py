"""Refuse to run with a Prefect API open beyond this machine.

Whoever reaches the open-source Prefect server's API can start and resume runs, emit events and
read blocks, secrets included (README, "Security model"). So ``mailwarden serve`` and the demo
refuse to start when the Prefect API they use, or the server this environment would start, is on
a non-loopback address without basic-auth (``PREFECT_SERVER_API_AUTH_STRING`` on the server,
``PREFECT_API_AUTH_STRING`` on clients) and CSRF protection
(``PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mailwarden.hosts import is_loopback_host


class ExposedPrefectApi(SystemExit):
    """The Prefect API would be reachable from other machines without authentication."""


@dataclass(frozen=True)
class PrefectExposure:
    """What decides whether the Prefect API is exposed."""

    api_url: str | None
    server_host: str | None
    client_auth: bool
    server_auth: bool
    csrf: bool

    @classmethod
    def current(cls) -> PrefectExposure:
        """Read from this process's Prefect settings."""
        from prefect.settings import get_current_settings

        s = get_current_settings()
        return cls(api_url=s.api.url, server_host=s.server.api.host,
                   client_auth=s.api.auth_string is not None and bool(s.api.auth_string.get_secret_value()),
                   server_auth=s.server.api.auth_string is not None
                   and bool(s.server.api.auth_string.get_secret_value()),
                   csrf=bool(s.server.api.csrf_protection_enabled))


def check_prefect_exposure(exposure: PrefectExposure) -> None:
    """Raise :class:`ExposedPrefectApi` naming what is missing; return when the API is loopback-only
    or guarded."""
    problems = []
    api_host = urlsplit(exposure.api_url).hostname if exposure.api_url else None
    if not is_loopback_host(api_host) and not exposure.client_auth:
        problems.append(f"the Prefect API at {api_host} is used without PREFECT_API_AUTH_STRING")
    if not is_loopback_host(exposure.server_host):
        if not exposure.server_auth:
            problems.append(f"a Prefect server on {exposure.server_host} would run without "
                            "PREFECT_SERVER_API_AUTH_STRING")
        if not exposure.csrf:
            problems.append(f"a Prefect server on {exposure.server_host} would run without "
                            "PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED=true")
    if problems:
        raise ExposedPrefectApi(
            "refusing to start: " + "; ".join(problems) + ". Whoever reaches that API can start and resume "
            "runs and read every tenant's credentials: keep it on 127.0.0.1, or set an auth string and CSRF "
            "protection (README, Security model).")
