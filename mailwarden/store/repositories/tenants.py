"""Tenants: the registry of connected customer tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailwarden.store.engine import redact_url
from mailwarden.store.errors import RecordNotFound
from mailwarden.store.models import Tenant
from mailwarden.store.repositories._common import check_fields, insert_ignore
from mailwarden.store.types import utcnow

_TENANT_FIELDS = {
    "cloud",
    "tier",
    "consent_state",
    "consented_at",
    "store_url",
    "block_name",
    "offboarded_at",
}


def upsert_tenant(session: Session, tenant_id: str, primary_domain: str, **fields: Any) -> Tenant:
    """Create or update a tenant (id lower-cased). A ``store_url`` is kept without its password."""
    check_fields(fields, _TENANT_FIELDS, "tenant")
    tenant_id = tenant_id.strip().lower()
    if not tenant_id:
        raise ValueError("tenant_id is required")
    if fields.get("store_url"):
        fields["store_url"] = redact_url(fields["store_url"])
    insert_ignore(
        session,
        Tenant,
        [{"id": tenant_id, "primary_domain": primary_domain.lower(), "created_at": utcnow()}],
        ["id"],
    )
    tenant = session.get(Tenant, tenant_id, populate_existing=True)
    assert tenant is not None
    tenant.primary_domain = primary_domain.lower()
    for name, value in fields.items():
        setattr(tenant, name, value)
    session.flush()
    return tenant


def get_tenant(session: Session, ref: str) -> Tenant | None:
    """A tenant by id or by primary domain (case-insensitive)."""
    ref = ref.strip().lower()
    return session.scalars(
        select(Tenant).where(or_(Tenant.id == ref, func.lower(Tenant.primary_domain) == ref))
    ).first()


def list_tenants(session: Session, *, include_offboarded: bool = False) -> list[Tenant]:
    """Every tenant, by primary domain; offboarded ones only when asked."""
    stmt = select(Tenant).order_by(Tenant.primary_domain)
    if not include_offboarded:
        stmt = stmt.where(Tenant.offboarded_at.is_(None))
    return list(session.scalars(stmt))


def set_consent_state(session: Session, tenant_id: str, state: str, *, at: datetime | None = None) -> Tenant:
    """Record the tenant's consent state; ``consented``/``ready`` also stamp ``consented_at``."""
    tenant = _require(session, tenant_id)
    tenant.consent_state = state
    if state in ("consented", "ready") and tenant.consented_at is None:
        tenant.consented_at = at or utcnow()
    session.flush()
    return tenant


def offboard_tenant(session: Session, tenant_id: str, *, at: datetime | None = None) -> Tenant:
    """Mark a tenant offboarded (its data stays until purged)."""
    tenant = _require(session, tenant_id)
    tenant.offboarded_at = at or utcnow()
    tenant.consent_state = "offboarded"
    session.flush()
    return tenant


def _require(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id.strip().lower())
    if tenant is None:
        raise RecordNotFound(f"no tenant {tenant_id!r}")
    return tenant
