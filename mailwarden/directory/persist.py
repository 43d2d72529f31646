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
from mailwarden.store.models import DirectoryAddress, DirectoryObject, GroupMembership
from mailwarden.store.repositories import (
    apply_directory_changes,
    count_directory_objects,
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
    if state.touched is not None and count_directory_objects(session, state.tenant_id):
        _save_changes(session, state, book)
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
    return int(snap.id)


_OBJECT_COLS = ["object_id", "kind", "display_name", "upn", "mail", "recipient_type", "account_enabled",
                "user_type", "licensed", "location"]


def _changed_keys(old: pd.DataFrame, new: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Rows of ``old`` or ``new`` (on ``cols``) that are not in the other."""
    a = old[cols].reset_index(drop=True).astype(object)
    a = a.where(a.notna(), None).drop_duplicates()
    b = new[cols].reset_index(drop=True).astype(object)
    b = b.where(b.notna(), None).drop_duplicates()
    both = a.merge(b, how="outer", on=cols, indicator=True)
    return both[both["_merge"] != "both"]


def _plain(result: Iterable[Any]) -> list[tuple[Any, ...]]:
    """Result rows as plain tuples (pandas builds frames from these far faster than from Rows)."""
    return [tuple(r) for r in result]


def _save_changes(session: Session, state: DirectoryState, book: AddressBook) -> None:
    """Write only what differs from the stored directory (``apply_directory_changes``).

    Touched: the objects the delta changed or removed (``state.touched``), plus every object
    whose stored row or addresses differ from ``book``; memberships are written as the exact
    difference. Compared on the plain columns, without loading the stored Graph JSON.
    """
    tid = state.tenant_id
    stored = pd.DataFrame(_plain(session.execute(select(*(getattr(DirectoryObject, c) for c in _OBJECT_COLS)).where(
        DirectoryObject.tenant_id == tid))), columns=_OBJECT_COLS)
    addr_cols = ["address", "object_id", "is_primary"]
    s_addr = pd.DataFrame(_plain(session.execute(select(
        DirectoryAddress.address, DirectoryAddress.object_id, DirectoryAddress.is_primary).where(
        DirectoryAddress.tenant_id == tid))), columns=addr_cols)
    mem_cols = ["group_id", "member_id", "transitive"]
    s_mem = pd.DataFrame(_plain(session.execute(select(
        GroupMembership.group_id, GroupMembership.member_id, GroupMembership.transitive).where(
        GroupMembership.tenant_id == tid))), columns=mem_cols)
    objects = book.objects.reset_index(drop=True)
    objects = objects.assign(location=objects["location"].fillna("cloud"))
    addresses = book.addresses.assign(address=book.addresses["address"].astype(str).str.strip().str.lower(),
                                      is_primary=book.addresses["is_primary"].astype(bool))
    addresses = addresses.groupby(["address", "object_id"], as_index=False).agg(is_primary=("is_primary", "max"))
    memberships = book.memberships.assign(transitive=book.memberships["transitive"].astype(bool))
    touched = set(state.touched or ())
    touched |= set(_changed_keys(stored, objects, _OBJECT_COLS)["object_id"])
    touched |= set(_changed_keys(s_addr.assign(is_primary=s_addr["is_primary"].astype(bool)), addresses,
                                 addr_cols)["object_id"])
    mem_diff = _changed_keys(s_mem.assign(transitive=s_mem["transitive"].astype(bool)), memberships, mem_cols)
    raw = {**state.users, **state.groups}
    live = objects[objects["object_id"].isin(touched)]
    records = live[_OBJECT_COLS].astype(object).where(live[_OBJECT_COLS].notna(), None).to_dict("records")
    for rec in records:
        rec["raw"] = raw.get(rec["object_id"])
    deletes = touched - set(objects["object_id"])
    addr_rows = addresses[addresses["object_id"].isin(touched)].to_dict("records")
    added = mem_diff[mem_diff["_merge"] == "right_only"][mem_cols].to_dict("records")
    removed = mem_diff[mem_diff["_merge"] == "left_only"][mem_cols].to_dict("records")
    apply_directory_changes(session, tid, cast(list[dict[str, Any]], records), deletes,
                            cast(list[dict[str, Any]], addr_rows), cast(list[dict[str, Any]], added),
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
