"""Offboarding: forget a tenant's data in a store, keeping the tenant registry row."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from mailwarden.store.models import Base, LicenseDiff, LicenseSnapshot, LicenseSnapshotItem


def purge_tenant_data(session: Session, tenant_id: str) -> dict[str, int]:
    """Delete every row of ``tenant_id`` from the data tables; returns rows deleted per table.

    The ``tenants`` row stays (marked offboarded elsewhere) so the history of who was
    connected, and when, survives a purge; the audit log goes with the data.
    """
    tenant_id = tenant_id.strip().lower()
    if not tenant_id:
        raise ValueError("tenant_id is required")
    counts: dict[str, int] = {}
    snapshot_ids = [
        row[0] for row in session.query(LicenseSnapshot.id).filter(LicenseSnapshot.tenant_id == tenant_id)
    ]
    for child in (LicenseSnapshotItem, LicenseDiff):
        if snapshot_ids:
            result = session.execute(delete(child).where(child.snapshot_id.in_(snapshot_ids)))
            counts[child.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    for table in reversed(Base.metadata.sorted_tables):
        if table.name == "tenants" or "tenant_id" not in table.c:
            continue
        result = session.execute(delete(table).where(table.c.tenant_id == tenant_id))
        counts[table.name] = counts.get(table.name, 0) + int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    return {name: n for name, n in counts.items() if n}
