"""National clouds: where msal, Graph and the Exchange admin API live for a tenant."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

__all__ = ["Cloud", "CloudEndpoints", "endpoints_for", "host_key"]

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
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


def _check_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{name} must be an absolute https URL, got {url!r}")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        raise ValueError(f"{name} must use https (plain http only for loopback), got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{name} must not carry a query, fragment or user info, got {url!r}")
    host_key(url)  # validates the port
    return url.rstrip("/")


def endpoints_for(cloud: Cloud | str, *, login_url: str | None = None, graph_url: str | None = None,
                  exchange_url: str | None = None) -> CloudEndpoints:
    """Endpoints of ``cloud``; an override changes where requests go, never the token audience."""
    try:
        c = Cloud(cloud.lower() if isinstance(cloud, str) else cloud)
    except ValueError:
        known = ", ".join(x.value for x in Cloud)
        raise ValueError(f"unknown cloud {cloud!r}; expected one of: {known}") from None
    login, graph, exchange = _TABLE[c]
    return CloudEndpoints(
        cloud=c,
        login_url=_check_url("login_url", login_url or login),
        graph_url=_check_url("graph_url", graph_url or graph),
        exchange_url=_check_url("exchange_url", exchange_url or exchange),
        graph_resource=graph,
        exchange_resource=exchange,
        supports_message_rules=c is not Cloud.CHINA,
    )
