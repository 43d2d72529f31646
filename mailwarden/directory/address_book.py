"""The tenant's address book: every address resolved to its mailbox, every group to its members.

Built with vectorised pandas from a :class:`~mailwarden.directory.state.DirectoryState` (after
a sync) or from the store's directory tables (:meth:`AddressBook.load`). Three frames:

* ``objects``: one row per user/group (``object_id``, ``kind``, ``display_name``, ``upn``,
  ``mail``, ``primary_address``, ``recipient_type``, ``account_enabled``, ``user_type``,
  ``licensed``, ``licenses``, ``job_title``, ``location``, ``has_mailbox``);
* ``addresses``: ``address`` (lower-cased), ``object_id``, ``is_primary`` -- from
  ``proxyAddresses`` ``SMTP:``/``smtp:`` entries, ``mail`` and the UPN;
* ``memberships``: ``group_id``, ``member_id``, ``transitive`` (False = direct member, True =
  reached only through nested groups).

``conflicts`` lists addresses claimed by more than one object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from mailwarden.directory.state import DirectoryState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

MAILBOX_TYPES = frozenset({
    "UserMailbox", "SharedMailbox", "RoomMailbox", "EquipmentMailbox", "SchedulingMailbox",
    "LinkedMailbox", "TeamMailbox", "RemoteUserMailbox", "RemoteSharedMailbox", "RemoteRoomMailbox",
    "RemoteEquipmentMailbox",
})  # fmt: skip
"""RecipientTypeDetails values that are mailboxes (``Remote*`` = on-premises, hybrid)."""
EXECUTIVE_TITLE = re.compile(
    r"\b(?:chief|ceo|cfo|coo|cto|cio|ciso|cso|president|director|general counsel|founder|"
    r"vice[- ]president|vp|head of|treasurer|managing partner|chair(?:man|woman|person)?)\b",
    re.IGNORECASE,
)
OBJECT_COLUMNS = (
    "object_id", "kind", "display_name", "upn", "mail", "primary_address", "recipient_type",
    "account_enabled", "user_type", "licensed", "licenses", "job_title", "location", "has_mailbox",
)  # fmt: skip


def normalize_address(address: str) -> str:
    """``<Ann@X.com>``, ``mailto:ann@x.com``, ``SMTP:ann@x.com`` -> ``ann@x.com``."""
    a = str(address).strip().strip("<>").strip()
    low = a.lower()
    for prefix in ("mailto:", "smtp:"):
        if low.startswith(prefix):
            a = a[len(prefix):]
            break
    return a.strip().lower()


def _str_col(values: Iterable[Any], n: int) -> pd.Series:
    return pd.Series(list(values), dtype=object) if n else pd.Series([], dtype=object)


def objects_frame(state: DirectoryState) -> pd.DataFrame:
    """The ``objects`` frame of a directory state (one row per user and group)."""
    users = list(state.users.values())
    groups = list(state.groups.values())
    u = pd.DataFrame.from_records(users) if users else pd.DataFrame()
    g = pd.DataFrame.from_records(groups) if groups else pd.DataFrame()

    def col(df: pd.DataFrame, name: str) -> pd.Series:
        return df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)

    licences = [
        ";".join(sorted(str(x.get("skuId")) for x in (row or []) if isinstance(x, Mapping)))
        for row in col(u, "assignedLicenses")
    ]
    uf = pd.DataFrame({
        "object_id": col(u, "id").astype(str) if len(u) else pd.Series([], dtype=object),
        "kind": "user",
        "display_name": col(u, "displayName"),
        "upn": col(u, "userPrincipalName"),
        "mail": col(u, "mail"),
        "account_enabled": col(u, "accountEnabled"),
        "user_type": col(u, "userType"),
        "licenses": _str_col(licences, len(u)),
        "job_title": col(u, "jobTitle"),
        "location": np.where(col(u, "onPremisesSyncEnabled").eq(True), "onprem", "cloud") if len(u) else [],
        "_proxy": col(u, "proxyAddresses"),
    })
    gf = pd.DataFrame({
        "object_id": col(g, "id").astype(str) if len(g) else pd.Series([], dtype=object),
        "kind": "group",
        "display_name": col(g, "displayName"),
        "upn": None,
        "mail": col(g, "mail"),
        "account_enabled": None,
        "user_type": None,
        "licenses": "",
        "job_title": None,
        "location": "cloud",
        "_proxy": col(g, "proxyAddresses"),
    })
    frames = [f for f in (uf, gf) if len(f)]
    objs = pd.concat(frames, ignore_index=True) if frames else uf.iloc[0:0]
    rtypes = pd.Series(state.recipient_types, dtype=object)
    objs["recipient_type"] = objs["object_id"].map(rtypes) if len(rtypes) else None
    return objs


def addresses_frame(objs: pd.DataFrame) -> pd.DataFrame:
    """Addresses from ``_proxy`` (proxyAddresses), ``mail`` and ``upn`` of an objects frame."""
    proxy = objs[["object_id", "_proxy"]].explode("_proxy").dropna(subset=["_proxy"])
    text = proxy["_proxy"].astype(str)
    smtp = text.str.match(r"(?i)^smtp:")
    proxy = pd.DataFrame({
        "address": text[smtp].str.slice(5).str.strip().str.lower(),
        "object_id": proxy["object_id"][smtp],
        "is_primary": text[smtp].str.startswith("SMTP:"),
    })
    mail = objs[["object_id", "mail"]].dropna(subset=["mail"]).rename(columns={"mail": "address"})
    upn = objs[["object_id", "upn"]].dropna(subset=["upn"]).rename(columns={"upn": "address"})
    extra = pd.concat([mail, upn], ignore_index=True)
    extra["address"] = extra["address"].astype(str).str.strip().str.lower()
    extra["is_primary"] = False
    out = pd.concat([proxy, extra[["address", "object_id", "is_primary"]]], ignore_index=True)
    out = out[out["address"].str.contains("@", regex=False)]
    out = out.sort_values("is_primary", ascending=False, kind="stable")
    return out.drop_duplicates(["address", "object_id"]).reset_index(drop=True)


def memberships_frame(state: DirectoryState) -> pd.DataFrame:
    """Direct memberships (``group_id``, ``member_id``) of a state, members of known objects only."""
    known = state.object_ids()
    pairs = [(g, m) for g, mids in state.members.items() if g in state.groups for m in mids if m in known]
    return pd.DataFrame(pairs, columns=["group_id", "member_id"], dtype=object)


def transitive_closure(direct: pd.DataFrame) -> pd.DataFrame:
    """``group_id``/``member_id``/``transitive`` for every member reached through nesting (cycles ok)."""
    edges = direct[["group_id", "member_id"]].drop_duplicates()
    edges = edges[edges["group_id"] != edges["member_id"]]
    closure = edges.assign(transitive=False)
    frontier = edges
    nested = edges[edges["group_id"].isin(set(edges["member_id"]))]  # groups that are members
    while len(frontier):
        step = frontier.merge(nested.rename(columns={"group_id": "via", "member_id": "inner"}),
                              left_on="member_id", right_on="via")
        step = step[["group_id", "inner"]].rename(columns={"inner": "member_id"})
        step = step[step["group_id"] != step["member_id"]].drop_duplicates()
        known = closure[["group_id", "member_id"]]
        new = step.merge(known, how="left", indicator=True)
        new = new[new["_merge"] == "left_only"][["group_id", "member_id"]]
        if not len(new):
            break
        closure = pd.concat([closure, new.assign(transitive=True)], ignore_index=True)
        frontier = new
    # a member reached both directly and through nesting stays marked direct
    return closure.reset_index(drop=True)


class AddressBook:
    """Every address of a tenant resolved to mailbox object ids (see module docstring)."""

    def __init__(
        self,
        tenant_id: str,
        objects: pd.DataFrame,
        addresses: pd.DataFrame,
        memberships: pd.DataFrame,
        domains: Iterable[str] = (),
    ) -> None:
        self.tenant_id = tenant_id
        self.domains = frozenset(d.strip().lower() for d in domains if d and str(d).strip())
        objs = objects.drop(columns=[c for c in ("_proxy",) if c in objects.columns]).copy()
        if "has_mailbox" not in objs.columns:
            rtype = objs["recipient_type"]
            objs["has_mailbox"] = rtype.isin(MAILBOX_TYPES) | (
                rtype.isna() & objs["kind"].eq("user") & objs["mail"].notna()
                & objs["user_type"].ne("Guest"))
        objs["licensed"] = objs["licenses"].fillna("").astype(str).ne("")
        prim_rows = addresses[addresses["is_primary"]].drop_duplicates("object_id")
        prim = prim_rows.set_index("object_id")["address"]
        fallback = objs["mail"].fillna(objs["upn"]).astype(object).str.lower()
        objs["primary_address"] = objs["object_id"].map(prim).fillna(fallback)
        self.objects = objs[list(OBJECT_COLUMNS)].set_index("object_id", drop=False)
        self.addresses = addresses[["address", "object_id", "is_primary"]].reset_index(drop=True)
        if "transitive" in memberships.columns:
            self.memberships = memberships[["group_id", "member_id", "transitive"]].reset_index(drop=True)
        else:
            self.memberships = transitive_closure(memberships)
        self._index()

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_state(cls, state: DirectoryState) -> AddressBook:
        """Build the book from a synced directory (vectorised; no per-address Python loop)."""
        objs = objects_frame(state)
        return cls(state.tenant_id, objs, addresses_frame(objs), memberships_frame(state), state.domains)

    def _index(self) -> None:
        addr = self.addresses
        dup = addr["address"].duplicated(keep=False)
        single = addr[~dup]
        owners: dict[str, tuple[str, ...]] = dict(
            zip(single["address"], zip(single["object_id"]), strict=True))
        multi = addr[dup].groupby("address")["object_id"].agg(sorted)
        owners.update({str(k): tuple(v) for k, v in multi.items()})
        self._owners = owners
        self.conflicts = pd.DataFrame({"address": multi.index, "object_ids": [list(v) for v in multi]},
                                      columns=["address", "object_ids"])
        objs = self.objects
        self._mailboxes = frozenset(objs.index[objs["has_mailbox"].fillna(False).astype(bool)])
        self._groups = frozenset(objs.index[objs["kind"].eq("group")])
        guests = frozenset(objs.index[objs["user_type"].eq("Guest")])
        guest_only = addr[addr["object_id"].isin(guests)]["address"]
        member_owned = set(addr[~addr["object_id"].isin(guests)]["address"])
        self._external_owned = frozenset(set(guest_only) - member_owned)
        m = self.memberships
        m = m[m["member_id"].isin(self._mailboxes)]
        self._group_mailboxes: dict[str, frozenset[str]] = {
            str(g): frozenset(ids) for g, ids in m.groupby("group_id")["member_id"]
        }

    # -- queries -----------------------------------------------------------------------------
    def owners(self, address: str) -> tuple[str, ...]:
        """Object ids that claim ``address`` (several means a conflict)."""
        return self._owners.get(normalize_address(address), ())

    def resolve(self, address: str) -> set[str]:
        """Mailbox object ids an address reaches: an alias its mailbox, a group its member mailboxes."""
        out: set[str] = set()
        for oid in self.owners(address):
            if oid in self._mailboxes:
                out.add(oid)
            elif oid in self._groups:
                out |= self._group_mailboxes.get(oid, frozenset())
        return out

    def mailbox_of(self, address: str) -> str | None:
        """The one mailbox owning ``address`` (alias or primary); None for groups, unknown or ambiguous."""
        boxes = [oid for oid in self.owners(address) if oid in self._mailboxes]
        return boxes[0] if len(boxes) == 1 else None

    def is_internal(self, address: str) -> bool:
        """An address of the tenant (not a guest's outside address) or on a verified domain."""
        a = normalize_address(address)
        if a in self._owners and a not in self._external_owned:
            return True
        return a.rpartition("@")[2] in self.domains

    def members_of(self, group_id: str) -> frozenset[str]:
        """Mailbox ids reached from a group, through nested groups."""
        return self._group_mailboxes.get(group_id, frozenset())

    def executives(self) -> set[str]:
        """Object ids of enabled member users whose job title names an executive role."""
        o = self.objects
        is_exec = o["job_title"].fillna("").astype(str).str.contains(EXECUTIVE_TITLE)
        mask = is_exec & o["kind"].eq("user") & o["user_type"].ne("Guest") & o["account_enabled"].ne(False)
        return set(o.index[mask])

    def display_names(self) -> dict[str, str]:
        """Display name -> primary address of the tenant's people and mailboxes (not guests)."""
        o = self.objects
        o = o[o["has_mailbox"].fillna(False).astype(bool) & o["user_type"].ne("Guest")]
        o = o.dropna(subset=["display_name", "primary_address"])
        return dict(zip(o["display_name"].astype(str), o["primary_address"].astype(str), strict=True))

    def detection_context_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``mailwarden.detection.DetectionContext`` from this book."""
        execs = self.objects.loc[sorted(self.executives()), "display_name"].dropna()
        return {
            "tenant_domains": frozenset(self.domains),
            "internal_addresses": frozenset(set(self._owners) - self._external_owned),
            "internal_display_names": self.display_names(),
            "executives": frozenset(execs.astype(str)),
        }

    def __len__(self) -> int:
        return len(self._owners)

    def __repr__(self) -> str:
        return (f"AddressBook(tenant_id={self.tenant_id!r}, objects={len(self.objects)}, "
                f"addresses={len(self._owners)}, conflicts={len(self.conflicts)})")

    def to_csv_frame(self) -> pd.DataFrame:
        """One row per (address, object): what an operator exports."""
        cols = ["object_id", "kind", "display_name", "recipient_type"]
        out = self.addresses.merge(self.objects[cols].reset_index(drop=True), on="object_id", how="left")
        return out.sort_values(["address", "object_id"]).reset_index(drop=True)

    # -- store -------------------------------------------------------------------------------
    def save(self, session: Session, *, raw: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
        """Replace the tenant's directory tables with this book (``save_directory``, same transaction)."""
        from mailwarden.store.repositories import save_directory

        raw = raw or {}
        o = self.objects
        cols = ["object_id", "kind", "display_name", "upn", "mail", "recipient_type", "account_enabled",
                "user_type", "licensed", "location"]
        records = o[cols].astype(object).where(o[cols].notna(), None).to_dict("records")
        for rec in records:
            rec["raw"] = raw.get(rec["object_id"])
        addresses = cast(list[dict[str, Any]], self.addresses.to_dict("records"))
        memberships = cast(list[dict[str, Any]], self.memberships.to_dict("records"))
        return save_directory(session, self.tenant_id, cast(list[dict[str, Any]], records), addresses,
                              memberships)

    @classmethod
    def load(cls, session: Session, tenant_id: str) -> AddressBook:
        """The book as last saved for the tenant (directory tables + the latest snapshot's domains).

        Raises ``LookupError`` when the tenant has no complete snapshot yet.
        """
        from mailwarden.directory.persist import load_state

        state = load_state(session, tenant_id)
        if state is None:
            raise LookupError(f"no directory snapshot for tenant {tenant_id}: run reconcile-licenses first")
        return cls.from_state(state)
