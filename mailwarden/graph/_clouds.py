"""National clouds: where msal, Graph and the Exchange admin API live for a tenant.

Microsoft's hosts are pinned per cloud. An override (the sandbox tenant server) moves where
requests go, never the token audience, and only to ``https`` on this machine's loopback
(127.0.0.0/8, ``::1``, ``localhost``) with no user info, query or fragment: whoever can choose
an override can otherwise collect the app's client secret at the identity host. Callers take
overrides from server-side settings only, never from a run's parameters or a saved block.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from mailwarden.hosts import is_loopback_host

__all__ = ["Cloud", "CloudEndpoints", "check_override_url", "endpoints_for", "host_key", "is_loopback_host"]

_DEFAULT_PORTS = {"https": 443, "http": 80}


class Cloud(StrEnum):
    """The Microsoft 365 cloud a tenant lives in."""

    GLOBAL = "global"
    USGOV_GCCHIGH = "usgov-gcchigh"
    USGOV_DOD = "usgov-dod"
    CHINA = "china"


@dataclass(frozen=True)
class CloudEndpoints:
    """Where requests go (URLs, overridable) and which audience tokens are for (resources, fixed)."""

    cloud: Cloud
    login_url: str
    graph_url: str
    exchange_url: str
    graph_resource: str
    exchange_resource: str
    supports_message_rules: bool

    def allowed_hosts(self) -> frozenset[str]:
        """``host:port`` of the Graph and Exchange URLs: the only places a client sends to."""
        return frozenset({host_key(self.graph_url), host_key(self.exchange_url)})


# cloud -> (login, graph, exchange); from Microsoft's national cloud tables.
_TABLE: dict[Cloud, tuple[str, str, str]] = {
    Cloud.GLOBAL: ("https://login.microsoftonline.com", "https://graph.microsoft.com",
                   "https://outlook.office365.com"),
    Cloud.USGOV_GCCHIGH: ("https://login.microsoftonline.us", "https://graph.microsoft.us",
                          "https://outlook.office365.us"),
    Cloud.USGOV_DOD: ("https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
                      "https://webmail.apps.mil"),
    Cloud.CHINA: ("https://login.partner.microsoftonline.cn", "https://microsoftgraph.chinacloudapi.cn",
                  "https://partner.outlook.cn"),
}


def host_key(url: str) -> str:
    """``host:port`` of an absolute URL, lower-cased, with the scheme's default port filled in."""
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError as exc:
        raise ValueError(f"bad port in URL: {url!r}") from exc
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def check_override_url(name: str, url: str) -> str:
    """``url`` without a trailing slash, if it may replace a Microsoft host; ``ValueError`` naming why not.

    Allowed: ``https://<loopback>[:port][/path]``. Refused: any other scheme, any other host,
    user info, a query or a fragment, a bad port.
    """
    if not isinstance(url, str):
        raise ValueError(f"{name} must be a URL string, got {type(url).__name__}")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise ValueError(f"{name} must be an absolute https URL, got {url!r}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError(f"{name} must not carry user info, got a URL with some")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise ValueError(f"{name} must not carry a query or a fragment, got {url!r}")
    if not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{name} may only point at a loopback address (127.0.0.0/8, ::1, localhost), got {parts.hostname!r}"
        )
    host_key(url)  # validates the port
    return url.strip().rstrip("/")


def endpoints_for(cloud: Cloud | str, *, login_url: str | None = None, graph_url: str | None = None,
                  exchange_url: str | None = None) -> CloudEndpoints:
    """Endpoints of ``cloud``; an override changes where requests go, never the token audience.

    Each override must be https on loopback (:func:`check_override_url`), else ``ValueError``.
    """
    try:
        c = Cloud(cloud.lower() if isinstance(cloud, str) else cloud)
    except ValueError:
        known = ", ".join(x.value for x in Cloud)
        raise ValueError(f"unknown cloud {cloud!r}; expected one of: {known}") from None
    login, graph, exchange = _TABLE[c]
    return CloudEndpoints(
        cloud=c,
        login_url=login if login_url is None else check_override_url("login_url", login_url),
        graph_url=graph if graph_url is None else check_override_url("graph_url", graph_url),
        exchange_url=exchange if exchange_url is None else check_override_url("exchange_url", exchange_url),
        graph_resource=graph,
        exchange_resource=exchange,
        supports_message_rules=c is not Cloud.CHINA,
    )
