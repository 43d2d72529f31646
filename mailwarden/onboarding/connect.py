"""Connecting a tenant: the request's parameters and their checks, the consents to ask for, what a
consent answer means, and what the operator is told.

The parameter models are the ``onboard-tenant`` form (unknown fields refused); their names, fields
and titles are what the Prefect UI shows, so they change only with the flow's signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url

from mailwarden.onboarding.consent import Tier, tiers_to_consent
from mailwarden.onboarding.tenant import is_guid, normalize_tenant_ref

CloudName = Literal["global", "usgov-gcchigh", "usgov-dod", "china"]
TierName = Literal["basic", "advanced"]


class ReadinessOptions(BaseModel):
    """How long and how often to check that consent has propagated."""

    model_config = ConfigDict(extra="forbid")

    limit_seconds: float = Field(default=300, gt=0, title="Limit (s)", description="Give up after this long.")
    initial_delay: float = Field(default=2, gt=0, title="First wait (s)", description="Backoff starts here.")
    max_delay: float = Field(default=30, gt=0, title="Longest wait (s)", description="Backoff cap.")


class AppSources(BaseModel):
    """Where onboarding finds the app registrations (hosts are server configuration, not parameters).

    Unknown fields are refused, so a leftover or forged ``connection`` gives a clear validation error
    instead of being dropped silently.
    """

    model_config = ConfigDict(extra="forbid")

    basic_app_block: str = Field(
        default="mailwarden-basic",
        title="Basic app block",
        description="Saved M365App block of the basic app.",
    )
    advanced_app_block: str = Field(
        default="mailwarden-advanced",
        title="Advanced app block",
        description="Saved M365App block of the advanced app.",
    )
    redirect_uri: str | None = Field(
        default=None, title="Redirect URI", description="Callback URL; default: the app block's redirect URI."
    )
    first_sync_deployment: str | None = Field(
        default="reconcile-licenses/reconcile-licenses",
        title="First sync deployment",
        description="Deployment started once the tenant is connected (empty: none).",
    )
    consent_poll_seconds: int = Field(
        default=10,
        ge=1,
        title="Consent poll (s)",
        description="How often the paused run checks for the callback.",
    )


class ConsentRefused(Exception):
    """The admin refused consent (the message carries Azure AD's reason)."""


class ConsentTimeout(Exception):
    """No consent came back in time."""

    @classmethod
    def after(cls, tenant: str, tier: Tier, timeout_minutes: float) -> ConsentTimeout:
        """The failure that tells the operator how to try again."""
        return cls(
            f"no consent for the {tier.value} app within {timeout_minutes:g} minutes; open the consent URL "
            f"again by re-running onboard-tenant for {tenant} (each run issues a fresh link)"
        )


_PASSWORD_KEYS = ("password", "passwd", "pwd")


def check_store_url(store_url: str | None) -> str | None:
    """``store_url`` if it carries no password (in the user info or the query string); never echoed."""
    if not store_url:
        return None
    try:
        url = make_url(store_url)
    except Exception:  # noqa: BLE001 - sqlalchemy raises ArgumentError and ValueError
        raise ValueError("store_url is not a database URL") from None
    in_query = any(key.lower().endswith(_PASSWORD_KEYS) for key in url.query)
    if url.password or in_query:
        raise ValueError(
            f"store_url must not carry a password in a flow parameter ({'query string' if in_query else 'user info'}):"
            " name a Secret block in store_url_secret"
        )
    return store_url


def check_request(
    tenant: str,
    *,
    consent_timeout_minutes: float,
    readiness: ReadinessOptions,
    admin_email: str | None,
    store_url: str | None,
) -> str:
    """The tenant reference, normalized, once every parameter is usable; ValueError naming the first
    that is not. Nothing here does I/O: a bad request fails before any consent is asked for."""
    ref = normalize_tenant_ref(tenant)
    if not consent_timeout_minutes > 0:
        raise ValueError("consent_timeout_minutes must be positive")
    if readiness.max_delay < readiness.initial_delay:
        raise ValueError("readiness.max_delay must be at least readiness.initial_delay")
    if admin_email is not None and "@" not in admin_email:
        raise ValueError("admin_email must be a mail address")
    check_store_url(store_url)
    return ref


class ConnectedTenant(Protocol):
    """What consent planning needs of a connected tenant's saved block."""

    @property
    def tenant_id(self) -> str: ...

    @property
    def advanced_app(self) -> object | None: ...


def plan_consents(tier: str, existing: ConnectedTenant | None, update: bool) -> list[Tier]:
    """The apps to ask consent for: all the tier needs, minus those a connected tenant has."""
    wanted = tiers_to_consent(tier)
    if existing is None or update:
        return wanted
    have = {Tier.BASIC} | ({Tier.ADVANCED} if existing.advanced_app is not None else set())
    return [t for t in wanted if t not in have]


def expected_tenant_id(ref: str, existing: ConnectedTenant | None) -> str | None:
    """The tenant id a consent must come back from, when known without a lookup: the connected
    tenant's, or the one asked for by id."""
    if existing is not None:
        return existing.tenant_id
    return ref if is_guid(ref) else None


def granted_tenant(
    tenant: str,
    tier: Tier,
    *,
    granted: bool,
    tenant_id: str | None,
    error: str | None = None,
    error_description: str | None = None,
    expected: str | None = None,
) -> str:
    """The id of the tenant that granted ``tier``; :class:`ConsentRefused` for a refusal, an answer
    that names no tenant, or one from another tenant than ``expected``."""
    if not granted:
        raise ConsentRefused(
            f"the admin of {tenant} did not grant the {tier.value} permissions: "
            f"{error or 'error'}: {error_description or 'no reason given'}"
        )
    if not tenant_id or not is_guid(tenant_id):
        raise ConsentRefused("the consent callback did not name the tenant")
    if expected is not None and tenant_id != expected.lower():
        raise ConsentRefused(f"consent came back from tenant {tenant_id}, not {expected}")
    return tenant_id


def organization_of(domains: Sequence[str]) -> dict[str, Any]:
    """A Graph ``organization`` holding only its verified domains (what the same-tenant check reads)."""
    return {"verifiedDomains": [{"name": d} for d in domains]}


def final_tier(advanced_app: object | None) -> TierName:
    """The tier a tenant ends up at: advanced when it has the advanced app."""
    return "advanced" if advanced_app is not None else "basic"


def connected_notice(
    domain: str,
    tenant_id: str,
    cloud: str,
    tier: str,
    readiness_rows: Sequence[Mapping[str, Any]],
    *,
    updated: bool,
) -> tuple[str, str]:
    """Subject and body of the notice that a tenant is connected (or its connection updated)."""
    lines = [f"- {r['capability']}: {r['status']} ({r['detail']})" for r in readiness_rows]
    subject = f"mailwarden: {domain} {'updated' if updated else 'connected'}"
    body = f"Tenant {domain} ({tenant_id}) is connected in the {cloud} cloud at the {tier} tier.\n" + "\n".join(lines)
    return subject, body


def offboarded_notice(domain: str, tenant_id: str, *, purged: bool) -> tuple[str, str]:
    """Subject and body of the notice that a tenant was disconnected."""
    kept = "purged" if purged else "kept"
    return (
        f"mailwarden: {domain} disconnected",
        f"Tenant {domain} ({tenant_id}) was offboarded; its stored data was {kept}. "
        "Remove the mailwarden apps from the tenant's Enterprise applications to revoke consent.",
    )
