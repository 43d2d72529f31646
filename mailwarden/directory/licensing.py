"""Licensing: which mailboxes count as protected, against the seats bought, and what changed.

* :class:`LicensePolicy` says which ``RecipientTypeDetails`` count and whether disabled,
  guest and unlicensed accounts do (by default: enabled, licensed member ``UserMailbox`` only).
* :func:`license_list` gives every user and mailbox with ``counted`` and the ``reason``.
* :func:`mailbox_seats` sums the enabled prepaid units of mailbox-bearing subscribed SKUs.
* :func:`diff_books` compares two address books: objects added, removed and changed (aliases
  added or removed, licences, enabled state, recipient type, counted or not, group members).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from mailwarden.directory._gc import no_gc
from mailwarden.directory.address_book import AddressBook

LICENCE_COLUMNS = ("object_id", "address", "display_name", "recipient_type", "account_enabled",
                   "user_type", "licensed", "licenses", "counted", "reason")
NO_MAILBOX_PLANS = frozenset({"EXCHANGE_S_FOUNDATION", "EXCHANGE_S_FOUNDATION_GOV"})


class LicensePolicy(BaseModel):
    """Which mailboxes count as protected (and so need a seat)."""

    recipient_types: list[str] = Field(
        default_factory=lambda: ["UserMailbox"],
        title="Recipient types that count",
        description="Exchange RecipientTypeDetails values that need a seat (UserMailbox, SharedMailbox ...).",
    )
    count_disabled: bool = Field(default=False, title="Count disabled accounts",
                                 description="Count mailboxes whose account is disabled.")
    count_guests: bool = Field(default=False, title="Count guests", description="Count guest (B2B) users.")
    count_unlicensed: bool = Field(default=False, title="Count unlicensed",
                                   description="Count mailboxes whose user holds no licence.")


def license_list(book: AddressBook, policy: LicensePolicy | None = None, *,
                 ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Every user and mailbox of the book (or those of ``ids``), with ``counted`` (bool) and ``reason``."""
    policy = policy or LicensePolicy()
    o = book.objects if ids is None else book.objects[book.objects.index.isin(set(ids))]
    o = o[o["kind"].eq("user") | o["has_mailbox"].fillna(False).astype(bool)].reset_index(drop=True)
    rtype = o["recipient_type"].fillna("")
    type_ok = rtype.isin(policy.recipient_types)
    disabled = o["account_enabled"].eq(False)
    guest = o["user_type"].eq("Guest")
    unlicensed = ~o["licensed"].astype(bool)
    conds = [~type_ok, disabled & (not policy.count_disabled), guest & (not policy.count_guests),
             unlicensed & (not policy.count_unlicensed)]
    reason_type = np.where(rtype.eq(""), "no mailbox", "recipient type " + rtype + " not counted")
    reason = np.select(conds, [reason_type, "disabled", "guest", "unlicensed"], default="counted")
    out = pd.DataFrame({
        "object_id": o["object_id"],
        "address": o["primary_address"],
        "display_name": o["display_name"],
        "recipient_type": o["recipient_type"],
        "account_enabled": o["account_enabled"],
        "user_type": o["user_type"],
        "licensed": o["licensed"].astype(bool),
        "licenses": o["licenses"].fillna(""),
        "counted": reason == "counted",
        "reason": reason,
    })
    # sorted by id; numpy's fixed-width sort is ten times faster than comparing Python strings
    order = np.argsort(out["object_id"].to_numpy(dtype=str), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def license_counts(licences: pd.DataFrame) -> dict[str, Any]:
    """Totals of a licence list: protected, mailboxes by type, and why the rest is not counted."""
    counted = licences["counted"].astype(bool)
    by_type = licences["recipient_type"].fillna("(none)").value_counts().sort_index()
    not_counted = licences.loc[~counted, "reason"].value_counts().sort_index()
    return {
        "protected": int(counted.sum()),
        "users_and_mailboxes": len(licences),
        "by_recipient_type": {str(k): int(v) for k, v in by_type.items()},
        "not_counted": {str(k): int(v) for k, v in not_counted.items()},
    }


def mailbox_seats(skus: Iterable[Mapping[str, Any]]) -> int | None:
    """Sum of ``prepaidUnits.enabled`` over user SKUs that include an Exchange mailbox plan."""
    total, found = 0, False
    for sku in skus:
        if str(sku.get("appliesTo", "User")) != "User":
            continue
        plans = {str(p.get("servicePlanName", "")).upper() for p in sku.get("servicePlans") or []}
        part = str(sku.get("skuPartNumber", "")).upper()
        has_mailbox = any(p.startswith("EXCHANGE_S_") and p not in NO_MAILBOX_PLANS for p in plans) or (
            not plans and "EXCHANGE" in part)
        if has_mailbox:
            found = True
            total += int((sku.get("prepaidUnits") or {}).get("enabled") or 0)
    return total if found else None


def _pairs_diff(old: pd.DataFrame, new: pd.DataFrame, key: str, value: str,
                keep: set[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    m = old[[key, value]].merge(new[[key, value]], how="outer", indicator=True)
    m = m[m[key].isin(keep) & m["_merge"].ne("both")]
    added = m[m["_merge"].eq("right_only")].groupby(key)[value].agg(sorted).to_dict()
    removed = m[m["_merge"].eq("left_only")].groupby(key)[value].agg(sorted).to_dict()
    return cast(dict[str, list[str]], added), cast(dict[str, list[str]], removed)


def _val(v: Any) -> Any:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def diff_books(old: AddressBook, new: AddressBook, old_licences: pd.DataFrame | None = None,
               new_licences: pd.DataFrame | None = None, *,
               only: Iterable[str] | None = None,
               membership_changes: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> list[dict[str, Any]]:
    """Objects added, removed and changed between two books (store ``LicenseDiff`` rows).

    ``only``: compare just these object ids (a superset of what can differ, such as
    ``new.changes.objects | new.changes.groups`` after :meth:`AddressBook.updated`);
    ``membership_changes``: (rows removed, rows added) when known, instead of comparing the
    books' whole membership tables.
    """
    cols = ["object_id", "kind", "display_name", "primary_address", "licenses", "account_enabled",
            "recipient_type"]
    frames = [(old.objects, old.addresses, old.memberships, old_licences),
              (new.objects, new.addresses, new.memberships, new_licences)]
    if only is not None:
        ids = set(only)
        frames = [(o[o.index.isin(ids)], a[a["object_id"].isin(ids)],
                   m if membership_changes is not None else m[m["group_id"].isin(ids)],
                   lic[lic["object_id"].isin(ids)] if lic is not None else None) for o, a, m, lic in frames]
    (old_o, old_a, old_m, old_l), (new_o, new_a, new_m, new_l) = frames
    if membership_changes is not None:
        old_m, new_m = membership_changes
    a = old_o[cols].reset_index(drop=True)
    b = new_o[cols].reset_index(drop=True)
    for frame, lic in ((a, old_l), (b, new_l)):
        counted = lic.set_index("object_id")["counted"] if lic is not None else pd.Series(dtype=bool)
        frame["counted"] = frame["object_id"].map(counted).fillna(False).astype(bool)
    m = a.merge(b, on="object_id", how="outer", suffixes=("_old", "_new"), indicator="presence")
    both = m[m["presence"].eq("both")]
    keep = set(both["object_id"])
    al_add, al_rm = _pairs_diff(old_a, new_a, "object_id", "address", keep)
    direct_old = old_m[~old_m["transitive"].astype(bool)]
    direct_new = new_m[~new_m["transitive"].astype(bool)]
    mem_add, mem_rm = _pairs_diff(direct_old, direct_new, "group_id", "member_id", keep)

    fields = {"licenses": "licenses", "account_enabled": "enabled", "recipient_type": "recipient_type",
              "counted": "counted"}
    changed_mask = pd.Series(False, index=both.index)
    for f in fields:
        changed_mask |= both[f + "_old"].fillna("").astype(str) != both[f + "_new"].fillna("").astype(str)
    changed_ids = set(both.loc[changed_mask, "object_id"]) | set(al_add) | set(al_rm) | set(mem_add) \
        | set(mem_rm)

    out: list[dict[str, Any]] = []
    for r in m[m["presence"].ne("both")].sort_values("object_id").to_dict("records"):
        side = "new" if r["presence"] == "right_only" else "old"
        out.append({"change": "added" if side == "new" else "removed", "object_id": r["object_id"],
                    "details": {"kind": r[f"kind_{side}"], "display_name": _val(r[f"display_name_{side}"]),
                                "address": _val(r[f"primary_address_{side}"]),
                                "counted": bool(r[f"counted_{side}"])}})
    for r in both[both["object_id"].isin(changed_ids)].sort_values("object_id").to_dict("records"):
        oid = r["object_id"]
        details: dict[str, Any] = {"kind": r["kind_new"], "display_name": _val(r["display_name_new"]),
                                   "address": _val(r["primary_address_new"]), "changes": []}
        for f, label in fields.items():
            before, after = _val(r[f + "_old"]), _val(r[f + "_new"])
            if str(before if before is not None else "") != str(after if after is not None else ""):
                details["changes"].append(label)
                details[f"{label}_before"], details[f"{label}_after"] = before, after
        for label, src in (("aliases_added", al_add), ("aliases_removed", al_rm),
                           ("members_added", mem_add), ("members_removed", mem_rm)):
            if oid in src:
                details[label] = src[oid]
                details["changes"].append(label.split("_")[0])
        details["changes"] = sorted(set(details["changes"]))
        out.append({"change": "changed", "object_id": oid, "details": details})
    return out


@no_gc()
def reconcile(old: AddressBook | None, new: AddressBook,
              policy: LicensePolicy | None = None) -> tuple[pd.DataFrame, dict[str, Any], list[dict[str, Any]]]:
    """The licence list and counts of ``new``, and its diff with ``old`` (none without ``old``).

    When ``new`` came from ``old.updated(...)``, only the objects its ``changes`` name are compared.
    """
    policy = policy or LicensePolicy()
    licences = license_list(new, policy)
    counts = license_counts(licences)
    if old is None:
        return licences, counts, []
    if new.changes is None:
        return licences, counts, diff_books(old, new, license_list(old, policy), licences)
    c = new.changes
    only = c.objects | c.groups
    return licences, counts, diff_books(old, new, license_list(old, policy, ids=only), licences, only=only,
                                        membership_changes=(c.memberships_removed, c.memberships_added))


def diff_summary(diffs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many objects were added, removed and changed (mailbox and group changes apart)."""
    out = {"added": 0, "removed": 0, "changed": 0, "groups_changed": 0}
    for d in diffs:
        kind = (d.get("details") or {}).get("kind")
        if d["change"] == "changed" and kind == "group":
            out["groups_changed"] += 1
        else:
            out[d["change"]] += 1
    return out
