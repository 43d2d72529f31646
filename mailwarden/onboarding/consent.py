"""Admin consent: permission tiers, the OAuth ``state``, and the consent URL per cloud.

A tenant consents to one app registration per tier, as vendors do: the *basic* app reads the
directory and mail and remediates mail; the *advanced* app adds identity writes (revoke
sessions, reset passwords, disable accounts) and rule management. Onboarding at the advanced
tier therefore asks for two consents, basic first.

The URL is Azure AD's v1 ``/{tenant}/adminconsent`` endpoint, which grants every application
permission statically configured on the app (Graph *and* ``Exchange.ManageAsApp``); the v2
form (``/v2.0/adminconsent?scope=...``) grants one resource's ``.default`` only, so it is an
option, not the default. An extra ``mailwarden_tier`` parameter tells the sandbox tenant which
tier to grant; Azure AD ignores unknown parameters.

The ``state`` is ``secrets.token_urlsafe(32)``; only its SHA-256 is ever stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol
from urllib.parse import quote, urlencode, urlsplit

from mailwarden.store.types import hash_secret_ref, utcnow

STATE_BYTES = 32


class Tier(StrEnum):
    """A permission tier; each tier is its own app registration."""

    BASIC = "basic"
    ADVANCED = "advanced"


BASIC_ROLES: frozenset[str] = frozenset(
    {
        "User.Read.All",
        "GroupMember.Read.All",
        "Organization.Read.All",
        "Mail.ReadWrite",
        "MailboxSettings.Read",
        "Mail.Send",
        "Exchange.ManageAsApp",
    }
)
ADVANCED_ROLES: frozenset[str] = BASIC_ROLES | {
    "MailboxSettings.ReadWrite",
    "User.ReadWrite.All",
    "User.RevokeSessions.All",
}
TIER_ROLES: dict[Tier, frozenset[str]] = {Tier.BASIC: BASIC_ROLES, Tier.ADVANCED: ADVANCED_ROLES}
"""Application permissions each tier's app carries (docs/architecture.md)."""


class LoginEndpoints(Protocol):
    """What the URL builder needs of ``mailwarden.graph.CloudEndpoints``."""

    @property
    def login_url(self) -> str: ...

    @property
    def graph_resource(self) -> str: ...


def tiers_to_consent(tier: Tier | str) -> list[Tier]:
    """The app registrations a tier needs consent for, in order (basic first)."""
    tier = Tier(tier)
    return [Tier.BASIC] if tier is Tier.BASIC else [Tier.BASIC, Tier.ADVANCED]


def new_state() -> str:
    """A fresh, unguessable OAuth ``state`` (256 bits)."""
    return secrets.token_urlsafe(STATE_BYTES)


def state_digest(state: str) -> str:
    """The SHA-256 hex of a ``state``: the only form the store keeps."""
    return hash_secret_ref(state)


def admin_consent_url(
    endpoints: LoginEndpoints,
    tenant_ref: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    *,
    tier: Tier | str = Tier.BASIC,
    v2: bool = False,
) -> str:
    """Azure AD's admin-consent URL for ``client_id`` in ``tenant_ref`` (GUID, domain, ``organizations``)."""
    if not tenant_ref or "/" in tenant_ref:
        raise ValueError("tenant_ref must be a tenant GUID, a domain, or 'organizations'")
    if not client_id:
        raise ValueError("client_id is required")
    if not state:
        raise ValueError("state is required")
    scheme = urlsplit(redirect_uri).scheme
    if scheme not in ("http", "https"):
        raise ValueError("redirect_uri must be an http(s) URL")
    params: dict[str, str] = {"client_id": client_id}
    if v2:
        params["scope"] = f"{endpoints.graph_resource.rstrip('/')}/.default"
    params.update({"redirect_uri": redirect_uri, "state": state, "mailwarden_tier": Tier(tier).value})
    path = "v2.0/adminconsent" if v2 else "adminconsent"
    base = endpoints.login_url.rstrip("/")
    return f"{base}/{quote(tenant_ref, safe='')}/{path}?{urlencode(params)}"


@dataclass(frozen=True)
class ConsentLink:
    """One consent round trip to start: the URL to open and the state it carries."""

    tier: Tier
    client_id: str
    url: str = field(repr=False)
    state: str = field(repr=False)
    expires_at: datetime

    @property
    def state_hash(self) -> str:
        return state_digest(self.state)


def new_consent_link(
    endpoints: LoginEndpoints,
    tenant_ref: str,
    client_id: str,
    redirect_uri: str,
    *,
    tier: Tier | str,
    valid_for: timedelta,
    now: datetime | None = None,
    v2: bool = False,
) -> ConsentLink:
    """A consent URL with a fresh state, valid for ``valid_for``."""
    state = new_state()
    url = admin_consent_url(endpoints, tenant_ref, client_id, redirect_uri, state, tier=tier, v2=v2)
    return ConsentLink(
        tier=Tier(tier), client_id=client_id, url=url, state=state, expires_at=(now or utcnow()) + valid_for
    )
