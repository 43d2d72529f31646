"""Directory snapshots in the store: load the last complete one, save a new one atomically.

The directory tables (objects with their Graph JSON, addresses, memberships), the delta links
and the licence snapshot with its diff are written in the caller's session, i.e. one
transaction: either the whole new picture is committed (and the snapshot flips to complete as
the very last row written), or nothing is, and the previous snapshot stays the latest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.directory._gc import no_gc
from mailwarden.directory.address_book import AddressBook, BookChanges
from mailwarden.directory.cache import read_cache
from mailwarden.directory.state import DirectoryState
from mailwarden.store.models import DirectoryObject, GroupMembership, LicenseSnapshot
from mailwarden.store.repositories import (
    apply_directory_changes,
    get_delta_token,
    latest_license_snapshot,
    save_license_snapshot,
    set_delta_token,
)

USERS_RESOURCE = "directory:users"
GROUPS_RESOURCE = "directory:groups"


def snapshot_key(snap: LicenseSnapshot) -> tuple[int, str]:
    """(id, taken_at in ISO form): names one stored snapshot (ids alone may be reused by SQLite)."""
    taken: datetime = snap.taken_at
    taken = taken.replace(tzinfo=UTC) if taken.tzinfo is None else taken.astimezone(UTC)
    return int(snap.id), taken.isoformat()


def load_snapshot(session: Session, tenant_id: str,
                  cache_dir: Path | None = None) -> tuple[DirectoryState, AddressBook] | None:
    """The latest complete snapshot's directory and address book, or None when there is none.

    From the cache under ``cache_dir`` when it holds exactly that snapshot (see
    :mod:`mailwarden.directory.cache`), else from the store (and the book rebuilt).
    """
    snap = latest_license_snapshot(session, tenant_id)
    if snap is None:
        return None
    if cache_dir is not None:
        cached = read_cache(cache_dir, tenant_id, snapshot_key(snap))
        if cached is not None:
            return cached
    state = load_state(session, tenant_id)
    if state is None:  # pragma: no cover - the snapshot was there a moment ago, same transaction
        return None
    return state, AddressBook.from_state(state)


def load_state(session: Session, tenant_id: str) -> DirectoryState | None:
    """The directory as of the latest complete snapshot, or None when there is none."""
    snap = latest_license_snapshot(session, tenant_id)
    if snap is None:
        return None
    with no_gc():
        state = _read_state(session, tenant_id, snap)
    state.snapshot = snapshot_key(snap)
    return state


def _read_state(session: Session, tenant_id: str, snap: LicenseSnapshot) -> DirectoryState:
    counts = snap.counts or {}
    users: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    rtypes: dict[str, str] = {}
    rows = session.execute(
        select(DirectoryObject.object_id, DirectoryObject.kind, DirectoryObject.recipient_type,
               DirectoryObject.raw).where(DirectoryObject.tenant_id == tenant_id))
    for oid, kind, rtype, raw in rows:
        obj = dict(raw or {})
        obj["id"] = oid
        (users if kind == "user" else groups)[oid] = obj
        if rtype:
            rtypes[oid] = rtype
    members: dict[str, set[str]] = {}
    pairs = session.execute(
        select(GroupMembership.group_id, GroupMembership.member_id).where(
            GroupMembership.tenant_id == tenant_id, GroupMembership.transitive.is_(False)))
    for gid, mid in pairs:
        members.setdefault(gid, set()).add(mid)
    return DirectoryState(tenant_id, users=users, groups=groups, members=members, recipient_types=rtypes,
                          domains=counts.get("verified_domains") or (), skus=counts.get("skus") or ())


def previous_seats(session: Session, tenant_id: str) -> int | None:
    """Seats recorded with the latest complete snapshot, if any."""
    snap = latest_license_snapshot(session, tenant_id)
    return snap.seats if snap is not None else None


def delta_links(session: Session, tenant_id: str) -> dict[str, str | None]:
    """Stored delta links: ``{"users": ..., "groups": ...}`` (None where missing)."""
    return {"users": get_delta_token(session, tenant_id, USERS_RESOURCE),
            "groups": get_delta_token(session, tenant_id, GROUPS_RESOURCE)}


def _items(licences: pd.DataFrame) -> Iterable[dict[str, Any]]:
    cols = ["object_id", "address", "recipient_type", "counted", "reason"]
    frame = licences[cols].astype(object)
    columns = [frame[c].where(frame[c].notna(), None).tolist() for c in cols]
    return [dict(zip(cols, row, strict=True)) for row in zip(*columns, strict=True)]


@no_gc()
def save_snapshot(
    session: Session,
    state: DirectoryState,
    book: AddressBook,
    licences: pd.DataFrame,
    diffs: Iterable[Mapping[str, Any]],
    *,
    counts: Mapping[str, Any],
    seats: int | None,
    links: Mapping[str, str | None],
    flow_run_id: str | None = None,
) -> int:
    """Write directory tables, delta links and the licence snapshot in ``session``; the snapshot id.

    The caller owns the transaction (``with store.session() as s``): nothing is visible until
    it commits, and a failure rolls every table back together. A book from
    :meth:`AddressBook.updated` whose starting point is the latest stored snapshot writes only
    its changed rows; any other book replaces the tables. Sets ``state.snapshot`` to the new
    snapshot's key (for :func:`~mailwarden.directory.cache.write_cache` after the commit).
    """
    changes = book.changes
    latest = latest_license_snapshot(session, state.tenant_id)
    if changes is not None and latest is not None and changes.base == snapshot_key(latest):
        _save_changes(session, state, book, changes)
    else:
        book.save(session, raw={**state.users, **state.groups})
    for resource, key in ((USERS_RESOURCE, "users"), (GROUPS_RESOURCE, "groups")):
        link = links.get(key)
        if link:
            set_delta_token(session, state.tenant_id, resource, link)
    full_counts = {**counts, "verified_domains": list(state.domains), "skus": _sku_summary(state.skus)}
    snap = save_license_snapshot(
        session, state.tenant_id, items=_items(licences), diffs=diffs,
        protected_count=int(counts.get("protected", 0)), seats=seats, counts=full_counts,
        flow_run_id=flow_run_id)
    session.flush()
    state.snapshot = snapshot_key(snap)
    return int(snap.id)


def _save_changes(session: Session, state: DirectoryState, book: AddressBook, changes: BookChanges) -> None:
    """Write only the rows ``changes`` names (``apply_directory_changes``): changed objects with
    their addresses, removed objects, and the membership rows added and removed."""
    live = changes.objects - changes.removed
    raw = {**{i: state.users[i] for i in live if i in state.users},
           **{i: state.groups[i] for i in live if i in state.groups}}
    records = book.object_records(live, raw=raw)
    addresses = book.addresses[book.addresses["object_id"].isin(live)].to_dict("records")
    added = changes.memberships_added.to_dict("records")
    removed = changes.memberships_removed.to_dict("records")
    apply_directory_changes(session, state.tenant_id, records, changes.removed,
                            cast(list[dict[str, Any]], addresses), cast(list[dict[str, Any]], added),
                            cast(list[dict[str, Any]], removed))


def _sku_summary(skus: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keys = ("skuId", "skuPartNumber", "appliesTo", "capabilityStatus", "consumedUnits", "prepaidUnits",
            "servicePlans")
    out = []
    for s in skus:
        row = {k: s.get(k) for k in keys if k in s}
        if "servicePlans" in row:
            plans = row["servicePlans"] or []
            row["servicePlans"] = [{"servicePlanName": p.get("servicePlanName")} for p in plans]
        out.append(row)
    return out
