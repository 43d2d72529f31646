"""Licence snapshots and their diffs.

A snapshot is written with ``complete=False`` and flipped to ``complete=True`` only after every
item and diff is in, and readers only see complete snapshots: a sync that fails half-way can
never leave a partial snapshot that looks like the latest count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.store.models import LicenseDiff, LicenseSnapshot, LicenseSnapshotItem
from mailwarden.store.repositories._common import bulk_insert, chunks
from mailwarden.store.types import utcnow

_ITEM_FIELDS = ("object_id", "address", "recipient_type", "counted", "reason")
_DIFF_CHANGES = frozenset({"added", "removed", "changed"})


def save_license_snapshot(
    session: Session,
    tenant_id: str,
    *,
    items: Iterable[Mapping[str, Any]],
    diffs: Iterable[Mapping[str, Any]] = (),
    protected_count: int,
    seats: int | None = None,
    counts: Mapping[str, Any] | None = None,
    flow_run_id: str | None = None,
    taken_at: datetime | None = None,
) -> LicenseSnapshot:
    """Write a snapshot with its items and diffs; it becomes ``complete`` only at the very end.

    ``items``: dicts with ``object_id``, ``address``, ``recipient_type``, ``counted``, ``reason``.
    ``diffs``: dicts with ``change`` (added/removed/changed), ``object_id``, ``details``.
    Iterables are consumed lazily; if one raises, the snapshot stays incomplete (and the
    session's rollback removes it).
    """
    snapshot = LicenseSnapshot(
        tenant_id=tenant_id,
        taken_at=taken_at or utcnow(),
        flow_run_id=flow_run_id,
        protected_count=protected_count,
        seats=seats,
        counts=dict(counts) if counts is not None else None,
        complete=False,
    )
    session.add(snapshot)
    session.flush()
    item_rows = (
        {
            "snapshot_id": snapshot.id,
            **{k: item.get(k) for k in _ITEM_FIELDS},
            "counted": bool(item.get("counted")),
        }
        for item in items
    )
    for chunk in chunks(item_rows):
        bulk_insert(session, LicenseSnapshotItem, chunk)
    for chunk in chunks(_diff_rows(snapshot.id, diffs)):
        bulk_insert(session, LicenseDiff, chunk)
    snapshot.complete = True
    session.flush()
    return snapshot


def _diff_rows(snapshot_id: int, diffs: Iterable[Mapping[str, Any]]) -> Iterable[dict[str, Any]]:
    for diff in diffs:
        if diff.get("change") not in _DIFF_CHANGES:
            raise ValueError(f"diff change must be one of {sorted(_DIFF_CHANGES)}")
        yield {
            "snapshot_id": snapshot_id,
            "change": diff["change"],
            "object_id": diff["object_id"],
            "details": diff.get("details"),
        }


def latest_license_snapshot(session: Session, tenant_id: str) -> LicenseSnapshot | None:
    """The newest complete snapshot of the tenant, or None."""
    stmt = (
        select(LicenseSnapshot)
        .where(LicenseSnapshot.tenant_id == tenant_id, LicenseSnapshot.complete.is_(True))
        .order_by(LicenseSnapshot.taken_at.desc(), LicenseSnapshot.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def list_license_snapshots(session: Session, tenant_id: str, *, limit: int = 50) -> list[LicenseSnapshot]:
    """Complete snapshots, newest first."""
    stmt = (
        select(LicenseSnapshot)
        .where(LicenseSnapshot.tenant_id == tenant_id, LicenseSnapshot.complete.is_(True))
        .order_by(LicenseSnapshot.taken_at.desc(), LicenseSnapshot.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def snapshot_items(session: Session, snapshot_id: int) -> list[LicenseSnapshotItem]:
    """The items of one snapshot, by object id."""
    stmt = select(LicenseSnapshotItem).where(LicenseSnapshotItem.snapshot_id == snapshot_id)
    return list(session.scalars(stmt.order_by(LicenseSnapshotItem.object_id, LicenseSnapshotItem.id)))


def snapshot_diffs(session: Session, snapshot_id: int) -> list[LicenseDiff]:
    """The diffs recorded with one snapshot."""
    stmt = select(LicenseDiff).where(LicenseDiff.snapshot_id == snapshot_id)
    return list(session.scalars(stmt.order_by(LicenseDiff.id)))
