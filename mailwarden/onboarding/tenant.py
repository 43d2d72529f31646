"""Who a tenant is: the reference an operator types, the GUID consent returns, its domains."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_GUID = re.compile(r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def normalize_tenant_ref(value: str) -> str:
    """A tenant GUID or DNS domain, lower-cased; ``ValueError`` otherwise."""
    ref = (value or "").strip().lower()
    if _GUID.match(ref) or _DOMAIN.match(ref):
        return ref
    raise ValueError(f"{value!r} is neither a tenant GUID nor a domain name")


def is_guid(value: str) -> bool:
    return bool(_GUID.match((value or "").lower()))


def verified_domains(organization: Mapping[str, Any]) -> list[str]:
    """The verified domain names of a Graph ``organization`` (or its ``value`` page)."""
    org = organization
    if "value" in organization:
        values = organization.get("value") or [{}]
        org = values[0]
    return [str(d.get("name", "")).lower() for d in org.get("verifiedDomains") or [] if d.get("name")]


def primary_domain(organization: Mapping[str, Any], fallback: str | None = None) -> str:
    """The default verified domain (``isDefault``), else the initial one, else ``fallback``."""
    org = organization
    if "value" in organization:
        values = organization.get("value") or [{}]
        org = values[0]
    domains = org.get("verifiedDomains") or []
    for flag in ("isDefault", "isInitial"):
        for d in domains:
            if d.get(flag) and d.get("name"):
                return str(d["name"]).lower()
    if fallback and not is_guid(fallback):
        return fallback.lower()
    raise ValueError("the organization has no verified domain to name the tenant by")


def check_same_tenant(
    requested: str, consented_tenant_id: str, organization: Mapping[str, Any] | None
) -> None:
    """Refuse a consent that came back from another tenant than the one asked for."""
    requested = requested.lower()
    if is_guid(requested):
        if requested != consented_tenant_id.lower():
            raise ValueError(f"consent came back from tenant {consented_tenant_id}, not {requested}")
        return
    if organization is not None and requested not in verified_domains(organization):
        raise ValueError(
            f"consent came back from tenant {consented_tenant_id}, "
            f"whose verified domains do not include {requested}"
        )


def tenant_id_from_openid_configuration(document: Mapping[str, Any]) -> str:
    """The tenant GUID in an OpenID discovery document's ``issuer`` (``https://host/{guid}/v2.0``)."""
    issuer = str(document.get("issuer") or "")
    parts = [p for p in issuer.split("/") if p]
    for part in parts:
        if is_guid(part):
            return part.lower()
    raise ValueError("the identity platform's discovery document names no tenant id")


def discover_tenant_id(domain: str, login_url: str, *, verify: str | bool = True, timeout: float = 15.0) -> str:
    """The tenant GUID that owns ``domain``, from the public OpenID discovery of the cloud's login host.

    It needs no credentials, so onboarding knows which tenant it expects before it trusts a consent
    callback or spends a token on anything.
    """
    import httpx

    ref = normalize_tenant_ref(domain)
    if is_guid(ref):
        return ref
    url = f"{login_url.rstrip('/')}/{ref}/v2.0/.well-known/openid-configuration"
    try:
        response = httpx.get(url, verify=verify, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        raise ValueError(f"could not look up the tenant of {ref}: {type(exc).__name__}") from None
    if response.status_code == 400:
        raise ValueError(f"no Microsoft 365 tenant has the domain {ref} in this cloud")
    if response.status_code != 200:
        raise ValueError(f"could not look up the tenant of {ref}: HTTP {response.status_code}")
    return tenant_id_from_openid_configuration(response.json())
