"""Purging a tenant's data touches that tenant only and keeps its registry row."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from mailwarden.onboarding import purge_tenant_data
from mailwarden.store import Store
from mailwarden.store.models import DirectoryObject, LicenseSnapshot, LicenseSnapshotItem, Tenant

A = "aaaaaaaa-1111-4222-8333-944455556666"
B = "bbbbbbbb-1111-4222-8333-944455556666"


def test_purge_removes_one_tenants_rows_and_keeps_the_registry(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    store.migrate()
    with store.session() as s:
        for tid in (A, B):
            s.add(Tenant(id=tid, primary_domain=f"{tid[:4]}.com"))
            s.add(DirectoryObject(tenant_id=tid, object_id="u1", kind="user"))
            snap = LicenseSnapshot(tenant_id=tid, protected_count=1, complete=True)
            s.add(snap)
            s.flush()
            s.add(LicenseSnapshotItem(snapshot_id=snap.id, object_id="u1", counted=True))
    with store.session() as s:
        counts = purge_tenant_data(s, A.upper())
    assert counts == {"directory_objects": 1, "license_snapshots": 1, "license_snapshot_items": 1}
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Tenant)) == 2
        assert s.scalars(select(DirectoryObject.tenant_id)).all() == [B]
        assert s.scalar(select(func.count()).select_from(LicenseSnapshotItem)) == 1
