"""Directory snapshots in the store: load the last complete one, save a new one atomically.

The directory tables (objects with their Graph JSON, addresses, memberships), the delta links
and the licence snapshot with its diff are written in the caller's session, i.e. one
transaction: either the whole new picture is committed (and the snapshot flips to complete as
the very last row written), or nothing is, and the previous snapshot stays the latest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailwarden.directory.address_book import AddressBook
from mailwarden.directory.state import DirectoryState
from mailwarden.store.models import DirectoryObject, GroupMembership
from mailwarden.store.repositories import (
    get_delta_token,
    latest_license_snapshot,
    save_license_snapshot,
    set_delta_token,
)

USERS_RESOURCE = "directory:users"
GROUPS_RESOURCE = "directory:groups"


def load_state(session: Session, tenant_id: str) -> DirectoryState | None:
    """The directory as of the latest complete snapshot, or None when there is none."""
    snap = latest_license_snapshot(session, tenant_id)
    if snap is None:
        return None
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
    return cast(list[dict[str, Any]], frame.where(frame.notna(), None).to_dict("records"))


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
    it commits, and a failure rolls every table back together.
    """
    raw = {**state.users, **state.groups}
    book.save(session, raw=raw)
    for resource, key in ((USERS_RESOURCE, "users"), (GROUPS_RESOURCE, "groups")):
        link = links.get(key)
        if link:
            set_delta_token(session, state.tenant_id, resource, link)
    full_counts = {**counts, "verified_domains": list(state.domains), "skus": _sku_summary(state.skus)}
    snap = save_license_snapshot(
        session, state.tenant_id, items=_items(licences), diffs=diffs,
        protected_count=int(counts.get("protected", 0)), seats=seats, counts=full_counts,
        flow_run_id=flow_run_id)
    return int(snap.id)


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
